//! The routes and their handlers: `/api/cameras`, `/api/cameras/{name}/recordings`,
//! `/metrics`, and the middleware every route passes (authentication, request metrics).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use catalog::listing::{CameraJson, CameraListing};
use catalog::{Catalog, OpenOptions, WallTime};
use serde::{Deserialize, Serialize};

use crate::auth::Users;
use crate::metrics::{Metrics, RequestLabels};
use crate::source::Recorder;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The configured cameras' names: the only names a URL may use.
    pub cameras: Arc<[String]>,
    pub catalog: Arc<CatalogReader>,
    pub recorder: Arc<dyn Recorder>,
    pub metrics: Arc<Metrics>,
    pub users: Arc<Users>,
    /// One permit per export being served.
    pub exports: Arc<tokio::sync::Semaphore>,
    /// `[http] max_exports`.
    pub max_exports: usize,
    /// Recent HLS plans.
    pub plans: Arc<crate::plans::Plans>,
    /// Recent exports.
    pub built: Arc<crate::plans::Exports>,
    /// The threads that build exports and plans.
    pub builders: Arc<crate::builders::Builders>,
}

/// An error answered as `{"error": "..."}` with its status.
#[derive(Debug)]
pub(crate) struct ApiError(pub StatusCode, pub String);

impl From<crate::builders::Stopping> for ApiError {
    fn from(_: crate::builders::Stopping) -> Self {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server is stopping".to_owned(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

/// A read-only connection to the catalog, opened when first needed (and again after an
/// error).
pub(crate) struct CatalogReader {
    path: PathBuf,
    conn: Mutex<Option<Catalog>>,
}

impl CatalogReader {
    pub fn new(path: PathBuf) -> Self {
        CatalogReader {
            path,
            conn: Mutex::new(None),
        }
    }

    /// Runs `f` on the connection, on a blocking thread.
    pub(crate) async fn with<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Catalog) -> Result<T, catalog::Error> + Send + 'static,
    ) -> Result<T, ApiError> {
        let this = Arc::clone(self);
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::warn!("http: catalog: {e}");
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "the catalog cannot be read now".to_owned(),
            )
        };
        tokio::task::spawn_blocking(move || {
            let mut conn = this.conn.lock().unwrap_or_else(PoisonError::into_inner);
            if conn.is_none() {
                let opened = OpenOptions::new()
                    .read_only(true)
                    .quick_check(false)
                    .open(&this.path)
                    .map_err(|e| unavailable(&e))?;
                *conn = Some(opened);
            }
            let result = f(conn.as_ref().expect("opened above"));
            if result.is_err() {
                *conn = None;
            }
            result.map_err(|e| unavailable(&e))
        })
        .await
        .map_err(|e| unavailable(&e))?
    }
}

/// Checks `name` against the configured cameras (404 otherwise). A name is never used
/// for anything else than this lookup and the catalog's `camera` column.
pub(crate) fn known_camera(cameras: &[String], name: &str) -> Result<(), ApiError> {
    if cameras.iter().any(|c| c == name) {
        Ok(())
    } else {
        Err(ApiError(StatusCode::NOT_FOUND, "no such camera".to_owned()))
    }
}

/// An RFC 3339 time of a query parameter.
pub(crate) fn parse_time(key: &str, text: Option<&str>) -> Result<Option<WallTime>, ApiError> {
    text.map(|t| {
        WallTime::parse_rfc3339(t).map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("{key}: invalid time {t:?}: expected RFC 3339 (2026-11-30T08:00:00Z)"),
            )
        })
    })
    .transpose()
}

/// One camera in `/api/cameras`.
#[derive(Debug, Serialize)]
pub(crate) struct CameraJsonLive {
    name: String,
    state: &'static str,
    since: Option<String>,
    video_fps: f64,
    bit_rate_bps: f64,
    file: Option<String>,
    reconnects: u64,
    last_error: Option<String>,
    first_recorded: Option<String>,
    last_recorded: Option<String>,
}

/// `GET /api/cameras`.
pub(crate) async fn cameras(State(state): State<AppState>) -> Response {
    let live = state.recorder.cameras();
    // The live figures stand without the catalog's.
    let summaries = state
        .catalog
        .with(|c| c.cameras())
        .await
        .unwrap_or_default();
    let cameras: Vec<CameraJsonLive> = live
        .into_iter()
        .map(|c| {
            let summary = summaries.iter().find(|s| s.name == c.name);
            CameraJsonLive {
                state: c.state,
                since: c.since.map(|t| WallTime::from_system_time(t).to_rfc3339()),
                video_fps: c.video_fps,
                bit_rate_bps: c.bit_rate_bps,
                file: c.file,
                reconnects: c.reconnects,
                last_error: c.last_error,
                first_recorded: summary.and_then(|s| s.first).map(WallTime::to_rfc3339),
                last_recorded: summary.and_then(|s| s.last).map(WallTime::to_rfc3339),
                name: c.name,
            }
        })
        .collect();
    Json(serde_json::json!({ "cameras": cameras })).into_response()
}

/// The query of `/recordings`.
#[derive(Debug, Deserialize)]
pub(crate) struct RangeQuery {
    start: Option<String>,
    end: Option<String>,
    files: Option<String>,
}

/// `GET /api/cameras/{name}/recordings?start=T&end=T[&files=1]`: as `recorder list
/// --json` prints one camera.
pub(crate) async fn recordings(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<CameraJson>, ApiError> {
    known_camera(&state.cameras, &name)?;
    let Query(q) = query.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let start = parse_time("start", q.start.as_deref())?;
    let end = parse_time("end", q.end.as_deref())?;
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "end must be after start".to_owned(),
        ));
    }
    let files = matches!(q.files.as_deref(), Some("1" | "true"));
    let listing = state
        .catalog
        .with(move |c| CameraListing::query(c, &name, start, end))
        .await?;
    Ok(Json(listing.to_json(files)))
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.encode();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// Any other path.
pub(crate) async fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not found".to_owned())
}

/// Lets a request through only with a configured user's credentials (when users are
/// configured): 401 with a Basic challenge otherwise.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.users.is_empty() {
        return next.run(request).await;
    }
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let users = Arc::clone(&state.users);
    let ok = tokio::task::spawn_blocking(move || users.check(header.as_deref()))
        .await
        .unwrap_or(false);
    if ok {
        return next.run(request).await;
    }
    let mut response = ApiError(
        StatusCode::UNAUTHORIZED,
        "authentication required".to_owned(),
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"recorder\", charset=\"UTF-8\""),
    );
    response
}

/// Counts each request by route and status.
pub(crate) async fn count(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let response = next.run(request).await;
    state
        .metrics
        .http_requests
        .get_or_create(&RequestLabels {
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_looked_up_not_used() {
        let cameras = ["front".to_owned(), "back yard".to_owned()];
        assert!(known_camera(&cameras, "front").is_ok());
        assert!(known_camera(&cameras, "back yard").is_ok());
        for bad in ["", "Front", "../front", "front/", "..", "../../etc/passwd"] {
            let e = known_camera(&cameras, bad).unwrap_err();
            assert_eq!(e.0, StatusCode::NOT_FOUND, "{bad}");
        }
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(
            parse_time("start", Some("2026-11-30T08:00:00.5Z")).unwrap(),
            Some(WallTime::parse_rfc3339("2026-11-30T08:00:00.5Z").unwrap())
        );
        assert_eq!(parse_time("start", None).unwrap(), None);
        let e = parse_time("end", Some("yesterday")).unwrap_err();
        assert_eq!(e.0, StatusCode::BAD_REQUEST);
        assert!(
            e.1.starts_with("end: invalid time \"yesterday\""),
            "{}",
            e.1
        );
    }
}
