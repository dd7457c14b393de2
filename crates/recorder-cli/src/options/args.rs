//! Command-line interface: argument definitions and credential resolution.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

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
    Record(RecordArgs),
    /// Record many cameras, described in a TOML file, in one process.
    Run(RunArgs),
    /// Finish a recording left by a crash, in place: keep every complete fragment and
    /// finalize it into a progressive MP4 (FILE.partial is renamed to FILE).
    Repair(FileArgs),
    /// Print a file's box tree (tables elided) and a summary of each track.
    Inspect(FileArgs),
    /// Check a file's consistency; exits with 1 and the reason when it is inconsistent.
    Verify(FileArgs),
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

    /// The MP4 file to write, or a template with strftime fields (see below).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Fill the template's time fields in UTC instead of local time.
    #[arg(long)]
    pub utc: bool,

    /// Start a new file at the first keyframe at least this long after the current file's
    /// start, e.g. 10m, 1h [default: one file]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub segment_duration: Option<Duration>,

    /// What a finished file is: mp4 (progressive, moov first; finalized in place) or fmp4
    /// (left fragmented).
    #[arg(long, value_enum, default_value_t = FormatArg::Mp4)]
    pub format: FormatArg,

    /// Target length of a fragment: what a crash can lose at most (fragments end at a
    /// keyframe).
    #[arg(long, value_name = "DURATION", value_parser = parse_fragment_duration,
          default_value = "1s")]
    pub fragment_duration: Duration,

    /// When to fsync: after each fragment, or never (leave it to the OS).
    #[arg(long, value_enum, default_value_t = SyncArg::Fragment)]
    pub sync: SyncArg,

    /// How long to record, from the first keyframe (wall clock across reconnects; see
    /// below), e.g. 10s, 5m, 1h30m [default: until Ctrl-C or SIGTERM]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// How RTP packets travel.
    #[arg(long, value_enum, default_value_t = TransportArg::Tcp)]
    pub transport: TransportArg,

    /// Record no video (audio only).
    #[arg(long, conflicts_with = "no_audio")]
    pub no_video: bool,

    /// Record no audio (video only).
    #[arg(long)]
    pub no_audio: bool,

    /// Continue (with a warning) when RTP packets are lost, instead of stopping with an error.
    #[arg(long)]
    pub allow_loss: bool,

    /// How streams' zero times are chosen: from RTP-Info's rtptime (require), from each
    /// stream's first packet (ignore), rtptime when all streams have it (permissive), or
    /// retina's default (require with several streams, ignore with one).
    #[arg(long, value_enum, default_value_t = InitialTimestampArg::Permissive)]
    pub initial_timestamp: InitialTimestampArg,

    /// When to send TEARDOWN: auto (once over TCP, until success over UDP), always, never.
    #[arg(long, value_enum, default_value_t = TeardownArg::Auto)]
    pub teardown: TeardownArg,

    /// User name (overrides the URL's).
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,

    /// File holding the password (one trailing newline is ignored); takes precedence over
    /// RECORDER_PASSWORD and the URL's password.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// End the session (and reconnect) when no media arrives for this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub stall_timeout: Duration,

    /// Treat an RTP timestamp that jumps forward by more than this past the newest one seen,
    /// or backward (video: more than 1 s, which B-frames stay within; audio: at all), as a
    /// discontinuity: the session ends and a new one (new file) starts. 0s: never.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_or_zero,
          default_value = "10s")]
    pub max_timestamp_jump: Duration,

    /// Give up after this many failed reconnection attempts in a row (0: stop at the first
    /// failure) [default: never give up]
    #[arg(long, value_name = "N")]
    pub max_retries: Option<u32>,
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
segment_duration, format, fragment_duration, sync, audio, video, stall_timeout,
max_timestamp_jump, max_retries, utc, initial_timestamp, teardown, allow_loss: the same values as `recorder record`'s options.
Each camera runs on its own, reconnecting as `recorder record` does; one camera's failure
does not stop the others. The process ends when every camera has ended (exit 0 if all
succeeded) or on SIGINT/SIGTERM (every file finished; a second signal exits at once).")]
pub struct RunArgs {
    /// The cameras' configuration file.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,

    /// How long each camera records, from its first keyframe, as `recorder record
    /// --duration` [default: until Ctrl-C or SIGTERM]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Progressive MP4, moov first (finalized in place at the end).
    Mp4,
    /// Fragmented MP4, as written while recording.
    Fmp4,
}

/// `--sync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SyncArg {
    /// fsync after each fragment.
    Fragment,
    /// Never fsync while recording.
    None,
}

/// `--transport`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// Interleaved in the RTSP connection.
    Tcp,
    /// Separate UDP ports (LAN only).
    Udp,
}

/// `--initial-timestamp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InitialTimestampArg {
    /// retina's default.
    Default,
    /// Require rtptime.
    Require,
    /// Ignore rtptime.
    Ignore,
    /// Use rtptime when all streams have it.
    Permissive,
}

/// `--teardown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TeardownArg {
    /// Once over TCP, until success over UDP.
    Auto,
    /// Until success or session expiry.
    Always,
    /// Never.
    Never,
}

/// Parses a positive humantime duration (`10s`, `5m`, `1h30m`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be greater than zero".to_owned());
    }
    Ok(d)
}

/// Parses a duration where 0 means "off", in whole seconds.
pub fn parse_duration_or_zero(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.subsec_nanos() != 0 {
        return Err("must be whole seconds".to_owned());
    }
    Ok(d)
}

/// Parses `--fragment-duration`: from 1 ms to about 49 days (u32 milliseconds).
pub fn parse_fragment_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(1) || d.as_millis() > u128::from(u32::MAX) {
        return Err("must be between 1ms and 49days".to_owned());
    }
    Ok(d)
}

/// Where the password may come from, in order of precedence (highest first).
#[derive(Debug, Default)]
pub struct PasswordSources {
    /// The contents of `--password-file`.
    pub file: Option<String>,
    /// `RECORDER_PASSWORD`.
    pub env: Option<String>,
}

impl PasswordSources {
    /// Reads the password file (if given; one trailing newline is ignored) and the
    /// environment variable `env_var` (if given and set).
    pub fn read(file: Option<&Path>, env_var: Option<&str>) -> anyhow::Result<Self> {
        let file = match file {
            Some(path) => Some(read_password_file(path)?),
            None => None,
        };
        let env = match env_var.map(std::env::var) {
            Some(Ok(v)) => Some(v),
            None | Some(Err(std::env::VarError::NotPresent)) => None,
            Some(Err(std::env::VarError::NotUnicode(_))) => {
                bail!("{} is not valid UTF-8", env_var.unwrap_or_default())
            }
        };
        Ok(Self { file, env })
    }
}

/// A password file's contents without one trailing newline.
pub fn read_password_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read password file {}", path.display()))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    Ok(text.to_owned())
}

/// The credentials to use: user name from `--username` else the URL; password from the
/// file, else the environment, else the URL. `None` when there is no user name and no
/// password anywhere.
pub fn resolve_credentials(
    url: &str,
    username: Option<&str>,
    passwords: &PasswordSources,
) -> anyhow::Result<Option<rtsp_ingest::Credentials>> {
    let (_, from_url) = rtsp_ingest::split_credentials(url)?;
    let username = username
        .map(str::to_owned)
        .or_else(|| from_url.as_ref().map(|c| c.username().to_owned()))
        .filter(|u| !u.is_empty());
    let password = passwords
        .file
        .clone()
        .or_else(|| passwords.env.clone())
        .or_else(|| from_url.as_ref().map(|c| c.password().to_owned()));
    match (username, password) {
        (Some(user), password) => Ok(Some(rtsp_ingest::Credentials::new(
            user,
            password.unwrap_or_default(),
        ))),
        (None, Some(p)) if !p.is_empty() => {
            bail!("a password was given but no user name: use --username or rtsp://user@host/...")
        }
        (None, _) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("recorder").chain(args.iter().copied()))
    }

    fn record(args: &[&str]) -> RecordArgs {
        match parse(args).expect("valid arguments").command {
            Command::Record(r) => r,
            other => panic!("not record: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let r = record(&["record", "rtsp://cam/live", "-o", "out.mp4"]);
        assert_eq!(r.url, "rtsp://cam/live");
        assert_eq!(r.output, PathBuf::from("out.mp4"));
        assert_eq!(r.duration, None);
        assert_eq!(r.transport, TransportArg::Tcp);
        assert_eq!(r.initial_timestamp, InitialTimestampArg::Permissive);
        assert_eq!(r.teardown, TeardownArg::Auto);
        assert!(!r.no_video && !r.no_audio && !r.allow_loss);
        assert_eq!(r.username, None);
        assert_eq!(r.password_file, None);
        assert_eq!(r.format, FormatArg::Mp4);
        assert_eq!(r.sync, SyncArg::Fragment);
        assert_eq!(r.fragment_duration, Duration::from_secs(1));
        assert_eq!(r.segment_duration, None);
        assert!(!r.utc);
        assert_eq!(r.stall_timeout, Duration::from_secs(10));
        assert_eq!(r.max_retries, None);
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
            "--initial-timestamp",
            "require",
            "--teardown",
            "never",
            "--username",
            "admin",
            "--password-file",
            "/run/secrets/cam",
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
            "--max-retries",
            "0",
        ])
        .expect("valid arguments");
        assert_eq!(cli.verbose, 2);
        let Command::Record(r) = cli.command else {
            panic!("not record")
        };
        assert_eq!(r.duration, Some(Duration::from_secs(90)));
        assert_eq!(r.transport, TransportArg::Udp);
        assert!(r.no_audio && !r.no_video && r.allow_loss);
        assert_eq!(r.initial_timestamp, InitialTimestampArg::Require);
        assert_eq!(r.teardown, TeardownArg::Never);
        assert_eq!(r.username.as_deref(), Some("admin"));
        assert_eq!(r.password_file, Some(PathBuf::from("/run/secrets/cam")));
        assert_eq!(r.format, FormatArg::Fmp4);
        assert_eq!(r.fragment_duration, Duration::from_millis(500));
        assert_eq!(r.sync, SyncArg::None);
        assert_eq!(r.segment_duration, Some(Duration::from_secs(600)));
        assert!(r.utc);
        assert_eq!(r.stall_timeout, Duration::from_secs(3));
        assert_eq!(r.max_retries, Some(0));
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

    fn sources(file: Option<&str>, env: Option<&str>) -> PasswordSources {
        PasswordSources {
            file: file.map(str::to_owned),
            env: env.map(str::to_owned),
        }
    }

    fn resolved(url: &str, user: Option<&str>, p: &PasswordSources) -> Option<(String, String)> {
        resolve_credentials(url, user, p)
            .expect("resolvable")
            .map(|c| (c.username().to_owned(), c.password().to_owned()))
    }

    #[test]
    fn password_precedence_file_env_url() {
        let url = "rtsp://admin:fromurl@cam/live";
        let pair = |u: &str, p: &str| Some((u.to_owned(), p.to_owned()));
        assert_eq!(
            resolved(url, None, &sources(None, None)),
            pair("admin", "fromurl")
        );
        assert_eq!(
            resolved(url, None, &sources(None, Some("fromenv"))),
            pair("admin", "fromenv")
        );
        assert_eq!(
            resolved(url, None, &sources(Some("fromfile"), Some("fromenv"))),
            pair("admin", "fromfile")
        );
        assert_eq!(
            resolved(url, Some("operator"), &sources(None, None)),
            pair("operator", "fromurl")
        );
        assert_eq!(
            resolved("rtsp://cam/live", Some("op"), &sources(None, Some("e"))),
            pair("op", "e")
        );
        assert_eq!(
            resolved("rtsp://cam/live", None, &sources(None, None)),
            None
        );
        assert_eq!(
            resolved("rtsp://cam/live", Some("op"), &sources(None, None)),
            pair("op", "")
        );
    }

    #[test]
    fn password_without_user_is_an_error() {
        let err = resolve_credentials("rtsp://cam/live", None, &sources(None, Some("secret")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no user name"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn password_file_trailing_newline_is_stripped() {
        let dir = std::env::temp_dir().join(format!("recorder-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("pw");
        std::fs::write(&path, "s3cret\r\n").expect("write");
        let mut r = record(&["record", "rtsp://cam/live", "-o", "o.mp4"]);
        r.password_file = Some(path.clone());
        let p = PasswordSources::read(r.password_file.as_deref(), None).expect("readable");
        assert_eq!(p.file.as_deref(), Some("s3cret"));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
