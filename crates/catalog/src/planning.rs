//! [`Catalog`]'s retention plans: the pure [`retention`](crate::retention) rules over as
//! few rows as they need.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::catalog::Catalog;
use crate::error::Error;
use crate::query::OLDEST_OF_CAMERA;
use crate::record::FileRecord;
use crate::retention::{self, CameraPlanner, Deletion, Policy};
use crate::row;
use crate::time::WallTime;

impl Catalog {
    /// One camera's deletions under `policy` at `now`: the same as
    /// [`retention::plan`] over all its files, but it reads only the files it deletes
    /// (plus one) and takes the camera's total from the per-camera table.
    pub fn plan_retention(
        &self,
        camera: &str,
        policy: Policy,
        now: WallTime,
    ) -> Result<Vec<Deletion>, Error> {
        if policy.retain_for.is_none() && policy.retain_size.is_none() {
            return Ok(Vec::new());
        }
        // One read transaction, so the totals and the rows agree.
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let files = self.camera_files(camera)?;
        let mut planner = CameraPlanner::new(policy, now, self.camera_bytes(camera)?);
        let mut out = Vec::new();
        {
            let sql = format!("SELECT {} FROM file {OLDEST_OF_CAMERA}", row::COLUMNS);
            let mut stmt = tx.prepare_cached(&sql).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(rusqlite::params![camera, i64::MAX], row::read)
                .map_err(|e| self.err(e))?;
            for (i, record) in rows.enumerate() {
                let record = record.map_err(|e| self.err(e))?;
                match planner.next(&record, i as u64 + 1 >= files) {
                    Some(deletion) => out.push(deletion),
                    None => break,
                }
            }
        }
        tx.finish().map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// The deletions that free `bytes_needed`, oldest first across cameras: the same as
    /// [`retention::plan_free`] over all files, reading only the files it deletes (plus one
    /// per camera): the cameras' oldest files are merged as they are read.
    pub fn plan_free(&self, bytes_needed: u64) -> Result<Vec<Deletion>, Error> {
        if bytes_needed == 0 {
            return Ok(Vec::new());
        }
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let names = self.camera_names()?;
        let sql = format!("SELECT {} FROM file {OLDEST_OF_CAMERA}", row::COLUMNS);
        let mut stmts = Vec::with_capacity(names.len());
        for _ in &names {
            stmts.push(tx.prepare(&sql).map_err(|e| self.err(e))?);
        }
        let mut cursors = Vec::with_capacity(names.len());
        for (stmt, name) in stmts.iter_mut().zip(&names) {
            let rows = stmt
                .query_map(rusqlite::params![name, i64::MAX], row::read)
                .map_err(|e| self.err(e))?;
            cursors.push(rows);
        }
        let mut heads = BinaryHeap::with_capacity(cursors.len());
        for (i, cursor) in cursors.iter_mut().enumerate() {
            if let Some(record) = cursor.next() {
                heads.push(Reverse(Head(record.map_err(|e| self.err(e))?, i)));
            }
        }
        let mut taken = Vec::new();
        let mut freed = 0u64;
        while freed < bytes_needed {
            let Some(Reverse(Head(record, i))) = heads.pop() else {
                break;
            };
            if let Some(next) = cursors[i].next() {
                heads.push(Reverse(Head(next.map_err(|e| self.err(e))?, i)));
            }
            freed = freed.saturating_add(record.size_bytes);
            taken.push(record);
        }
        drop(cursors);
        drop(stmts);
        tx.finish().map_err(|e| self.err(e))?;
        Ok(retention::plan_free(&taken, bytes_needed))
    }
}

/// A camera's next oldest file, ordered by end, start, then path.
struct Head(FileRecord, usize);

impl Head {
    fn key(&self) -> (WallTime, WallTime, &std::path::Path) {
        (self.0.end, self.0.start, &self.0.path)
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Head) -> Ordering {
        self.key().cmp(&other.key())
    }
}
