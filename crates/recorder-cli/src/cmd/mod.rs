//! The subcommands: one file each. The top layer: it may use every layer below.
pub mod inspect;
pub mod repair;
pub mod run;
pub mod verify;
