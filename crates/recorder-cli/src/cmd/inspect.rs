//! `recorder inspect FILE`: the box tree and a per-track summary (see
//! [`crate::mp4::inspect`]).

use std::path::Path;

use anyhow::Context;

use crate::mp4::inspect::inspect;

/// Prints the report.
pub fn run(path: &Path) -> anyhow::Result<()> {
    let report = inspect(path).with_context(|| format!("cannot inspect {}", path.display()))?;
    #[allow(clippy::print_stdout)]
    {
        print!("{report}");
    }
    Ok(())
}
