//! `GET /api/cameras/{name}/live.m3u8`: the live edge of a camera as an HLS live
//! playlist (RFC 8216 v7, fMP4), from the fragments the recorder hands to its writer,
//! with its init segments at `live/init/{i}.mp4` and media segments at
//! `live/seg/{sequence}.m4s`. Each playlist request marks the camera's edge watched for
//! [`WATCH_FOR`] (fragments are kept only while watched); a request that finds no
//! fragment yet waits up to [`FIRST_FRAGMENT_WAIT`] for one, so that a player starting
//! to watch gets a playlist with a segment in it.

use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use mp4_export::Part;

use crate::api::{ApiError, AppState, known_camera};
use crate::hls::index;

/// How long a playlist request keeps the camera's fragments coming.
pub const WATCH_FOR: Duration = Duration::from_secs(60);

/// How long a playlist request waits for a first fragment when none is kept.
pub const FIRST_FRAGMENT_WAIT: Duration = Duration::from_secs(3);

/// How often it looks while it waits.
const POLL: Duration = Duration::from_millis(100);

/// The system clock in Unix nanoseconds (the [`Live`](mp4_export::live::Live) is pure:
/// the server tells it the time).
fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn no_live() -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "no live view of this camera now".to_owned(),
    )
}

fn gone() -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "no such segment (gone from the live edge)".to_owned(),
    )
}

/// `GET /api/cameras/{name}/live.m3u8`.
pub(crate) async fn playlist(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    known_camera(&state.cameras, &name)?;
    let watch_ns = i64::try_from(WATCH_FOR.as_nanos()).unwrap_or(i64::MAX);
    let deadline = Instant::now() + FIRST_FRAGMENT_WAIT;
    let text = loop {
        let mut text = None;
        let found = state.recorder.with_live(&name, &mut |live| {
            live.watch(now_ns(), watch_ns);
            if !live.is_empty() || Instant::now() >= deadline {
                text = Some(live.playlist(
                    |i| format!("live/init/{i}.mp4"),
                    |s| format!("live/seg/{s}.m4s"),
                ));
            }
        });
        if !found {
            return Err(no_live());
        }
        if let Some(text) = text {
            break text;
        }
        tokio::time::sleep(POLL).await;
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.apple.mpegurl"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        text,
    )
        .into_response())
}

/// `GET /api/cameras/{name}/live/init/{i}.mp4`: 404 once neither the current file nor a
/// kept segment uses it.
pub(crate) async fn init_segment(
    State(state): State<AppState>,
    Path((name, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    known_camera(&state.cameras, &name)?;
    let i = index(&file, ".mp4")?;
    let mut init = None;
    if !state.recorder.with_live(&name, &mut |live| {
        init = live.init(i as u64);
    }) {
        return Err(no_live());
    }
    let init = init.ok_or_else(gone)?;
    Ok(([(header::CONTENT_TYPE, "video/mp4")], init).into_response())
}

/// `GET /api/cameras/{name}/live/seg/{sequence}.m4s`: 404 once it left the live edge.
pub(crate) async fn media_segment(
    State(state): State<AppState>,
    Path((name, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    known_camera(&state.cameras, &name)?;
    let sequence = index(&file, ".m4s")?;
    let mut parts: Option<Vec<Bytes>> = None;
    if !state.recorder.with_live(&name, &mut |live| {
        // Only the fragment's `Bytes` handles are cloned under the lock.
        parts = live.segment(sequence as u64).map(|body| {
            body.parts()
                .iter()
                .filter_map(|p| match p {
                    Part::Bytes(b) => Some(b.clone()),
                    Part::Source { .. } => None,
                })
                .collect()
        });
    }) {
        return Err(no_live());
    }
    let parts = parts.ok_or_else(gone)?;
    let mut body = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
    for p in &parts {
        body.extend_from_slice(p);
    }
    Ok(([(header::CONTENT_TYPE, "video/iso.segment")], body.freeze()).into_response())
}
