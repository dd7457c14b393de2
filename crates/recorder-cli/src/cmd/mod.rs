//! The subcommands: one file each. The top layer: it may use every layer below.
pub mod record;
pub mod run;
