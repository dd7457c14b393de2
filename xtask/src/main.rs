//! Project automation for the recorder workspace (the `cargo xtask` pattern).
//!
//! ```text
//! cargo xtask test                 everything CI runs: fmt, clippy, tests, docs, tidy, verify
//! cargo xtask verify [CASE...]     record from GStreamer's RTSP server, check the files
//! cargo xtask demo [--seconds N]   record a local test stream to ./demo.mp4
//! cargo xtask crash [--trials N] [--seed S]
//!                                  kill -9 at random instants, repair, check the files
//! cargo xtask soak [--cameras N] [--minutes M] [--seed S]
//!                                  N cameras through fault-injecting proxies for M minutes
//! cargo xtask tidy                 architecture invariants (pure crates, retina confinement)
//! cargo xtask deps                 install/check ffmpeg and GStreamer (apt-get as root)
//! cargo xtask bench [--seconds S] [--cameras 1,8,32] [--rounds R]
//!                                  CPU, memory and frames against ffmpeg and GStreamer
//! cargo xtask bench g711 [--seconds S] [--cameras 32] [--rounds R]
//!                                  CPU and bytes per minute of each --audio-format
//! cargo xtask bench export [--debug]
//!                                  export time to first byte, throughput, memory
//! cargo xtask bench http-load [--seconds S] [--debug]
//!                                  32 cameras' recording CPU and frames with HTTP clients
//! ```
#![allow(clippy::print_stdout)]

mod bench;
mod chromium;
mod ci;
mod crash;
mod deps;
mod probe;
mod server;
mod soak;
mod strict;
mod tidy;
mod util;
mod verify;

use std::process::ExitCode;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test                      fmt, clippy, tests, docs, tidy and verify (what CI runs)
  verify [--with-ffmpeg] [CASE...]
                            record the test streams (concurrently) and check the MP4 files;
                            cases: h264aac h265aac mjpeg h264 h264b h265b (B-frames)
                            (10 s each),
                            fmp4 (fragmented),
                            kill9 (SIGKILL, then repair), segments (35 s in 10 s files)
                            (default: all); --with-ffmpeg records the first five with ffmpeg
                            instead (checks the harness)
  demo [--seconds N]        start a local RTSP server, record /h264aac to ./demo.mp4
  crash [--trials N] [--seed S]
                            kill -9 the recorder at random instants (seeded; default 20
                            trials, seed 1), around segment switches too; repair, then check
                            every file (recorder verify, ffmpeg -xerror) and the media lost
  soak [--cameras N] [--minutes M] [--seed S]
                            N cameras (default 4; every fourth on the 1% loss mount)
                            through fault-injecting proxies (cuts, stalls, slow reads,
                            half-open, resets mid-packet) for M minutes (default 2); RSS,
                            fds and CPU every 10 s; fails unless every file plays, the
                            media kept covers what the proxies let through (minus one
                            fragment per fault) and RSS and fds stay flat after warm-up
  tidy                      check the architecture invariants
  deps                      make sure ffmpeg, GStreamer's RTSP server and chromium are
                            installed
  bench [--seconds S] [--cameras 1,8,32] [--rounds R]
                            record N cameras (default 60 s; N = 1, 8, 32) with one
                            `recorder run`, N ffmpeg and N gst-launch-1.0 processes in turn,
                            R rounds (default 1) in rotating order; report medians of CPU,
                            peak RSS and frames to target/bench/report.md
  bench g711 [--seconds S] [--cameras 32] [--rounds R]
                            record N cameras of /h264pcmu (G.711 + 320x180 H.264;
                            default N = 32, 60 s) with one `recorder run` per
                            --audio-format (flac, g711, pcm); report CPU per stream-minute
                            and audio bytes per minute to target/bench/g711.md
  bench export [--debug]    serve a synthetic 24 h archive with `recorder run --http`;
                            report export time to first byte (1 h, 24 h), moov sizes,
                            throughput, peak RSS with 1/4/8 exports at once and the 24 h
                            VOD playlist's time to target/bench/export.md
  bench http-load [--seconds S] [--debug]
                            32 cameras with `recorder run --http` for S s (default 60)
                            without clients, then with 8 export downloads and 4 playlist
                            followers; compare recording CPU and frames
                            (target/bench/http-load.md)
                            --debug: use the debug build of recorder (faster to build)
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        bail!("no command given");
    };
    match command.as_str() {
        "test" => {
            no_args(command, rest)?;
            ci::test()
        }
        "verify" => {
            let mut options = verify::VerifyOptions::default();
            for arg in rest {
                match arg.as_str() {
                    "--with-ffmpeg" => options.with_ffmpeg = true,
                    flag if flag.starts_with('-') => bail!("verify: unknown option {flag}"),
                    case => options.only.push(case.to_string()),
                }
            }
            deps::ensure()?;
            verify::verify(&options)
        }
        "demo" => {
            let seconds = match rest {
                [] => 10,
                [flag, n] if flag == "--seconds" => n
                    .parse()
                    .with_context(|| format!("--seconds wants a whole number, got {n:?}"))?,
                _ => bail!("usage: cargo xtask demo [--seconds N]"),
            };
            deps::ensure()?;
            verify::demo(seconds)
        }
        "bench" if rest.first().is_some_and(|a| a == "export") => {
            let release = match &rest[1..] {
                [] => true,
                [d] if d == "--debug" => false,
                _ => bail!("usage: cargo xtask bench export [--debug]"),
            };
            deps::ensure()?;
            bench::export::bench_export(release)
        }
        "bench" if rest.first().is_some_and(|a| a == "http-load") => {
            let (seconds, release) = bench::http_load::parse(&rest[1..])?;
            deps::ensure()?;
            bench::http_load::bench_http_load(seconds, release)
        }
        "bench" if rest.first().is_some_and(|a| a == "g711") => {
            let options =
                bench::BenchOptions::parse_over(bench::g711::default_options(), &rest[1..])?;
            deps::ensure()?;
            bench::g711::bench_g711(&options)
        }
        "bench" => {
            let options = bench::BenchOptions::parse(rest)?;
            deps::ensure()?;
            bench::bench(&options)
        }
        "crash" => {
            let options = crash::CrashOptions::parse(rest)?;
            deps::ensure()?;
            crash::crash(&options)
        }
        "soak" => {
            let options = soak::SoakOptions::parse(rest)?;
            deps::ensure()?;
            soak::soak(&options)
        }
        "tidy" => {
            no_args(command, rest)?;
            tidy::tidy()
        }
        "deps" => {
            no_args(command, rest)?;
            deps::ensure()?;
            println!(
                "deps: ffmpeg, ffprobe, gst-launch-1.0, GstRtspServer, /usr/bin/time and chromium are \
                 installed"
            );
            Ok(())
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprint!("{USAGE}");
            bail!("unknown command {other:?}")
        }
    }
}

fn no_args(command: &str, rest: &[String]) -> Result<()> {
    if let Some(extra) = rest.first() {
        bail!("{command} takes no arguments, got {extra:?}");
    }
    Ok(())
}
