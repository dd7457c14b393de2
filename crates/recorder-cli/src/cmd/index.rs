//! `recorder index --config F [--rebuild]`: the catalog brought up to date with the files.

use crate::archive::keeper::Archive;
use crate::archive::settings::{ArchiveSettings, shown};
use crate::options::args::IndexArgs;

/// Reconciles (or rebuilds) the catalog and prints what changed.
pub fn run(args: &IndexArgs) -> anyhow::Result<()> {
    let config = crate::options::file::load(&args.config, None)?;
    let settings = ArchiveSettings::new(config.catalog, config.min_free, &config.cameras)?;
    let archive = Archive::open(settings, args.rebuild)?;
    let r = archive.reconcile()?;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "catalog {}: {} file(s); {} added from disk, {} dropped (file gone), {} skipped",
            shown(&archive.settings.catalog),
            r.files,
            r.added,
            r.removed,
            r.skipped
        );
    }
    Ok(())
}
