//! `recorder`: records RTSP cameras to MP4 files.
//!
//! `recorder record rtsp://cam/stream1 -o out.mp4 --duration 10s` connects with
//! [`rtsp_ingest`], starts at the first video keyframe, and writes a crash-safe fragmented
//! MP4 with [`mp4_track`]'s `FragmentedMuxer` through a writer thread per file, finalized in
//! place into a progressive MP4 at the end (optionally in segments named from a template).
//! `recorder repair|inspect|verify FILE` work on files. See `recorder --help`.

mod check;
mod cli;
mod finalize_io;
mod inspect;
mod mp4read;
mod record;
mod repair;
mod segment;
mod template;
mod timeline;
mod writer;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Usage errors exit with 2, --help and --version with 0.
        Err(e) => e.exit(),
    };
    init_logging(cli.verbose, cli.quiet);
    // One session per process: a current-thread runtime is plenty (file I/O runs on the
    // writer's own thread) and keeps the footprint small.
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| {
            rt.block_on(async {
                match cli.command {
                    Command::Record(args) => record::record(args).await,
                    Command::Repair(args) => repair::run(&args.file),
                    Command::Inspect(args) => inspect::run(&args.file),
                    Command::Verify(args) => check::run(&args.file),
                }
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `RUST_LOG` (if set) overrides the level chosen by `-v`/`-q`.
fn init_logging(verbose: u8, quiet: u8) {
    let default = match (verbose, quiet) {
        (0, 0) => "info,retina=warn",
        (1, _) => "info,recorder=debug,rtsp_ingest=debug,mp4_track=debug",
        (2.., _) => "debug,recorder=trace,rtsp_ingest=trace,mp4_track=trace",
        (_, 1) => "warn",
        (_, 2..) => "error",
    };
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (filter, bad_env) = match from_env.map(|v| tracing_subscriber::EnvFilter::try_new(&v)) {
        Some(Ok(f)) => (f, None),
        Some(Err(e)) => (tracing_subscriber::EnvFilter::new(default), Some(e)),
        None => (tracing_subscriber::EnvFilter::new(default), None),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if let Some(e) = bad_env {
        tracing::warn!("ignoring invalid RUST_LOG: {e}");
    }
}
