//! The options: `recorder`'s command line and the `run` config file.
pub mod args;
pub mod file;
