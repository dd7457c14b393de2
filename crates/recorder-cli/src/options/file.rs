//! `recorder run --config FILE`: the cameras' TOML configuration, checked as a whole before
//! anything starts.
//!
//! ```toml
//! [http]                          # optional: serve the HTTP API (see http_api::Config)
//! listen = "127.0.0.1:8080"       # not loopback: users required
//! users = [{ name = "ana", password_hash = "$argon2id$..." }]  # recorder hash-password
//! max_exports = 4
//!
//! [defaults]                      # optional: any key below but name and url
//! segment_duration = "10m"
//!
//! [[camera]]
//! name = "front"                  # unique, non-empty, no '/'; {name} in output templates
//! url = "rtsp://10.0.0.5/stream1" # credentials may be inline or in the keys below
//! output = "/srv/rec/{name}/%Y-%m-%d/%H-%M-%S.mp4"
//! # optional: username, password_file, password_env, transport, segment_duration, format,
//! # fragment_duration, sync, audio, video, stall_timeout, max_timestamp_jump, max_retries, utc,
//! # initial_timestamp, teardown, on_loss, audio_format, allow_loss (accepted, ignored)
//! ```
//!
//! The file is deserialized with serde: the file's two tables, then each camera's `name`
//! and `url` ([`Identity`]) and its options ([`CameraOptions`], shared with `recorder
//! record`'s flags), key by key through [`de::from_table`] so that every error names the
//! camera and the key:
//! `config cameras.toml: camera "front": key "segment_duration": invalid duration "10q"`.
//! Unknown keys are errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::anyhow;
use catalog::retention::MinFree;
use serde::Deserialize;
use toml::Table;

use crate::camera::config::CameraConfig;
use crate::options::camera::{CameraOptions, Invocation};
use crate::options::credentials::{PasswordSources, read_password_file, resolve_credentials};
use crate::options::de::{self, KeyError, from_table};
use crate::output::template::Template;
use crate::ui::exit::Usage;

/// The file: `catalog`, `[storage]`, `[http]`, `[defaults]` and the `[[camera]]` tables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// Where the catalog of recordings is (default: beside the recordings).
    #[serde(default, deserialize_with = "de::path")]
    catalog: Option<PathBuf>,
    /// Settings of the output file systems.
    #[serde(default)]
    storage: Option<Table>,
    /// The HTTP API (`http_api::Config`, defined there once).
    #[serde(default)]
    http: Option<Table>,
    /// Options for every camera.
    #[serde(default)]
    defaults: Option<Table>,
    /// The cameras.
    #[serde(default)]
    camera: Option<Vec<Table>>,
}

/// `[storage]`: settings of the file systems the recordings are on.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Storage {
    /// Keep at least this much free on each output file system (`"10GB"`, `"5%"`),
    /// deleting the oldest files of all cameras.
    #[serde(default, deserialize_with = "de::min_free")]
    min_free: Option<MinFree>,
}

/// The keys of a configuration that are about the whole run: `catalog`, `[storage]` and
/// `[http]`.
type RunWide = (Option<PathBuf>, Storage, Option<http_api::Config>);

/// A `recorder run` configuration: the cameras, and what the whole run shares.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The cameras, in the file's order.
    pub cameras: Vec<CameraConfig>,
    /// The top-level `catalog` key.
    pub catalog: Option<PathBuf>,
    /// `[storage] min_free`.
    pub min_free: Option<MinFree>,
    /// `[http]`, when present (checked as a whole when the server starts).
    pub http: Option<http_api::Config>,
}

/// The keys of a camera that are not options.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    /// Unique, non-empty, no `/`; `{name}` in output templates.
    #[serde(default, deserialize_with = "de::string")]
    name: Option<String>,
    /// `rtsp://...`, credentials allowed.
    #[serde(default, deserialize_with = "de::string")]
    url: Option<String>,
}

/// A camera as written in the file, checked but not yet resolved (password files and
/// environment variables not read).
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    name: String,
    url: String,
    /// Its options merged with `[defaults]`, the output's `{name}` replaced.
    options: CameraOptions,
}

/// Formats an error about `key` of `place` in the file `file`.
fn key_error(file: &str, place: &str, key: &str, msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("config {file}: {place}: key {key:?}: {msg}")
}

/// An error of [`from_table`] about `place` (a camera, or `[defaults]`).
fn table_error(file: &str, place: &str, e: KeyError) -> anyhow::Error {
    if e.key.is_empty() {
        anyhow!("config {file}: {place}: {}", e.message)
    } else {
        key_error(file, place, &e.key, e.message)
    }
}

/// Parses and checks the text of a configuration file; `file` names it in errors.
#[cfg(test)]
fn parse(text: &str, file: &str) -> anyhow::Result<Vec<Entry>> {
    parse_all(text, file).map(|(entries, _)| entries)
}

/// `parse`, and the settings of the whole run (`catalog`, `[storage]`).
fn parse_all(text: &str, file: &str) -> anyhow::Result<(Vec<Entry>, RunWide)> {
    let table: Table = toml::from_str(text)
        .map_err(|e: toml::de::Error| anyhow!("config {file}: invalid TOML: {}", e.message()))?;
    let top: ConfigFile = from_table(table).map_err(|e| match e.key.as_str() {
        "" => anyhow!("config {file}: {}", e.message),
        key => anyhow!("config {file}: key {key:?}: {}", e.message),
    })?;
    let storage: Storage = from_table(top.storage.unwrap_or_default())
        .map_err(|e| table_error(file, "[storage]", e))?;
    let http: Option<http_api::Config> = top
        .http
        .map(|t| from_table(t).map_err(|e| table_error(file, "[http]", e)))
        .transpose()?;
    let run = (top.catalog, storage, http);
    let defaults: CameraOptions = from_table(top.defaults.unwrap_or_default())
        .map_err(|e| table_error(file, "[defaults]", e))?;
    let cameras = top
        .camera
        .filter(|c| !c.is_empty())
        .ok_or_else(|| anyhow!("config {file}: no camera ([[camera]] tables)"))?;
    let identity_keys = de::struct_fields::<Identity>();
    let mut entries: Vec<Entry> = Vec::with_capacity(cameras.len());
    for (i, table) in cameras.into_iter().enumerate() {
        let number = format!("camera #{}", i + 1);
        let place = match table.get("name").and_then(toml::Value::as_str) {
            Some(n) if !n.is_empty() => format!("camera {n:?}"),
            _ => number.clone(),
        };
        let err = |key: &str, msg: &dyn std::fmt::Display| key_error(file, &place, key, msg);
        let (identity, options): (Table, Table) = table
            .into_iter()
            .partition(|(k, _)| identity_keys.contains(&k.as_str()));
        let identity: Identity = from_table(identity).map_err(|e| table_error(file, &place, e))?;
        let options: CameraOptions =
            from_table(options).map_err(|e| table_error(file, &place, e))?;
        let name = identity.name.ok_or_else(|| err("name", &"missing"))?;
        if name.is_empty() {
            return Err(err("name", &"must not be empty"));
        }
        if name.contains(['/', '\0']) || name.chars().any(char::is_control) {
            return Err(err(
                "name",
                &format!("invalid name {name:?}: no '/' or control characters"),
            ));
        }
        if let Some(k) = entries.iter().position(|e| e.name == name) {
            return Err(err(
                "name",
                &format!("duplicate name (camera #{} has it too)", k + 1),
            ));
        }
        let url = identity.url.ok_or_else(|| err("url", &"missing"))?;
        rtsp_ingest::split_credentials(&url).map_err(|e| err("url", &e))?;
        let mut options = options.or(defaults.clone());
        let output = options
            .output
            .as_deref()
            .ok_or_else(|| err("output", &"missing (give it here or in [defaults])"))?
            .to_string_lossy()
            .replace("{name}", &name);
        Template::parse(Path::new(&output)).map_err(|e| err("output", &format!("{e:#}")))?;
        options.output = Some(PathBuf::from(output));
        entries.push(Entry { name, url, options });
    }
    Ok((entries, run))
}

impl Entry {
    /// Reads the password file and environment variable, resolves the credentials and
    /// fills in the defaults of `recorder record`.
    fn resolve(self, file: &str, limit: Option<Duration>) -> anyhow::Result<CameraConfig> {
        let place = format!("camera {:?}", self.name);
        let o = &self.options;
        let password_file = match &o.password_file {
            Some(path) => Some(
                read_password_file(path)
                    .map_err(|e| key_error(file, &place, "password_file", format!("{e:#}")))?,
            ),
            None => None,
        };
        let password_env = match &o.password_env {
            Some(var) => Some(
                std::env::var(var)
                    .map_err(|e| key_error(file, &place, "password_env", format!("{var}: {e}")))?,
            ),
            None => None,
        };
        let passwords = PasswordSources {
            file: password_file,
            env: password_env,
        };
        let credentials = resolve_credentials(&self.url, o.username.as_deref(), &passwords)
            .map_err(|e| key_error(file, &place, "username", format!("{e:#}")))?;
        self.options
            .resolve(
                Invocation::Run,
                limit,
                Some(self.name),
                self.url,
                credentials,
            )
            .map_err(|e| key_error(file, &place, e.key, e.message))
    }
}

/// Reads, checks and resolves the configuration file at `path`, for a run of `limit`
/// (`--duration`).
/// Any error is a [`Usage`] error (exit code 2).
pub fn load(path: &Path, limit: Option<Duration>) -> anyhow::Result<RunConfig> {
    let file = path.display().to_string();
    let load = || -> anyhow::Result<RunConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow!("config {file}: {e}"))?;
        let (entries, (catalog, storage, http)) = parse_all(&text, &file)?;
        let cameras = entries
            .into_iter()
            .map(|e| e.resolve(&file, limit))
            .collect::<anyhow::Result<_>>()?;
        // A relative catalog path is relative to the working directory, as outputs are.
        Ok(RunConfig {
            cameras,
            catalog,
            min_free: storage.min_free,
            http,
        })
    };
    load().map_err(|e| Usage(format!("{e:#}")).into())
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
