//! `recorder repair FILE`: finishes a recording left by a crash, in place (see
//! [`crate::output::repair`]).

use std::path::Path;

use crate::output::repair::repair_file;

/// Repairs and prints a one-paragraph summary.
pub fn run(path: &Path) -> anyhow::Result<()> {
    let report = repair_file(path)?;
    #[allow(clippy::print_stdout)]
    {
        println!("{report}");
    }
    Ok(())
}
