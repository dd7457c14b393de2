//! `recorder`: records RTSP cameras to MP4 files.
//!
//! `recorder record rtsp://cam/stream1 -o out.mp4 --duration 10s` connects with
//! [`rtsp_ingest`], starts at the first video keyframe, and writes a crash-safe fragmented
//! MP4 with [`mp4_track`]'s `FragmentedMuxer` through a writer thread per file, finalized in
//! place into a progressive MP4 at the end (optionally in segments named from a template).
//! `recorder repair|inspect|verify FILE` work on files. See `recorder --help`.

mod backoff;
mod camera;
mod check;
mod cli;
mod config;
mod exit;
mod finalize_io;
mod inspect;
mod logging;
mod mp4read;
mod pacing;
mod record;
mod repair;
mod run;
mod segment;
mod status;
mod template;
mod timeline;
mod writer;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Usage errors exit with 2, --help and --version with 0.
        Err(e) => e.exit(),
    };
    let log_format = cli.log_format;
    let recording = matches!(cli.command, Command::Record(_) | Command::Run(_));
    let live = (recording && logging::live_status(log_format, cli.quiet, cli.no_status))
        .then(status::LiveTerminal::new);
    logging::init(cli.verbose, cli.quiet, log_format, live.clone());
    // One thread for every camera: a current-thread runtime is plenty (file I/O runs on
    // the writers' own threads) and keeps the footprint small; it reads the sockets in
    // batches (see `pacing`).
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(pacing::before_park)
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| {
            rt.block_on(async {
                match cli.command {
                    Command::Record(args) => record::record(args, live).await,
                    Command::Run(args) => run::run(args, live).await,
                    Command::Repair(args) => repair::run(&args.file),
                    Command::Inspect(args) => inspect::run(&args.file),
                    Command::Verify(args) => check::run(&args.file),
                }
            })
        });
    match result {
        Ok(()) => ExitCode::from(exit::ExitCause::Ok.code()),
        Err(e) => {
            let code = exit::classify(&e).code();
            // The whole chain, with retina's connection context and hex dumps.
            tracing::debug!("error chain: {e:#}");
            logging::print_error(log_format, &exit::one_line(&e), code);
            ExitCode::from(code)
        }
    }
}
