//! The subcommands, one file each: the top layer, which may use every layer below.
pub mod hash_password;
pub mod index;
pub mod inspect;
pub mod list;
pub mod prune;
pub mod record;
pub mod repair;
pub mod run;
pub mod verify;
