//! The catalog's keeper: opens (or rebuilds) the catalog, reconciles it with the disk,
//! adds each finished file as its event comes, and applies retention when a file is
//! finished and at least every [`RETENTION_PERIOD`]. It runs on a thread of its own, so
//! recording never waits on the database: an event that cannot be written is kept and
//! written later.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, mpsc};
use std::time::{Instant, SystemTime};

use anyhow::Context;
use catalog::retention::Reason;
use catalog::{Catalog, FileRecord, WallTime};
use tokio::sync::broadcast;

use crate::archive::disk::{self, Deleted};
use crate::archive::settings::{ArchiveSettings, RETENTION_PERIOD, shown};
use crate::output::events::FileEvent;
use crate::output::space::Reclaim;
use crate::ui::exit::Usage;

/// Finished files kept in memory while the catalog cannot be written.
const MAX_PENDING: usize = 100_000;

/// Files read per batch when freeing space.
const FREE_BATCH: usize = 256;

/// The catalog and what it is kept for.
pub struct Archive {
    catalog: Mutex<Catalog>,
    /// The settings it was opened with.
    pub settings: ArchiveSettings,
    /// Where retention's deletions are counted (`recorder run` with HTTP).
    metrics: OnceLock<Arc<http_api::Metrics>>,
    /// Finished files not yet written to the catalog, and since when the oldest waits.
    lag: Mutex<(u64, Option<Instant>)>,
}

/// What [`Archive::reconcile`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Files found on disk and added.
    pub added: usize,
    /// Rows whose file is gone, dropped.
    pub removed: usize,
    /// Files on disk that could not be read as recordings (skipped with a warning).
    pub skipped: usize,
    /// Rows in the catalog afterwards.
    pub files: usize,
}

/// A deletion retention made, or would make.
#[derive(Clone, Debug, PartialEq)]
pub struct Pruned {
    /// The camera.
    pub camera: String,
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub size_bytes: u64,
    /// Why.
    pub reason: String,
    /// What happened to it (`None`: a dry run).
    pub outcome: Option<Deleted>,
}

impl Archive {
    /// Opens the catalog at `settings.catalog`, creating it and its directory if needed.
    /// A damaged database is moved aside (one warning) and a new one is made, to be filled
    /// from the files by [`Self::reconcile`]; with `rebuild`, an existing one is replaced
    /// as well. A catalog that cannot be created is a [`Usage`] error naming the key.
    pub fn open(settings: ArchiveSettings, rebuild: bool) -> anyhow::Result<Arc<Self>> {
        let path = settings.catalog.clone();
        let unusable = |e: &dyn std::fmt::Display| {
            anyhow::Error::new(Usage(format!(
                "key \"catalog\": cannot use {}: {e}",
                shown(&path)
            )))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| unusable(&e))?;
        }
        if rebuild {
            remove_database(&path).map_err(|e| unusable(&e))?;
        }
        let catalog = match Catalog::open(&path) {
            Ok(c) => c,
            Err(e) if e.is_corrupt() => {
                let aside = aside_name(&path);
                tracing::warn!(
                    "catalog {} is damaged ({e}); moved it to {} and rebuilding it from the \
                     files",
                    shown(&path),
                    aside.display()
                );
                std::fs::rename(&path, &aside).map_err(|e| unusable(&e))?;
                remove_database(&path).map_err(|e| unusable(&e))?;
                Catalog::open(&path).map_err(|e| unusable(&e))?
            }
            Err(e) => return Err(unusable(&e)),
        };
        Ok(Arc::new(Self {
            catalog: Mutex::new(catalog),
            settings,
            metrics: OnceLock::new(),
            lag: Mutex::new((0, None)),
        }))
    }

    /// Counts retention's deletions in `metrics` from now on.
    pub fn set_metrics(&self, metrics: Arc<http_api::Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    /// Finished files not yet written to the catalog, and how long the oldest has
    /// waited.
    pub fn lag(&self) -> http_api::CatalogLag {
        let lag = *self.lag.lock().unwrap_or_else(PoisonError::into_inner);
        http_api::CatalogLag {
            pending_files: lag.0,
            oldest: lag.1.map(|since| since.elapsed()),
        }
    }

    /// The catalog, locked.
    pub fn catalog(&self) -> MutexGuard<'_, Catalog> {
        self.catalog.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the catalog agree with the disk: each camera's finished files that it lacks
    /// (recorded while it was unreachable, repaired leftovers, a rebuild) are read and
    /// added; rows whose file is gone are dropped.
    pub fn reconcile(&self) -> anyhow::Result<Reconciled> {
        let mut r = Reconciled::default();
        let known: Vec<(String, PathBuf)> = self.catalog().paths()?;
        let gone: Vec<&PathBuf> = known
            .iter()
            .map(|(_, p)| p)
            .filter(|p| !p.exists())
            .collect();
        r.removed = self.catalog().remove_many(gone)?;
        let known: std::collections::HashSet<&Path> =
            known.iter().map(|(_, p)| p.as_path()).collect();
        let mut found = Vec::new();
        for camera in &self.settings.cameras {
            for path in camera.template.find_recordings() {
                if known.contains(path.as_path()) {
                    continue;
                }
                match disk::record_from_disk(&camera.name, &path) {
                    Ok(rec) => found.push(rec),
                    Err(e) => {
                        r.skipped += 1;
                        tracing::warn!("catalog: skipping {}: {e:#}", path.display());
                    }
                }
            }
        }
        r.added = found.len();
        disk::link(&mut found);
        self.catalog().upsert_many(&found)?;
        r.files = self
            .catalog()
            .cameras()?
            .iter()
            .map(|c| c.files as usize)
            .sum();
        Ok(r)
    }

    /// Applies retention now (or, with `dry_run`, says what it would delete): each
    /// camera's `retain_for` and `retain_size` (only `only`'s with `Some`), then
    /// `min_free` on each output file system, oldest files of all cameras first. Every
    /// deletion is logged with its reason.
    pub fn prune(&self, only: Option<&str>, dry_run: bool) -> anyhow::Result<Vec<Pruned>> {
        let now = WallTime::now();
        let mut out = Vec::new();
        for camera in &self.settings.cameras {
            if only.is_some_and(|o| o != camera.name) {
                continue;
            }
            let plan = self
                .catalog()
                .plan_retention(&camera.name, camera.policy, now)?;
            for d in plan {
                out.push(self.apply(d.camera, d.path, d.size_bytes, d.reason, dry_run));
            }
        }
        if let Some(min_free) = self.settings.min_free {
            out.extend(self.free_space(min_free, dry_run)?);
        }
        Ok(out)
    }

    /// Deletes the oldest files on each output file system below `min_free`.
    fn free_space(
        &self,
        min_free: catalog::retention::MinFree,
        dry_run: bool,
    ) -> anyhow::Result<Vec<Pruned>> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for camera in &self.settings.cameras {
            let dir = camera.template.fixed_dir();
            let Some(dev) = disk::device(&dir) else {
                continue;
            };
            if seen.contains(&dev) {
                continue;
            }
            seen.push(dev);
            let (total, available) = disk::space(&dir)
                .with_context(|| format!("cannot read the free space of {}", shown(&dir)))?;
            let needed = min_free.bytes_needed(total, available);
            if needed == 0 {
                continue;
            }
            out.extend(self.delete_oldest(dev, needed, dry_run)?);
        }
        Ok(out)
    }

    /// True when retention is configured: `[storage] min_free`, or a camera's
    /// `retain_for` or `retain_size`. Only then does a full disk delete old recordings
    /// ([`Reclaim`]): without, the owner has not agreed to lose any.
    pub fn retention_configured(&self) -> bool {
        self.settings.min_free.is_some()
            || self
                .settings
                .cameras
                .iter()
                .any(|c| c.policy.retain_for.is_some() || c.policy.retain_size.is_some())
    }

    /// Deletes the oldest files of all cameras on device `dev` until `needed` bytes are
    /// freed (or, with `dry_run`, says which); files in use are skipped and not counted.
    fn delete_oldest(&self, dev: u64, needed: u64, dry_run: bool) -> anyhow::Result<Vec<Pruned>> {
        let mut out = Vec::new();
        let mut freed = 0u64;
        let mut skip = std::collections::HashSet::new();
        'batches: loop {
            let batch = self.catalog().oldest(None, FREE_BATCH + skip.len())?;
            let candidates: Vec<FileRecord> = batch
                .into_iter()
                .filter(|f| !skip.contains(&f.path))
                .collect();
            if candidates.is_empty() {
                break;
            }
            for f in candidates {
                if freed >= needed {
                    break 'batches;
                }
                skip.insert(f.path.clone());
                if disk::device(&f.path).is_some_and(|d| d != dev) {
                    continue;
                }
                let reason = Reason::FreeSpace {
                    bytes_needed: needed,
                };
                let pruned = self.apply(f.camera, f.path, f.size_bytes, reason, dry_run);
                if dry_run || matches!(pruned.outcome, Some(Deleted::Yes | Deleted::Gone)) {
                    freed += pruned.size_bytes;
                }
                out.push(pruned);
            }
        }
        Ok(out)
    }

    /// Deletes one file (unless `dry_run`) and its row, and logs it.
    fn apply(
        &self,
        camera: String,
        path: PathBuf,
        size_bytes: u64,
        reason: Reason,
        dry_run: bool,
    ) -> Pruned {
        let reason = reason.to_string();
        let mut outcome = None;
        if !dry_run {
            let stop = self
                .settings
                .camera(&camera)
                .map_or_else(PathBuf::new, |c| c.template.fixed_dir());
            match disk::delete(&path, &stop) {
                Ok(Deleted::Locked) => {
                    tracing::info!(
                        "retention: {} is in use; keeping it for now",
                        path.display()
                    );
                    outcome = Some(Deleted::Locked);
                }
                Ok(d) => {
                    tracing::info!(
                        "retention: deleted {} ({camera}, {size_bytes} bytes): {reason}",
                        path.display()
                    );
                    if let (Deleted::Yes, Some(m)) = (&d, self.metrics.get()) {
                        m.retention_deletions.inc();
                        m.retention_freed_bytes.inc_by(size_bytes);
                    }
                    if let Err(e) = self.catalog().remove(&path) {
                        tracing::warn!("catalog: cannot drop {}: {e}", path.display());
                    }
                    outcome = Some(d);
                }
                Err(e) => tracing::warn!("retention: cannot delete {}: {e}", path.display()),
            }
        }
        Pruned {
            camera,
            path,
            size_bytes,
            reason,
            outcome,
        }
    }
}

/// A full disk while recording: the oldest files of all cameras on that file system go
/// at once (only when [`Archive::retention_configured`]: `recorder run` passes the hook
/// only then), as `min_free` would delete them, whether or not `min_free` is set.
impl Reclaim for Archive {
    fn reclaim(&self, dir: &Path, bytes: u64) -> u64 {
        let Some(dev) = disk::device(dir) else {
            return 0;
        };
        match self.delete_oldest(dev, bytes, false) {
            Ok(pruned) => pruned
                .iter()
                .filter(|p| p.outcome == Some(Deleted::Yes))
                .map(|p| p.size_bytes)
                .sum(),
            Err(e) => {
                tracing::warn!("retention: cannot free space on a full disk: {e:#}");
                0
            }
        }
    }
}

/// Where a damaged catalog is moved: `NAME.damaged-<unix seconds>`.
fn aside_name(path: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".damaged-{secs}"));
    PathBuf::from(name)
}

/// Removes a database and its WAL files, if present.
fn remove_database(path: &Path) -> std::io::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(PathBuf::from(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The keeper's thread, while it runs.
pub struct Keeper {
    thread: std::thread::JoinHandle<()>,
    forward: tokio::task::JoinHandle<()>,
}

impl Keeper {
    /// Starts keeping `archive` from `events` (call within a tokio runtime).
    pub fn spawn(archive: Arc<Archive>, mut events: broadcast::Receiver<FileEvent>) -> Self {
        let (tx, rx) = mpsc::channel::<FileEvent>();
        // The thread waits with a timeout (for the periodic retention), which a broadcast
        // receiver cannot do outside a runtime: a task hands the events over.
        let forward = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(e) => {
                        if tx.send(e).is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(
                            "catalog: missed {n} file event(s); the next start reconciles"
                        );
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        let thread = std::thread::Builder::new()
            .name("catalog".to_owned())
            .spawn(move || keep(&archive, &rx))
            .expect("a thread can be started");
        Self { thread, forward }
    }

    /// Waits for the keeper to write what it has (call after every writer has finished:
    /// once the events' senders are gone, the thread ends).
    pub async fn stop(self) {
        let _ = self.forward.await;
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }
}

/// The keeper's loop.
fn keep(archive: &Archive, rx: &mpsc::Receiver<FileEvent>) {
    let mut pending: Vec<FileRecord> = Vec::new();
    loop {
        let event = rx.recv_timeout(RETENTION_PERIOD);
        let camera = match event {
            Ok(FileEvent::Finished(f)) => {
                let rec = disk::record_from_event(&f)
                    .map_or_else(|| disk::record_from_disk(&f.camera, &f.path), Ok);
                match rec {
                    Ok(rec) => pending.push(rec),
                    Err(e) => tracing::warn!("catalog: cannot read {}: {e:#}", f.path.display()),
                }
                Some(f.camera.to_string())
            }
            Ok(FileEvent::Failed {
                kept: Some(kept), ..
            }) => {
                match disk::record_from_disk(&kept.camera, &kept.path) {
                    Ok(rec) => pending.push(rec),
                    Err(e) => {
                        tracing::warn!("catalog: cannot read {}: {e:#}", kept.path.display());
                    }
                }
                Some(kept.camera.to_string())
            }
            Ok(_) => continue,
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                flush(archive, &mut pending);
                return;
            }
        };
        flush(archive, &mut pending);
        let result = match &camera {
            Some(c) => archive.prune(Some(c), false),
            None => archive.prune(None, false),
        };
        if let Err(e) = result {
            tracing::warn!("retention: {e:#}");
        }
    }
}

/// Writes the pending rows; on failure keeps them (at most [`MAX_PENDING`]) for later.
fn flush(archive: &Archive, pending: &mut Vec<FileRecord>) {
    if pending.is_empty() {
        return;
    }
    let result = archive.catalog().upsert_many(pending);
    {
        let mut lag = archive.lag.lock().unwrap_or_else(PoisonError::into_inner);
        *lag = match &result {
            Ok(()) => (0, None),
            Err(_) => (pending.len() as u64, lag.1.or_else(|| Some(Instant::now()))),
        };
    }
    match result {
        Ok(()) => pending.clear(),
        Err(e) => {
            tracing::warn!(
                "catalog: cannot write {} file(s) ({e}); retrying later",
                pending.len()
            );
            if pending.len() > MAX_PENDING {
                let drop = pending.len() - MAX_PENDING;
                pending.drain(..drop);
                tracing::warn!("catalog: {drop} file(s) left for the next start to find");
            }
        }
    }
}
