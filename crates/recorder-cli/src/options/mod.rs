//! The options: `recorder`'s command line and the `run` config file, turned into the
//! domain's [`CameraConfig`](crate::camera::config::CameraConfig). The only layer with
//! clap and serde (besides `cmd`, `ui` and `main.rs`); it may use every layer below `cmd`.
//!
//! - [`args`]: the command line (global flags, subcommands).
//! - [`camera`]: a camera's options, each defined once for both the command line and the
//!   config file, their defaults, and their resolution into a `CameraConfig`.
//! - [`file`](mod@file): the config file of `recorder run`.
//! - [`credentials`]: user name and password from options, files, environment and URL.
//! - [`values`] and `de`: the value parsers, and their serde side.
pub mod archive_args;
pub mod args;
pub mod camera;
pub mod credentials;
pub(crate) mod de;
pub mod file;
pub mod show;
pub mod values;
