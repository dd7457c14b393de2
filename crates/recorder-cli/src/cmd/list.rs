//! `recorder list --config F [--camera NAME] [--from T] [--to T] [--json] [--files]`.

use catalog::WallTime;

use crate::archive::keeper::Archive;
use crate::archive::listing::{self, parse_time};
use crate::archive::settings::ArchiveSettings;
use crate::options::args::ListArgs;
use crate::ui::exit::Usage;

/// Prints the spans and gaps (and files) of the catalog's recordings.
pub fn run(args: &ListArgs) -> anyhow::Result<()> {
    let config = crate::options::file::load(&args.config, None)?;
    let settings = ArchiveSettings::new(config.catalog, config.min_free, &config.cameras)?;
    let now = WallTime::now();
    let time = |t: &Option<String>, flag: &str| -> anyhow::Result<Option<WallTime>> {
        t.as_deref()
            .map(|t| parse_time(t, now).map_err(|e| Usage(format!("--{flag}: {e}")).into()))
            .transpose()
    };
    let (from, to) = (time(&args.from, "from")?, time(&args.to, "to")?);
    let cameras: Vec<String> = match &args.camera {
        Some(name) => {
            if settings.camera(name).is_none() {
                return Err(
                    Usage(format!("--camera: no camera {name:?} in the configuration")).into(),
                );
            }
            vec![name.clone()]
        }
        None => settings.cameras.iter().map(|c| c.name.clone()).collect(),
    };
    let archive = Archive::open(settings, false)?;
    let found = listing::list(&archive.catalog(), Some(&cameras), from, to)?;
    let out = if args.json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&listing::json(&found, args.files))?
        )
    } else {
        listing::text(&found, args.files)
    };
    #[allow(clippy::print_stdout)]
    {
        print!("{out}");
    }
    Ok(())
}
