//! Where and how a camera's files are written: the name template, the time zone of its
//! fields, the format and the sync policy; and the repair of what an earlier run left.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jiff::tz::TimeZone;

use crate::output::format::{OutputFormat, SyncPolicy};
use crate::output::template::Template;

/// Where and how files are written.
#[derive(Clone, Debug)]
pub struct Output {
    /// The output name template.
    pub template: Template,
    tz: TimeZone,
    /// What files become at a clean close.
    pub format: OutputFormat,
    /// When files are synced.
    pub sync: SyncPolicy,
}

impl Output {
    /// Parses the output template (fields in UTC with `utc`, else local time) and checks,
    /// before connecting, that its directory can be created and written.
    pub fn new(
        output: &Path,
        utc: bool,
        format: OutputFormat,
        sync: SyncPolicy,
    ) -> anyhow::Result<Self> {
        let template = Template::parse(output)?;
        let tz = if utc {
            TimeZone::UTC
        } else {
            TimeZone::try_system().unwrap_or_else(|e| {
                tracing::warn!("cannot find the local time zone ({e}); using UTC");
                TimeZone::UTC
            })
        };
        let now = jiff::Timestamp::now();
        let first = template.render(now, &tz)?;
        if template.has_fields() {
            tracing::debug!(
                "output template; a file starting now would be {}",
                first.display()
            );
        }
        if let Some(dir) = first.parent() {
            crate::output::file::prepare_output_dir(dir)?;
        }
        Ok(Self {
            template,
            tz,
            format,
            sync,
        })
    }

    /// The name of a file whose first sample arrived at `at`.
    pub fn path_at(&self, at: SystemTime) -> anyhow::Result<PathBuf> {
        let at = jiff::Timestamp::try_from(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        self.template.render(at, &self.tz)
    }

    /// Repairs the `.partial` files an earlier run with the same template left behind (a
    /// crash, a power cut); one that cannot be repaired is left alone with a warning.
    pub fn repair_leftovers(&self) {
        for path in self.template.find_leftovers() {
            tracing::info!("found a leftover {}; repairing it", path.display());
            match crate::output::repair::repair_file(&path) {
                Ok(report) => tracing::info!("{report}"),
                Err(e) => tracing::warn!("leaving {} alone: {e:#}", path.display()),
            }
        }
    }
}
