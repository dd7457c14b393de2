//! The command line: global flags and subcommands. `recorder record`'s camera flags are
//! [`CameraOptions`], shared with the config file.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::camera::config::CameraConfig;
pub use crate::options::archive_args::{IndexArgs, ListArgs, PruneArgs};
use crate::options::camera::{CameraOptions, Invocation};
use crate::options::credentials::{PasswordSources, resolve_credentials};
use crate::options::values::positive_duration;
use crate::ui::exit::Usage;

/// Record RTSP cameras to MP4 files.
#[derive(Debug, Parser)]
#[command(
    name = "recorder",
    version,
    about,
    propagate_version = true,
    after_help = crate::ui::exit::EXIT_CODES_HELP
)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides -v and -q.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Less log output (-q: warnings and errors, -qq: errors only).
    #[arg(short, long, action = ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,

    /// Log format on stderr: text lines, or one JSON object per line.
    #[arg(long, value_enum, global = true, default_value_t = crate::ui::logging::LogFormat::Text)]
    pub log_format: crate::ui::logging::LogFormat,

    /// Do not show the live status table (shown by default when stderr is a terminal,
    /// logs are text and not -q); a status line per camera is then logged every minute.
    #[arg(long, global = true)]
    pub no_status: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record one RTSP stream to MP4 files, reconnecting when the session fails.
    Record(Box<RecordArgs>),
    /// Record many cameras, described in a TOML file, in one process.
    Run(RunArgs),
    /// Finish a recording left by a crash, in place: keep every complete fragment and
    /// finalize it into a progressive MP4 (FILE.partial is renamed to FILE).
    Repair(FileArgs),
    /// Print a file's box tree (tables elided) and a summary of each track.
    Inspect(FileArgs),
    /// Check a file's consistency; exits with 1 and the reason when it is inconsistent.
    Verify(FileArgs),
    /// Bring the catalog of a `run` configuration up to date with the files on disk
    /// (files added or deleted by hand); --rebuild makes it anew from the files.
    Index(IndexArgs),
    /// List the recordings of a `run` configuration from its catalog: spans of files that
    /// follow each other without a gap, the gaps between them, and the files.
    List(ListArgs),
    /// Apply a `run` configuration's retention now (retain_for, retain_size, min_free),
    /// printing what is deleted.
    Prune(PruneArgs),
    /// Read a password from standard input (its first line) and print its Argon2id hash,
    /// for `[http] users = [{ name = "...", password_hash = "..." }]`.
    HashPassword,
}

/// A subcommand that works on one MP4 file.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// The MP4 file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `recorder record`.
#[derive(Debug, Args)]
#[command(after_help = "\
Credentials: the user name comes from --username, else from the URL (rtsp://user:pass@host/...).
The password comes from, in order of precedence: --password-file, then the RECORDER_PASSWORD
environment variable, then the URL. Passwords are never printed; URLs are shown as
rtsp://user:***@host/...

Output: -o is a file name or a template with strftime fields, filled with the wall-clock time
of each file's first sample (local time, or UTC with --utc), e.g.
-o 'cam1/%Y-%m-%d/%H-%M-%S.mp4'. Directories are created as needed. An existing name (or its
.partial) is never overwritten: a numbered suffix is added (name-1.mp4, name-2.mp4, ...).

Crash safety: each file is written as NAME.partial, fragmented (moof/mdat every
--fragment-duration, each synced to disk with --sync fragment), so a crash or power cut loses
at most the fragment in progress and the .partial plays as it is. On a clean stop (--duration,
Ctrl-C, SIGTERM, or the end of a segment) it is finalized in place (--format mp4: moov first,
in room reserved at the start) and renamed to NAME. At start, .partial files that this -o left
behind are repaired first (as `recorder repair` does).

Reconnecting: when the session fails (the server is gone, the connection breaks, an RTSP error,
no media for --stall-timeout, or the server ends the session), the files are finished and
recorder connects again after 1 s, 2 s, 4 s, ... up to 30 s (+-20% jitter; a session that
delivers media resets the delay), each new session in a new file. Errors that reconnecting
cannot cure (401/404 and other 4xx answers, no usable stream, an invalid URL, trouble writing
the files) end the recording at once.

Duration: with --duration D the run ends at T0 + D on the wall clock, where T0 is when the
first session's first keyframe arrived: a run without failures records exactly D of media from
that keyframe; after a reconnect, recording goes on up to that same instant. If no session
has started by D after the start, recorder gives up then.")]
pub struct RecordArgs {
    /// The camera's RTSP URL, e.g. rtsp://user:pass@192.168.1.10:554/stream1
    pub url: String,

    /// The camera's options (shared with `recorder run`'s config file).
    #[command(flatten)]
    pub camera: CameraOptions,

    /// How long to record, from the first keyframe (wall clock across reconnects; see
    /// below), e.g. 10s, 5m, 1h30m [default: until Ctrl-C or SIGTERM]
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub duration: Option<Duration>,
}

impl RecordArgs {
    /// The camera to record: the options with their defaults, the password from
    /// `--password-file`, else `RECORDER_PASSWORD`, else the URL.
    pub fn camera_config(&self) -> anyhow::Result<CameraConfig> {
        let passwords = PasswordSources::read(
            self.camera.password_file.as_deref(),
            Some("RECORDER_PASSWORD"),
        )?;
        let credentials =
            resolve_credentials(&self.url, self.camera.username.as_deref(), &passwords)?;
        self.camera
            .clone()
            .resolve(
                Invocation::Record,
                self.duration,
                None,
                self.url.clone(),
                credentials,
            )
            .map_err(|e| Usage(format!("--{}: {}", e.key.replace('_', "-"), e.message)).into())
    }
}

/// `recorder run`.
#[derive(Debug, Args)]
#[command(after_help = "\
The configuration file (TOML) lists the cameras; every key but name, url and output is
optional, and [defaults] gives defaults for all cameras:

  [defaults]
  segment_duration = \"10m\"
  output = \"/srv/rec/{name}/%Y-%m-%d/%H-%M-%S.mp4\"

  [[camera]]
  name = \"front\"
  url = \"rtsp://10.0.0.5/stream1\"
  username = \"admin\"
  password_file = \"/run/secrets/front\"

  [[camera]]
  name = \"yard\"
  url = \"rtsp://10.0.0.6/live\"
  output = \"/srv/rec/yard/%H-%M-%S.mp4\"
  audio = false

Keys: name, url, output ({name} is replaced by the camera's name), username, password_file,
password_env (the name of an environment variable holding the password), transport,
segment_duration (default 10m here), max_file_duration (default 1day), max_file_size, format,
fragment_duration, sync, audio, video, stall_timeout, max_timestamp_jump, max_retries, utc,
initial_timestamp, teardown, on_loss, audio_format (allow_loss: accepted, ignored): the same
values as `recorder record`'s options; and retain_for (e.g. 30d) and retain_size (e.g. 500GB):
retention of the camera's files. At the top level: catalog (a path; default: beside the
recordings) and [storage] min_free (a size, or a share such as 5%: the oldest files of all
cameras go first).
--check validates the file and prints each camera's effective settings without recording.
Each camera runs on its own, reconnecting as `recorder record` does; one camera's failure
does not stop the others. The process ends when every camera has ended (exit 0 if all
succeeded) or on SIGINT/SIGTERM (every file finished; a second signal exits at once).")]
pub struct RunArgs {
    /// The cameras' configuration file.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,

    /// How long each camera records, from its first keyframe, as `recorder record
    /// --duration` [default: until Ctrl-C or SIGTERM]
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub duration: Option<Duration>,

    /// Check the file as at start and print each camera's effective settings (defaults
    /// included, passwords redacted), then exit: 0, or 2 with the first error. Nothing is
    /// recorded and no camera is contacted.
    #[arg(long)]
    pub check: bool,

    /// Serve the HTTP API on ADDR (`127.0.0.1:8080`), as `[http] listen` does (and over
    /// it); a non-loopback address needs `[http] users`.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::format::{OutputFormat, SyncPolicy};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("recorder").chain(args.iter().copied()))
    }

    fn record(args: &[&str]) -> RecordArgs {
        match parse(args).expect("valid arguments").command {
            Command::Record(r) => *r,
            other => panic!("not record: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let r = record(&["record", "rtsp://cam/live", "-o", "out.mp4"]);
        assert_eq!(r.url, "rtsp://cam/live");
        assert_eq!(r.duration, None);
        let c = r.camera_config().expect("resolvable");
        assert_eq!(c.output, PathBuf::from("out.mp4"));
        assert_eq!(c.transport, rtsp_ingest::Transport::Tcp);
        assert_eq!(
            c.initial_timestamp,
            rtsp_ingest::InitialTimestampPolicy::Permissive
        );
        assert_eq!(c.teardown, rtsp_ingest::TeardownPolicy::Auto);
        assert!(c.video && c.audio);
        assert_eq!(c.on_loss, rtsp_ingest::LossPolicy::Keep);
        assert_eq!(r.camera.username, None);
        assert_eq!(r.camera.password_file, None);
        assert_eq!(c.format, OutputFormat::Mp4);
        assert_eq!(c.sync, SyncPolicy::Fragment);
        assert_eq!(c.fragment_duration, Duration::from_secs(1));
        assert_eq!(c.segment_duration, None);
        // One file, but never longer than a day.
        assert_eq!(c.max_file_duration, Some(Duration::from_secs(86_400)));
        assert_eq!(c.max_file_bytes, None);
        assert!(!c.utc);
        assert_eq!(c.stall_timeout, Duration::from_secs(10));
        assert_eq!(c.max_timestamp_jump, Duration::from_secs(10));
        assert_eq!(c.max_retries, None);
        assert_eq!(c.name, None);
    }

    #[test]
    fn an_unbounded_file_needs_another_bound() {
        let args = [
            "record",
            "rtsp://cam/live",
            "-o",
            "out.mp4",
            "--max-file-duration",
            "none",
        ];
        let e = record(&args).camera_config().unwrap_err();
        assert!(e.is::<Usage>(), "{e:#}");
        assert!(
            e.to_string()
                .starts_with(r#"--max-file-duration: "none" would let a file grow without limit"#),
            "{e:#}"
        );
        let with = |extra: &[&str]| {
            let all: Vec<&str> = args.iter().chain(extra).copied().collect();
            record(&all).camera_config().expect("bounded")
        };
        assert_eq!(with(&["--duration", "1h"]).max_file_duration, None);
        assert_eq!(
            with(&["--segment-duration", "30m"]).segment_duration,
            Some(Duration::from_secs(1800))
        );
        assert_eq!(
            with(&["--max-file-size", "4GiB"]).max_file_bytes,
            Some(4 << 30)
        );
    }

    #[test]
    fn all_options() {
        let cli = parse(&[
            "-vv",
            "record",
            "rtsp://cam/live",
            "--output",
            "/tmp/x.mp4",
            "--duration",
            "1m30s",
            "--transport",
            "udp",
            "--no-audio",
            "--allow-loss",
            "--on-loss",
            "skip-to-keyframe",
            "--initial-timestamp",
            "require",
            "--teardown",
            "never",
            "--username",
            "admin",
            "--format",
            "fmp4",
            "--fragment-duration",
            "500ms",
            "--sync",
            "none",
            "--segment-duration",
            "10m",
            "--utc",
            "--stall-timeout",
            "3s",
            "--max-timestamp-jump",
            "0s",
            "--max-retries",
            "0",
        ])
        .expect("valid arguments");
        assert_eq!(cli.verbose, 2);
        let Command::Record(r) = cli.command else {
            panic!("not record")
        };
        assert_eq!(r.duration, Some(Duration::from_secs(90)));
        let c = r.camera_config().expect("resolvable");
        assert_eq!(c.output, PathBuf::from("/tmp/x.mp4"));
        assert_eq!(c.transport, rtsp_ingest::Transport::Udp);
        assert!(!c.audio && c.video);
        assert_eq!(c.on_loss, rtsp_ingest::LossPolicy::SkipToKeyframe);
        assert_eq!(
            c.initial_timestamp,
            rtsp_ingest::InitialTimestampPolicy::Require
        );
        assert_eq!(c.teardown, rtsp_ingest::TeardownPolicy::Never);
        assert_eq!(c.credentials.expect("user").username(), "admin");
        assert_eq!(c.format, OutputFormat::Fmp4);
        assert_eq!(c.fragment_duration, Duration::from_millis(500));
        assert_eq!(c.sync, SyncPolicy::None);
        assert_eq!(c.segment_duration, Some(Duration::from_secs(600)));
        assert!(c.utc);
        assert_eq!(c.stall_timeout, Duration::from_secs(3));
        assert_eq!(c.max_timestamp_jump, Duration::ZERO);
        assert_eq!(c.max_retries, Some(0));

        let r = record(&[
            "record",
            "u",
            "-o",
            "o",
            "--password-file",
            "/run/secrets/cam",
        ]);
        assert_eq!(
            r.camera.password_file,
            Some(PathBuf::from("/run/secrets/cam"))
        );
        let r = record(&["record", "u", "-o", "o", "--no-video"]);
        assert_eq!((r.camera.video, r.camera.audio), (Some(false), Some(true)));
    }

    #[test]
    fn run_arguments() {
        let cli = parse(&["run", "--config", "cams.toml", "--duration", "8s"]).expect("valid");
        let Command::Run(r) = cli.command else {
            panic!("not run")
        };
        assert_eq!(r.config, PathBuf::from("cams.toml"));
        assert_eq!(r.duration, Some(Duration::from_secs(8)));
        let r = parse(&["run", "-c", "c.toml"]).expect("valid");
        assert!(matches!(
            r.command,
            Command::Run(RunArgs { duration: None, .. })
        ));
        assert!(parse(&["run"]).is_err());
    }

    /// `recorder run --help` names every key of a camera.
    #[test]
    fn run_help_lists_every_key() {
        use clap::CommandFactory;
        let cli = Cli::command();
        let run = cli.find_subcommand("run").expect("run");
        let help = run.get_after_help().expect("after help").to_string();
        let keys = crate::options::de::struct_fields::<CameraOptions>();
        for key in keys.iter().chain(&["name", "url"]) {
            assert!(help.contains(key), "{key} missing in run's help");
        }
    }

    #[test]
    fn global_flags_after_subcommand() {
        let cli = parse(&["record", "rtsp://cam/live", "-o", "o.mp4", "-q"]).expect("valid");
        assert_eq!((cli.verbose, cli.quiet), (0, 1));
    }

    #[test]
    fn usage_errors() {
        use clap::error::ErrorKind;
        let kind = |args: &[&str]| parse(args).map(drop).unwrap_err().kind();
        assert_eq!(
            kind(&["record", "rtsp://cam/live"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&[
                "record",
                "rtsp://cam/live",
                "-o",
                "o.mp4",
                "--duration",
                "ten"
            ]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&[
                "record",
                "rtsp://cam/live",
                "-o",
                "o.mp4",
                "--duration",
                "0s"
            ]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&[
                "record",
                "rtsp://cam/live",
                "-o",
                "o.mp4",
                "--transport",
                "http"
            ]),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            kind(&[
                "record",
                "rtsp://cam/live",
                "-o",
                "o.mp4",
                "--no-video",
                "--no-audio"
            ]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&["-v", "-q", "record", "u", "-o", "o"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&["record", "u", "-o", "o", "--fragment-duration", "100us"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["record", "u", "-o", "o", "--format", "mkv"]),
            ErrorKind::InvalidValue
        );
        // Usage errors exit with 2.
        assert_eq!(parse(&["record"]).map(drop).unwrap_err().exit_code(), 2);
    }
}
