//! `recorder prune --config F [--dry-run]`: retention applied at once.

use crate::archive::keeper::Archive;
use crate::archive::settings::ArchiveSettings;
use crate::options::args::PruneArgs;

/// Applies retention (or, with `--dry-run`, shows what it would delete) and prints a line
/// per file.
pub fn run(args: &PruneArgs) -> anyhow::Result<()> {
    let config = crate::options::file::load(&args.config, None)?;
    let settings = ArchiveSettings::new(config.catalog, config.min_free, &config.cameras)?;
    let archive = Archive::open(settings, false)?;
    archive.reconcile()?;
    let pruned = archive.prune(None, args.dry_run)?;
    let mut out = String::new();
    let mut freed = 0u64;
    for p in &pruned {
        let what = match p.outcome {
            None => "would delete",
            Some(crate::archive::disk::Deleted::Locked) => "in use, kept",
            Some(_) => {
                freed += p.size_bytes;
                "deleted"
            }
        };
        out.push_str(&format!(
            "{what} {} ({}, {} bytes): {}\n",
            p.path.display(),
            p.camera,
            p.size_bytes,
            p.reason
        ));
    }
    out.push_str(&format!(
        "{} file(s){}, {freed} bytes freed\n",
        pruned.len(),
        if args.dry_run {
            " to delete (dry run)"
        } else {
            ""
        }
    ));
    #[allow(clippy::print_stdout)]
    {
        print!("{out}");
    }
    Ok(())
}
