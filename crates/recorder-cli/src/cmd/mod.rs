//! The subcommands, one file each: the top layer, which may use every layer below.
pub mod record;
pub mod run;
