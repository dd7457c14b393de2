//! Logging to stderr: plain text or JSON lines, level from `-v`/`-q` or `RUST_LOG`.

use std::io::IsTerminal;
use std::sync::Arc;

use clap::ValueEnum;

use crate::ui::status::{LiveTerminal, LiveWriter};

/// `--log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colored when stderr is a terminal).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the
    /// event's fields.
    Json,
}

/// The filter for `-v`/`-q` when `RUST_LOG` is not set.
fn default_directives(verbose: u8, quiet: u8) -> &'static str {
    match (verbose, quiet) {
        (0, 0) => "info,retina=warn",
        (1, _) => "info,recorder=debug,rtsp_ingest=debug,mp4_track=debug",
        (2.., _) => "debug,recorder=trace,rtsp_ingest=trace,mp4_track=trace",
        (_, 1) => "warn",
        (_, 2..) => "error",
    }
}

/// Installs the subscriber: logs go to stderr (through `live` when the live status table
/// is shown, so that it stays below them); `RUST_LOG` (if set) overrides the level
/// chosen by `-v`/`-q`.
pub fn init(verbose: u8, quiet: u8, format: LogFormat, live: Option<Arc<LiveTerminal>>) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let default = default_directives(verbose, quiet);
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (filter, bad_env) = match from_env.map(|v| EnvFilter::try_new(&v)) {
        Some(Ok(f)) => (f, None),
        Some(Err(e)) => (EnvFilter::new(default), Some(e)),
        None => (EnvFilter::new(default), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(match live {
            Some(live) => BoxMakeWriter::new(LiveWriter(live)),
            None => BoxMakeWriter::new(std::io::stderr),
        });
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
    if let Some(e) = bad_env {
        tracing::warn!("ignoring invalid RUST_LOG: {e}");
    }
}

/// Whether to show the live status table: stderr is a terminal, logs are text, not
/// `-q`, and not `--no-status`.
pub fn live_status(format: LogFormat, quiet: u8, no_status: bool) -> bool {
    format == LogFormat::Text && quiet == 0 && !no_status && std::io::stderr().is_terminal()
}

/// Prints the final error: `error: MESSAGE` (text), or a JSON object with `timestamp`
/// (RFC 3339, UTC, in microseconds like the log lines'), `level` `ERROR`, `target`,
/// `message` and `exit_code` (json).
pub fn print_error(format: LogFormat, message: &str, exit_code: u8) {
    match format {
        LogFormat::Text => eprintln!("error: {message}"),
        LogFormat::Json => eprintln!(
            "{}",
            serde_json::json!({
                "timestamp": format!("{:.6}", jiff::Timestamp::now()),
                "level": "ERROR",
                "target": "recorder",
                "message": format!("error: {message}"),
                "exit_code": exit_code,
            })
        ),
    }
}
