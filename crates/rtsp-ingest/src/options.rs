//! Connection options.

use std::num::NonZeroU32;

use crate::loss::LossPolicy;

/// A user name and password for RTSP authentication.
///
/// `Debug` shows the user name only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    /// Credentials from a user name and a password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// How RTP packets travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// Interleaved in the RTSP TCP connection (robust; the default).
    #[default]
    Tcp,
    /// Over UDP (LAN only: retina has no reorder buffer).
    Udp,
}

/// How each stream's zero time is chosen (retina's `InitialTimestampPolicy`).
///
/// With `rtptime` from the `PLAY` response's `RTP-Info` header, all streams share the same
/// zero instant, which is what keeps audio and video aligned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitialTimestampPolicy {
    /// `Require` when playing several streams, `Ignore` otherwise.
    #[default]
    Default,
    /// Require `rtptime` for every stream.
    Require,
    /// Ignore `rtptime`: each stream starts at its first packet (streams may drift apart).
    Ignore,
    /// Use `rtptime` if all streams have it, otherwise behave like `Ignore`.
    Permissive,
}

/// When to send `TEARDOWN` (retina's `TeardownPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TeardownPolicy {
    /// Always over UDP or with servers known to need it; once over TCP otherwise.
    #[default]
    Auto,
    /// Retry until success or session expiry.
    Always,
    /// Never: just close the connection.
    Never,
}

/// Options for [`Source::connect`](crate::Source::connect), built with `with_*` methods.
///
/// ```
/// use rtsp_ingest::{SourceOptions, Transport};
/// let options = SourceOptions::new("rtsp://cam.local/stream1")
///     .with_credentials("admin", "secret")
///     .with_transport(Transport::Tcp)
///     .with_audio(false);
/// assert!(!format!("{options:?}").contains("secret"));
/// let with_url_password = SourceOptions::new("rtsp://admin:secret@cam.local/stream1");
/// assert!(!format!("{with_url_password:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct SourceOptions {
    pub(crate) url: String,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) transport: Transport,
    pub(crate) initial_timestamp: InitialTimestampPolicy,
    pub(crate) teardown: TeardownPolicy,
    pub(crate) want_video: bool,
    pub(crate) want_audio: bool,
    pub(crate) loss_policy: LossPolicy,
    pub(crate) user_agent: String,
    pub(crate) max_timestamp_jump_secs: Option<NonZeroU32>,
    pub(crate) session_group: Option<crate::SessionGroup>,
}

impl std::fmt::Debug for SourceOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceOptions")
            .field("url", &self.redacted_url())
            .field("credentials", &self.credentials)
            .field("transport", &self.transport)
            .field("initial_timestamp", &self.initial_timestamp)
            .field("teardown", &self.teardown)
            .field("want_video", &self.want_video)
            .field("want_audio", &self.want_audio)
            .field("loss_policy", &self.loss_policy)
            .field("user_agent", &self.user_agent)
            .field("max_timestamp_jump_secs", &self.max_timestamp_jump_secs)
            .field("session_group", &self.session_group)
            .finish()
    }
}

impl SourceOptions {
    /// Options for `url` (`rtsp://[user[:password]@]host[:port]/path`), with defaults: TCP,
    /// default timestamp policy, automatic teardown, video and audio wanted, every frame kept
    /// across a loss. Credentials in the URL are used unless
    /// [`with_credentials`](Self::with_credentials) gives others.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            credentials: None,
            transport: Transport::default(),
            initial_timestamp: InitialTimestampPolicy::default(),
            teardown: TeardownPolicy::default(),
            want_video: true,
            want_audio: true,
            loss_policy: LossPolicy::default(),
            user_agent: concat!("recorder/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_timestamp_jump_secs: None,
            session_group: None,
        }
    }

    /// Credentials to use instead of any in the URL.
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.credentials = Some(Credentials::new(username, password));
        self
    }

    /// The RTP transport.
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// The initial timestamp policy.
    pub fn with_initial_timestamp(mut self, policy: InitialTimestampPolicy) -> Self {
        self.initial_timestamp = policy;
        self
    }

    /// The teardown policy.
    pub fn with_teardown(mut self, policy: TeardownPolicy) -> Self {
        self.teardown = policy;
        self
    }

    /// Whether to receive a video stream.
    pub fn with_video(mut self, want: bool) -> Self {
        self.want_video = want;
        self
    }

    /// Whether to receive an audio stream.
    pub fn with_audio(mut self, want: bool) -> Self {
        self.want_audio = want;
        self
    }

    /// What to do with the video after lost RTP packets (never an error; default
    /// [`LossPolicy::Keep`]).
    pub fn with_loss_policy(mut self, policy: LossPolicy) -> Self {
        self.loss_policy = policy;
        self
    }

    /// The `User-Agent` sent with each request (empty: none).
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Turns timestamp jumps into discontinuities
    /// ([`Frame::discontinuity`](crate::Frame::discontinuity)): a frame more than `secs`
    /// after the newest timestamp seen so far on its stream, or before it by more than a
    /// reorder tolerance (for video 1 s, capped by `secs`, which B-frames stay well
    /// within; for audio any step back), re-bases the stream to go on from its previous
    /// frame and is flagged. Off by default (timestamps are handed out as they come).
    pub fn with_max_timestamp_jump_secs(mut self, secs: Option<NonZeroU32>) -> Self {
        self.max_timestamp_jump_secs = secs;
        self
    }

    /// The group the session joins (a new one of its own without): keep one per camera
    /// across reconnects, and wait out its stale sessions before connecting again (see
    /// [`SessionGroup`](crate::SessionGroup)).
    pub fn with_session_group(mut self, group: crate::SessionGroup) -> Self {
        self.session_group = Some(group);
        self
    }

    /// The URL with any password redacted.
    pub fn redacted_url(&self) -> String {
        crate::redact_url(&self.url)
    }
}
