//! Sessions of one camera across reconnects.

use std::sync::Arc;
use std::time::Duration;

/// The sessions of one camera (or one URL), kept across reconnects.
///
/// When a session ends badly (the connection broke, the server stopped answering), the
/// server may still hold it, and some cameras accept only one or two sessions at a time.
/// retina tears such a session down in the background and remembers it in its group;
/// [`await_stale_sessions`](Self::await_stale_sessions) waits until they are torn down or
/// expired, which is what to do before connecting again. Cloning gives another handle to
/// the same group; pass it to each connection with
/// [`SourceOptions::with_session_group`](crate::SourceOptions::with_session_group).
#[derive(Clone, Default)]
pub struct SessionGroup {
    pub(crate) inner: Arc<retina::client::SessionGroup>,
}

impl std::fmt::Debug for SessionGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stale = self.stale_sessions();
        f.debug_struct("SessionGroup")
            .field("stale_sessions", &stale.count)
            .finish()
    }
}

/// Sessions of a [`SessionGroup`] that may still be playing on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleSessions {
    /// How many.
    pub count: usize,
    /// The longest time, from now, until the last of them expires on the server.
    pub expires_within: Option<Duration>,
}

impl SessionGroup {
    /// An empty group.
    pub fn new() -> Self {
        Self::default()
    }

    /// The sessions that may still be playing on the server.
    pub fn stale_sessions(&self) -> StaleSessions {
        let status = self.inner.stale_sessions();
        StaleSessions {
            count: status.num_sessions,
            expires_within: status.max_expires.map(|t| {
                t.into_std()
                    .saturating_duration_since(std::time::Instant::now())
            }),
        }
    }

    /// Waits until every session that may be playing now has been torn down or has
    /// expired (at most the server's session timeout, about a minute). Returns at once
    /// when there is none. Bound it with `tokio::time::timeout` if needed.
    pub async fn await_stale_sessions(&self) {
        let status = self.inner.stale_sessions();
        if status.num_sessions > 0 {
            self.inner.await_stale_sessions(&status).await;
        }
    }
}
