//! `recorder verify FILE`: checks a file's own consistency (see [`crate::mp4::check`]).

use std::path::Path;

use anyhow::Context;

use crate::mp4::check::check_path;

/// Prints `ok: <summary>` or fails with the reason.
pub fn run(path: &Path) -> anyhow::Result<()> {
    let checked =
        check_path(path).with_context(|| format!("{} is inconsistent", path.display()))?;
    #[allow(clippy::print_stdout)]
    {
        println!("ok: {checked}");
    }
    Ok(())
}
