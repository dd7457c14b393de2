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
