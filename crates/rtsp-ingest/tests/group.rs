//! [`SessionGroup`] against the scripted fake RTSP server of the `tests` crate: a session
//! dropped while it plays stays in its group as stale until retina's background `TEARDOWN`
//! has reached the server, which is what the recorder waits for before it reconnects.
//!
//! Needs ffmpeg (the fake server's clip is made at test time).

use std::time::Duration;

use rtsp_ingest::{SessionGroup, Source, SourceOptions, StaleSessions};
use tests::fake_rtsp::{FakeRtspServer, Pacing, Script};

/// The session timeout the fake server announces in `SETUP` (`timeout=60`).
const SERVER_SESSION_TIMEOUT: Duration = Duration::from_secs(60);

fn playing_server() -> FakeRtspServer {
    let script = Script::normal()
        .expect("ffmpeg makes the test clip (apt-get install -y ffmpeg)")
        .with_pacing(Pacing::RealTime)
        .with_frames(900)
        .with_timeout(Duration::from_secs(30));
    FakeRtspServer::start(script).expect("start fake server")
}

fn teardowns(server: &FakeRtspServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|m| *m == "TEARDOWN")
        .count()
}

#[tokio::test]
async fn an_empty_group_has_nothing_to_wait_for() {
    let group = SessionGroup::new();
    assert_eq!(
        group.stale_sessions(),
        StaleSessions {
            count: 0,
            expires_within: None
        }
    );
    // Returns at once: a current-thread runtime with nothing else to run would hang on a
    // wait that never ends, and the timeout would fire.
    tokio::time::timeout(Duration::from_secs(5), group.await_stale_sessions())
        .await
        .expect("no stale session: no wait");
    assert_eq!(format!("{group:?}"), "SessionGroup { stale_sessions: 0 }");
}

/// A session dropped while playing (the recorder's session ended by a stall or an error,
/// without `close`) is stale, expiring within the server's session timeout; waiting for
/// the group returns once its `TEARDOWN` reached the server, and the group is empty then.
/// A clean `close` leaves nothing to wait for.
#[tokio::test]
async fn a_dropped_session_is_stale_until_torn_down() {
    let server = playing_server();
    let group = SessionGroup::new();
    let options = SourceOptions::new(server.url()).with_session_group(group.clone());
    let mut source = Source::connect(options.clone()).await.expect("connect");
    assert!(source.next().await.expect("a frame").is_some());
    assert_eq!(
        group.stale_sessions().count,
        0,
        "a live session is not stale"
    );

    drop(source);
    // The teardown runs in a task of this (current-thread) runtime: it has not run yet.
    let stale = group.stale_sessions();
    assert_eq!(stale.count, 1, "{stale:?}");
    let expires = stale.expires_within.expect("an expiry");
    assert!(
        expires <= SERVER_SESSION_TIMEOUT && expires > SERVER_SESSION_TIMEOUT / 2,
        "expires within {expires:?}"
    );
    assert_eq!(teardowns(&server), 0);
    assert_eq!(format!("{group:?}"), "SessionGroup { stale_sessions: 1 }");

    tokio::time::timeout(Duration::from_secs(20), group.await_stale_sessions())
        .await
        .expect("the teardown ends the wait");
    assert_eq!(teardowns(&server), 1, "{:?}", server.requests());
    assert_eq!(group.stale_sessions().count, 0);

    // A session closed cleanly is torn down before `close` returns.
    let source = Source::connect(options).await.expect("connect again");
    source.close().await.expect("close");
    assert_eq!(teardowns(&server), 2, "{:?}", server.requests());
    assert_eq!(group.stale_sessions().count, 0);
}
