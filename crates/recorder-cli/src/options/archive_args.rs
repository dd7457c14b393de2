//! The flags of the commands that work on the catalog of a `recorder run` configuration:
//! `index`, `list` and `prune`.

use std::path::PathBuf;

use clap::Args;

/// `recorder index`.
#[derive(Debug, Args)]
pub struct IndexArgs {
    /// The `recorder run` configuration whose catalog (and files) to use.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,

    /// Rebuild the catalog from the files alone (the database is deleted first).
    #[arg(long)]
    pub rebuild: bool,
}

/// `recorder list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The `recorder run` configuration whose catalog to read.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,

    /// Only this camera.
    #[arg(long, value_name = "NAME")]
    pub camera: Option<String>,

    /// From this time: RFC 3339 (2026-11-30T08:00:00Z) or a duration ago (2h).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// Up to this time: RFC 3339 or a duration ago.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,

    /// Print JSON (the HTTP API's form) instead of text.
    #[arg(long)]
    pub json: bool,

    /// List the files too.
    #[arg(long)]
    pub files: bool,
}

/// `recorder prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The `recorder run` configuration whose retention to apply.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,

    /// Print what would be deleted, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}
