//! Applying a [`Finalize`] plan from `mp4-track` to a file, step by step, in order.

use std::fs::File;
use std::os::unix::fs::FileExt;

use mp4_track::{Finalize, FinalizeStep};

/// Applies `plan` to `file`: each `Write` with a positioned write, each `Sync` with
/// `sync_data`, each `SetLen` with `set_len`, in the plan's order (which its crash safety
/// depends on). Stops at the first error; the file is then in one of the states the plan
/// documents as safe only up to the last completed `Sync`.
pub fn apply_finalize(file: &File, plan: &Finalize) -> std::io::Result<()> {
    for step in &plan.steps {
        apply_step(file, step)?;
    }
    Ok(())
}

/// Applies one step of a plan.
pub fn apply_step(file: &File, step: &FinalizeStep) -> std::io::Result<()> {
    match step {
        FinalizeStep::Write(patch) => file.write_all_at(&patch.bytes, patch.offset),
        FinalizeStep::Sync => file.sync_data(),
        FinalizeStep::SetLen(len) => file.set_len(*len),
    }
}

/// Test-only pause point (debug builds only; release builds compile it out):
/// `RECORDER_TEST_PAUSE_FINALIZE=after-step-N` makes the finalization of a recorded file
/// stop after its first `N` plan steps, create `NAME.partial.paused` beside the file, and
/// sleep 60 s before going on, so that a test can `kill -9` the recorder exactly in the
/// middle of a finalization (`tests/tests/kill_mid_finalize.rs`).
pub const PAUSE_FINALIZE_VAR: &str = "RECORDER_TEST_PAUSE_FINALIZE";

/// Runs the [`PAUSE_FINALIZE_VAR`] pause point after `steps_done` steps of the plan
/// finalizing `partial`.
pub fn pause_point(partial: &std::path::Path, steps_done: usize) {
    #[cfg(debug_assertions)]
    {
        use std::sync::OnceLock;
        static AFTER: OnceLock<Option<usize>> = OnceLock::new();
        let after = AFTER.get_or_init(|| {
            std::env::var(PAUSE_FINALIZE_VAR)
                .ok()?
                .strip_prefix("after-step-")?
                .parse()
                .ok()
        });
        if *after == Some(steps_done) {
            let mut marker = partial.as_os_str().to_owned();
            marker.push(".paused");
            tracing::debug!("{PAUSE_FINALIZE_VAR}: paused after step {steps_done}");
            if let Err(e) = std::fs::write(&marker, b"") {
                tracing::warn!("{PAUSE_FINALIZE_VAR}: cannot create the marker: {e}");
            }
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (partial, steps_done, PAUSE_FINALIZE_VAR);
}

/// Test-only pause point (debug builds only; release builds compile it out):
/// `RECORDER_TEST_PAUSE_CATALOG=1` makes the first file a process finishes stop right
/// after its rename to the final name, before its `Finished` event reaches the catalog,
/// create `NAME.paused` beside it, and sleep 60 s before going on, so that a test can
/// `kill -9` the recorder between a file and its catalog row
/// (`tests/tests/kill_before_row.rs`).
pub const PAUSE_CATALOG_VAR: &str = "RECORDER_TEST_PAUSE_CATALOG";

/// Runs the [`PAUSE_CATALOG_VAR`] pause point for `path`, just renamed into place.
pub fn pause_before_catalog(path: &std::path::Path) {
    #[cfg(debug_assertions)]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        static PAUSED: AtomicBool = AtomicBool::new(false);
        if std::env::var_os(PAUSE_CATALOG_VAR).is_some_and(|v| v == "1")
            && !PAUSED.swap(true, Ordering::SeqCst)
        {
            let mut marker = path.as_os_str().to_owned();
            marker.push(".paused");
            tracing::debug!(
                "{PAUSE_CATALOG_VAR}: paused after renaming {}",
                path.display()
            );
            if let Err(e) = std::fs::write(&marker, b"") {
                tracing::warn!("{PAUSE_CATALOG_VAR}: cannot create the marker: {e}");
            }
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (path, PAUSE_CATALOG_VAR);
}
