//! What the archive needs to know of a `recorder run` configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use catalog::retention::{MinFree, Policy};

use crate::camera::config::CameraConfig;
use crate::output::template::Template;

/// The catalog's file name when the configuration does not name it.
pub const DEFAULT_CATALOG_NAME: &str = "recorder-catalog.sqlite3";

/// How often retention runs at least (it also runs when a file is finished).
pub const RETENTION_PERIOD: Duration = Duration::from_secs(60);

/// One camera, as the archive sees it.
#[derive(Clone, Debug)]
pub struct CameraArchive {
    /// Its name.
    pub name: String,
    /// Its output template: where its files are.
    pub template: Template,
    /// Its retention limits.
    pub policy: Policy,
}

/// The archive of a run.
#[derive(Clone, Debug)]
pub struct ArchiveSettings {
    /// The catalog's path.
    pub catalog: PathBuf,
    /// `[storage] min_free`.
    pub min_free: Option<MinFree>,
    /// The cameras.
    pub cameras: Vec<CameraArchive>,
}

impl ArchiveSettings {
    /// The archive of `cameras`, with the catalog at `catalog` or, by default, beside the
    /// recordings: in the deepest directory that every camera's files lie in.
    pub fn new(
        catalog: Option<PathBuf>,
        min_free: Option<MinFree>,
        cameras: &[CameraConfig],
    ) -> anyhow::Result<Self> {
        let cameras = cameras
            .iter()
            .map(|c| {
                Ok(CameraArchive {
                    name: c.name.clone().unwrap_or_default(),
                    template: Template::parse(&c.output)?,
                    policy: Policy {
                        retain_for: c.retain_for,
                        retain_size: c.retain_size,
                    },
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let catalog = catalog.unwrap_or_else(|| {
            common_dir(cameras.iter().map(|c| c.template.fixed_dir())).join(DEFAULT_CATALOG_NAME)
        });
        Ok(Self {
            catalog,
            min_free,
            cameras,
        })
    }

    /// The camera called `name`.
    pub fn camera(&self, name: &str) -> Option<&CameraArchive> {
        self.cameras.iter().find(|c| c.name == name)
    }
}

/// The deepest directory that holds all of `dirs` (the current directory, empty, when
/// they share none or mix relative and absolute paths).
pub fn common_dir(dirs: impl Iterator<Item = PathBuf>) -> PathBuf {
    let mut common: Option<PathBuf> = None;
    for dir in dirs {
        common = Some(match common {
            None => dir,
            Some(c) => c
                .components()
                .zip(dir.components())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    common.unwrap_or_default()
}

/// `path` shown relative to nothing: as given, `.` for the empty path.
pub fn shown(path: &Path) -> String {
    if path.as_os_str().is_empty() {
        ".".to_owned()
    } else {
        path.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_goes_where_every_camera_records() {
        let dirs = |list: &[&str]| {
            list.iter()
                .map(PathBuf::from)
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert_eq!(
            common_dir(dirs(&["/srv/rec/front", "/srv/rec/yard"])),
            PathBuf::from("/srv/rec")
        );
        assert_eq!(
            common_dir(dirs(&["/srv/rec/front"])),
            PathBuf::from("/srv/rec/front")
        );
        assert_eq!(common_dir(dirs(&["rec/a", "/srv/b"])), PathBuf::new());
        assert_eq!(common_dir(dirs(&[])), PathBuf::new());
    }
}
