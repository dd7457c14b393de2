//! `recorder`: records RTSP cameras to MP4 files.
//!
//! `recorder record rtsp://cam/stream1 -o out.mp4 --duration 10s` connects with
//! [`rtsp_ingest`], starts at the first video keyframe, and writes a crash-safe fragmented
//! MP4 with [`mp4_track`]'s `FragmentedMuxer` through a writer thread per file, finalized in
//! place into a progressive MP4 at the end (optionally in segments named from a template).
//! `recorder repair|inspect|verify FILE` work on files. See `recorder --help`.

mod archive;
mod camera;
mod cmd;
mod mp4;
mod options;
mod output;
mod session;
mod ui;

use std::process::ExitCode;

use clap::Parser;

use crate::options::args::{Cli, Command};
use crate::ui::{exit, logging, status};

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
        .on_thread_park(session::pacing::before_park)
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| {
            rt.block_on(async {
                match cli.command {
                    Command::Record(args) => cmd::record::record(*args, live).await,
                    Command::Run(args) => cmd::run::run(args, live).await,
                    Command::Repair(args) => cmd::repair::run(&args.file),
                    Command::Inspect(args) => cmd::inspect::run(&args.file),
                    Command::Verify(args) => cmd::verify::run(&args.file),
                    Command::Index(args) => cmd::index::run(&args),
                    Command::List(args) => cmd::list::run(&args),
                    Command::Prune(args) => cmd::prune::run(&args),
                    Command::HashPassword => cmd::hash_password::run(),
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
