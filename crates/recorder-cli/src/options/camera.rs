//! A camera's options, each defined once (in the manner of ripgrep's `flags/defs.rs`):
//! [`CameraOptions`] derives clap's `Args` (the flags of `recorder record`) and serde's
//! `Deserialize` (the keys of a `[[camera]]` and of `[defaults]` in `recorder run`'s
//! config file), its doc comments are the help, and [`defaults`] holds the default values,
//! shown in `--help` and filled in by [`CameraOptions::resolve`], which makes the
//! domain's [`CameraConfig`].
//!
//! Adding an option: a field in [`CameraOptions`] (with its clap and serde attributes, and
//! a constant in [`defaults`] when it has a default), a field in [`CameraConfig`], and one
//! line in [`CameraOptions::resolve`].

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::OsStr;
use clap::{ArgAction, Args, ValueEnum};
use rtsp_ingest::Credentials;
use serde::Deserialize;

use crate::camera::config::CameraConfig;
use crate::options::de;
use crate::options::values::{
    Bound, clap_duration, duration_bound, duration_or_zero, fragment_duration, positive_duration,
    size_bound,
};
use crate::output::format::{OutputFormat, SyncPolicy};

/// The default of each option that has one.
pub mod defaults {
    use std::time::Duration;

    use super::{
        AudioFormatArg, FormatArg, InitialTimestampArg, OnLossArg, SyncArg, TeardownArg,
        TransportArg,
    };

    /// `--format`, `format`.
    pub const FORMAT: FormatArg = FormatArg::Mp4;
    /// `--fragment-duration`, `fragment_duration`.
    pub const FRAGMENT_DURATION: Duration = Duration::from_secs(1);
    /// `--sync`, `sync`.
    pub const SYNC: SyncArg = SyncArg::Fragment;
    /// `--on-loss`, `on_loss`.
    pub const ON_LOSS: OnLossArg = OnLossArg::Keep;
    /// `--audio-format`, `audio_format`.
    pub const AUDIO_FORMAT: AudioFormatArg = AudioFormatArg::Flac;
    /// `--transport`, `transport`.
    pub const TRANSPORT: TransportArg = TransportArg::Tcp;
    /// `--initial-timestamp`, `initial_timestamp`.
    pub const INITIAL_TIMESTAMP: InitialTimestampArg = InitialTimestampArg::Permissive;
    /// `--teardown`, `teardown`.
    pub const TEARDOWN: TeardownArg = TeardownArg::Auto;
    /// `--stall-timeout`, `stall_timeout`.
    pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);
    /// `--max-timestamp-jump`, `max_timestamp_jump`.
    pub const MAX_TIMESTAMP_JUMP: Duration = Duration::from_secs(10);
    /// `segment_duration` in `recorder run`: a camera left running for months must be
    /// cut into files that retention can delete, and an open file's sample tables stay in
    /// memory (about 2.6 MiB an hour for 30 fps video with AAC) until it ends. Ten
    /// minutes keeps that under 0.5 MiB per camera and a file at a few hundred MB for a
    /// 4 Mbit/s camera, while a file still holds a useful stretch. (`recorder record`:
    /// one file, bounded by [`MAX_FILE_DURATION`].)
    pub const RUN_SEGMENT_DURATION: Duration = Duration::from_secs(600);
    /// `--max-file-duration`, `max_file_duration`: no file grows longer than a day
    /// (about 62 MiB of sample tables in memory for 30 fps video with AAC, and a `moov`
    /// of about 27 MB).
    pub const MAX_FILE_DURATION: Duration = Duration::from_secs(86_400);
}

/// Which command the options are for: some defaults differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// `recorder record`: one file by default.
    Record,
    /// `recorder run`: [`defaults::RUN_SEGMENT_DURATION`] segments by default.
    Run,
}

/// A default value as clap shows and parses it: its value's name.
fn shown_choice<T: ValueEnum>(value: T) -> OsStr {
    value
        .to_possible_value()
        .map_or_else(OsStr::default, |v| OsStr::from(v.get_name().to_owned()))
}

/// A default duration as clap shows and parses it (`10s`).
fn shown_duration(value: Duration) -> OsStr {
    OsStr::from(humantime::format_duration(value).to_string())
}

/// Defines [`CameraOptions`] and its merge [`CameraOptions::or`] from one list of fields.
macro_rules! camera_options {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $( $(#[$field_attr:meta])* pub $field:ident: Option<$ty:ty>, )*
        }
    ) => {
        $(#[$attr])*
        pub struct $name {
            $( $(#[$field_attr])* pub $field: Option<$ty>, )*
        }

        impl $name {
            /// `self`'s values, else `defaults`'.
            pub fn or(self, defaults: Self) -> Self {
                Self { $( $field: self.$field.or(defaults.$field), )* }
            }
        }
    };
}

camera_options! {
    /// A camera's options: `recorder record`'s flags, and the keys of a camera (or of
    /// `[defaults]`) in `recorder run`'s config file. `None`: not given (on the command
    /// line, only the options without a default).
    #[derive(Args, Clone, Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct CameraOptions {
        /// The MP4 file to write, or a template with strftime fields (see below).
        #[arg(short, long, value_name = "FILE", required = true)]
        #[serde(default, deserialize_with = "de::path")]
        pub output: Option<PathBuf>,

        /// Fill the template's time fields in UTC instead of local time.
        #[arg(long, action = ArgAction::SetTrue)]
        #[serde(default, deserialize_with = "de::boolean")]
        pub utc: Option<bool>,

        /// Start a new file at the first keyframe at least this long after the current
        /// file's start, e.g. 10m, 1h, or none [default: one file in `record`, 10m in
        /// `run`; either way at most --max-file-duration]
        #[arg(long, value_name = "DURATION", value_parser = duration_bound)]
        #[serde(default, deserialize_with = "de::duration_bound")]
        pub segment_duration: Option<Bound<humantime::Duration>>,

        /// Never let a file grow longer than this: a new file starts at the first
        /// keyframe after it (with a warning), e.g. 1h, or none (only with another bound:
        /// a segment duration, --max-file-size or --duration).
        #[arg(long, value_name = "DURATION", value_parser = duration_bound,
              default_value = shown_duration(defaults::MAX_FILE_DURATION))]
        #[serde(default, deserialize_with = "de::duration_bound")]
        pub max_file_duration: Option<Bound<humantime::Duration>>,

        /// Start a new file at the first keyframe once the file holds this many bytes,
        /// e.g. 2GB, 500MiB [default: none]
        #[arg(long, value_name = "SIZE", value_parser = size_bound)]
        #[serde(default, deserialize_with = "de::size_bound")]
        pub max_file_size: Option<Bound<bytesize::ByteSize>>,

        /// What a finished file is: mp4 (progressive, moov first; finalized in place) or
        /// fmp4 (left fragmented).
        #[arg(long, value_enum, default_value = shown_choice(defaults::FORMAT))]
        #[serde(default, deserialize_with = "de::choice")]
        pub format: Option<FormatArg>,

        /// Target length of a fragment: what a crash can lose at most (fragments end at a
        /// keyframe).
        #[arg(long, value_name = "DURATION", value_parser = clap_duration(fragment_duration),
              default_value = shown_duration(defaults::FRAGMENT_DURATION))]
        #[serde(default, deserialize_with = "de::fragment_duration")]
        pub fragment_duration: Option<humantime::Duration>,

        /// When to fsync: after each fragment, or never (leave it to the OS).
        #[arg(long, value_enum, default_value = shown_choice(defaults::SYNC))]
        #[serde(default, deserialize_with = "de::choice")]
        pub sync: Option<SyncArg>,

        /// How RTP packets travel.
        #[arg(long, value_enum, default_value = shown_choice(defaults::TRANSPORT))]
        #[serde(default, deserialize_with = "de::choice")]
        pub transport: Option<TransportArg>,

        /// Record no video (audio only).
        #[arg(long = "no-video", id = "no_video", action = ArgAction::SetFalse,
              conflicts_with = "no_audio")]
        #[serde(default, deserialize_with = "de::boolean")]
        pub video: Option<bool>,

        /// Record no audio (video only).
        #[arg(long = "no-audio", id = "no_audio", action = ArgAction::SetFalse)]
        #[serde(default, deserialize_with = "de::boolean")]
        pub audio: Option<bool>,

        /// What to do with the video after lost RTP packets (never an error; the loss is
        /// counted and logged at most once a minute): keep every frame that arrived (the
        /// frames up to the next keyframe may decode with errors), or skip to the next
        /// keyframe (files decode cleanly, the rest of each damaged GOP is lost).
        #[arg(long, value_enum, default_value = shown_choice(defaults::ON_LOSS))]
        #[serde(default, deserialize_with = "de::choice")]
        pub on_loss: Option<OnLossArg>,

        /// How G.711 (PCMU/PCMA) and L16 audio is stored: flac (lossless, plays in
        /// browsers too), g711 (G.711 as received, `ulaw`/`alaw`: half the size, not for
        /// browsers; L16 as pcm) or pcm (16-bit big-endian `ipcm`). AAC is stored as it came.
        #[arg(long, value_enum, default_value = shown_choice(defaults::AUDIO_FORMAT))]
        #[serde(default, deserialize_with = "de::choice")]
        pub audio_format: Option<AudioFormatArg>,

        /// Accepted for older command lines and configs, and ignored: loss never ends a
        /// session any more (what it did without this flag); see --on-loss.
        #[arg(long, action = ArgAction::SetTrue)]
        #[serde(default, deserialize_with = "de::boolean")]
        pub allow_loss: Option<bool>,

        /// How streams' zero times are chosen: from RTP-Info's rtptime (require), from each
        /// stream's first packet (ignore), rtptime when all streams have it (permissive), or
        /// retina's default (require with several streams, ignore with one).
        #[arg(long, value_enum, default_value = shown_choice(defaults::INITIAL_TIMESTAMP))]
        #[serde(default, deserialize_with = "de::choice")]
        pub initial_timestamp: Option<InitialTimestampArg>,

        /// When to send TEARDOWN: auto (once over TCP, until success over UDP), always,
        /// never.
        #[arg(long, value_enum, default_value = shown_choice(defaults::TEARDOWN))]
        #[serde(default, deserialize_with = "de::choice")]
        pub teardown: Option<TeardownArg>,

        /// User name (overrides the URL's).
        #[arg(long, value_name = "USER")]
        #[serde(default, deserialize_with = "de::string")]
        pub username: Option<String>,

        /// File holding the password (one trailing newline is ignored); takes precedence
        /// over RECORDER_PASSWORD and the URL's password.
        #[arg(long, value_name = "FILE")]
        #[serde(default, deserialize_with = "de::path")]
        pub password_file: Option<PathBuf>,

        /// The environment variable holding the password (config file only; `record`
        /// reads RECORDER_PASSWORD).
        #[arg(skip)]
        #[serde(default, deserialize_with = "de::env_name")]
        pub password_env: Option<String>,

        /// Delete the camera's files whose end is older than this, e.g. 30d (config file
        /// only: `recorder run` keeps a catalog; see `recorder prune`).
        #[arg(skip)]
        #[serde(default, deserialize_with = "de::duration")]
        pub retain_for: Option<humantime::Duration>,

        /// Keep the camera's files within this many bytes, deleting the oldest, e.g.
        /// 500GB (config file only; its newest file is always kept).
        #[arg(skip)]
        #[serde(default, deserialize_with = "de::any_size")]
        pub retain_size: Option<bytesize::ByteSize>,

        /// End the session (and reconnect) when no media arrives for this long.
        #[arg(long, value_name = "DURATION", value_parser = clap_duration(positive_duration),
              default_value = shown_duration(defaults::STALL_TIMEOUT))]
        #[serde(default, deserialize_with = "de::duration")]
        pub stall_timeout: Option<humantime::Duration>,

        /// Treat an RTP timestamp that jumps forward by more than this past the newest one
        /// seen, or backward (video: more than 1 s, which B-frames stay within; audio: at
        /// all), as a discontinuity: the stream goes on from its previous frame and a new
        /// file starts at the next keyframe, in the same session. 0s: never (command line
        /// only; at least 1s in the config file).
        #[arg(long, value_name = "DURATION", value_parser = clap_duration(duration_or_zero),
              default_value = shown_duration(defaults::MAX_TIMESTAMP_JUMP))]
        #[serde(default, deserialize_with = "de::duration")]
        pub max_timestamp_jump: Option<humantime::Duration>,

        /// Give up after this many failed reconnection attempts in a row (0: stop at the
        /// first failure) [default: never give up]
        #[arg(long, value_name = "N")]
        #[serde(default, deserialize_with = "de::count")]
        pub max_retries: Option<u32>,
    }
}

/// Why [`CameraOptions::resolve`] refused the options: the config key and the reason.
#[derive(Debug, PartialEq, Eq)]
pub struct Unusable {
    /// The key (its flag on the command line).
    pub key: &'static str,
    /// What is wrong.
    pub message: &'static str,
}

impl CameraOptions {
    /// The camera to record, with the defaults of `invocation` filled in: `name`
    /// (`recorder run`), `url` and the credentials resolved from it and the options;
    /// `limit` is the command's `--duration`.
    pub fn resolve(
        self,
        invocation: Invocation,
        limit: Option<Duration>,
        name: Option<String>,
        url: String,
        credentials: Option<Credentials>,
    ) -> Result<CameraConfig, Unusable> {
        let output = self.output.ok_or(Unusable {
            key: "output",
            message: "missing (give it here or in [defaults])",
        })?;
        if self.video == Some(false) && self.audio == Some(false) {
            return Err(Unusable {
                key: "video",
                message: "video and audio cannot both be false",
            });
        }
        let duration =
            |d: Option<humantime::Duration>, default: Duration| d.map_or(default, Into::into);
        let bound = |b: Option<Bound<humantime::Duration>>, default: Option<Duration>| {
            b.map_or(default, |b| b.value().map(Into::into))
        };
        let segment_duration = bound(
            self.segment_duration,
            (invocation == Invocation::Run).then_some(defaults::RUN_SEGMENT_DURATION),
        );
        let max_file_duration = bound(self.max_file_duration, Some(defaults::MAX_FILE_DURATION));
        let max_file_bytes = self
            .max_file_size
            .and_then(Bound::value)
            .map(|s| s.as_u64());
        if segment_duration.is_none()
            && max_file_duration.is_none()
            && max_file_bytes.is_none()
            && limit.is_none()
        {
            return Err(Unusable {
                key: "max_file_duration",
                message: "\"none\" would let a file grow without limit (its sample tables stay \
                          in memory until it ends): also set segment_duration, max_file_size \
                          or --duration",
            });
        }
        Ok(CameraConfig {
            name,
            url,
            credentials,
            output,
            utc: self.utc.unwrap_or(false),
            segment_duration,
            max_file_duration,
            max_file_bytes,
            format: self.format.unwrap_or(defaults::FORMAT).into(),
            fragment_duration: duration(self.fragment_duration, defaults::FRAGMENT_DURATION),
            sync: self.sync.unwrap_or(defaults::SYNC).into(),
            transport: self.transport.unwrap_or(defaults::TRANSPORT).into(),
            video: self.video.unwrap_or(true),
            audio: self.audio.unwrap_or(true),
            on_loss: self.on_loss.unwrap_or(defaults::ON_LOSS).into(),
            audio_format: self.audio_format.unwrap_or(defaults::AUDIO_FORMAT).into(),
            initial_timestamp: self
                .initial_timestamp
                .unwrap_or(defaults::INITIAL_TIMESTAMP)
                .into(),
            teardown: self.teardown.unwrap_or(defaults::TEARDOWN).into(),
            stall_timeout: duration(self.stall_timeout, defaults::STALL_TIMEOUT),
            max_timestamp_jump: duration(self.max_timestamp_jump, defaults::MAX_TIMESTAMP_JUMP),
            max_retries: self.max_retries,
            retain_for: self.retain_for.map(Into::into),
            retain_size: self.retain_size.map(|s| s.as_u64()),
        })
    }
}

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Progressive MP4, moov first (finalized in place at the end).
    Mp4,
    /// Fragmented MP4, as written while recording.
    Fmp4,
}

impl From<FormatArg> for OutputFormat {
    fn from(arg: FormatArg) -> Self {
        match arg {
            FormatArg::Mp4 => OutputFormat::Mp4,
            FormatArg::Fmp4 => OutputFormat::Fmp4,
        }
    }
}

/// `--sync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SyncArg {
    /// fsync after each fragment.
    Fragment,
    /// Never fsync while recording.
    None,
}

impl From<SyncArg> for SyncPolicy {
    fn from(arg: SyncArg) -> Self {
        match arg {
            SyncArg::Fragment => SyncPolicy::Fragment,
            SyncArg::None => SyncPolicy::None,
        }
    }
}

/// `--transport`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// Interleaved in the RTSP connection.
    Tcp,
    /// Separate UDP ports (LAN only).
    Udp,
}

impl From<TransportArg> for rtsp_ingest::Transport {
    fn from(arg: TransportArg) -> Self {
        match arg {
            TransportArg::Tcp => Self::Tcp,
            TransportArg::Udp => Self::Udp,
        }
    }
}

/// `--on-loss`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnLossArg {
    /// Keep every frame that arrived.
    Keep,
    /// Skip video until the next keyframe.
    SkipToKeyframe,
}

impl From<OnLossArg> for rtsp_ingest::LossPolicy {
    fn from(arg: OnLossArg) -> Self {
        match arg {
            OnLossArg::Keep => Self::Keep,
            OnLossArg::SkipToKeyframe => Self::SkipToKeyframe,
        }
    }
}

/// `--audio-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AudioFormatArg {
    /// FLAC (`fLaC`), lossless.
    Flac,
    /// G.711 as received (`ulaw`/`alaw`).
    G711,
    /// 16-bit big-endian PCM (`ipcm`).
    Pcm,
}

impl From<AudioFormatArg> for audio_pcm::Storage {
    fn from(arg: AudioFormatArg) -> Self {
        match arg {
            AudioFormatArg::Flac => Self::Flac,
            AudioFormatArg::G711 => Self::AsReceived,
            AudioFormatArg::Pcm => Self::Ipcm,
        }
    }
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

impl From<InitialTimestampArg> for rtsp_ingest::InitialTimestampPolicy {
    fn from(arg: InitialTimestampArg) -> Self {
        match arg {
            InitialTimestampArg::Default => Self::Default,
            InitialTimestampArg::Require => Self::Require,
            InitialTimestampArg::Ignore => Self::Ignore,
            InitialTimestampArg::Permissive => Self::Permissive,
        }
    }
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

impl From<TeardownArg> for rtsp_ingest::TeardownPolicy {
    fn from(arg: TeardownArg) -> Self {
        match arg {
            TeardownArg::Auto => Self::Auto,
            TeardownArg::Always => Self::Always,
            TeardownArg::Never => Self::Never,
        }
    }
}
