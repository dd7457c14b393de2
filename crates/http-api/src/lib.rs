//! The recorder's HTTP API, on a tokio runtime of its own so that serving never delays
//! recording and recording never delays a response.
//!
//! - `GET /api/cameras`: each camera's live figures (from the [`Recorder`] the binary
//!   implements) and its first and last recorded instants (from the catalog).
//! - `GET /api/cameras/{name}/recordings?start=T&end=T[&files=1]`: spans, gaps and
//!   files, in the shape of [`catalog::listing`] (what `recorder list --json` prints).
//! - `GET /api/cameras/{name}/live.m3u8`: the camera's live edge as an HLS live
//!   playlist, with `live/init/{i}.mp4` and `live/seg/{sequence}.m4s` (from the
//!   [`Recorder::with_live`] edge; each request keeps it watched for [`WATCH_FOR`]).
//! - `GET /`: the web page ([`page`]), with `/app.js` and `/app.css`.
//! - `GET /metrics`: Prometheus (OpenMetrics) text ([`Metrics`]).
//!
//! Security: [`Config::check`] refuses a non-loopback address without users; with users,
//! every route needs HTTP Basic credentials checked against Argon2 hashes ([`auth`]).
//! Camera names in URLs are only compared with the configured names, file paths come
//! from the catalog only, there are no CORS headers, request headers are limited to
//! [`MAX_HEADER_BYTES`], bodies to [`MAX_BODY_BYTES`], and a request gets
//! [`REQUEST_TIMEOUT`] to be answered.
//!
//! ```no_run
//! use std::sync::Arc;
//! use http_api::{Api, CameraLive, CatalogLag, Config, FreeSpace, Metrics, Recorder, Server};
//!
//! struct Idle;
//! impl Recorder for Idle {
//!     fn cameras(&self) -> Vec<CameraLive> {
//!         vec![CameraLive { name: "door".into(), state: "connecting", ..Default::default() }]
//!     }
//!     fn free_space(&self) -> Vec<FreeSpace> { Vec::new() }
//!     fn catalog_lag(&self) -> CatalogLag { CatalogLag::default() }
//! }
//!
//! let recorder: Arc<dyn Recorder> = Arc::new(Idle);
//! let server = Server::start(Api {
//!     config: Config::default(),
//!     cameras: vec!["door".into()],
//!     catalog: "recordings/catalog.db".into(),
//!     metrics: Metrics::new(Arc::clone(&recorder)),
//!     recorder,
//! })?;
//! println!("listening on {}", server.local_addr());
//! server.stop();
//! # Ok::<(), http_api::Error>(())
//! ```

mod api;
pub mod auth;
mod builders;
pub mod config;
mod export;
mod hls;
mod live;
pub mod metrics;
mod movies;
pub mod page;
pub mod plans;
pub mod range;
mod source;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use crate::config::{Config, User};
pub use crate::live::{FIRST_FRAGMENT_WAIT, WATCH_FOR};
pub use crate::metrics::Metrics;
pub use crate::source::{CameraLive, CatalogLag, FreeSpace, Recorder};

use crate::api::{AppState, CatalogReader};
use crate::auth::Users;

/// The most bytes of a request's head (request line and headers); more gets 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The most bytes of a request's body; more gets 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Time to answer a request (its response's head); longer gets 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Time for a client to send a request's head; then the connection is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Worker threads of the server's runtime.
const WORKERS: usize = 2;

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `[http]` configuration is refused (one line saying what to change).
    #[error("{0}")]
    Config(String),
    /// The address cannot be listened on.
    #[error("http: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime or its thread could not be made.
    #[error("http: cannot start: {0}")]
    Start(std::io::Error),
}

/// What the server serves.
pub struct Api {
    /// `[http]`.
    pub config: Config,
    /// The configured cameras' names: the only names URLs may use.
    pub cameras: Vec<String>,
    /// The catalog's database (read through a read-only connection of the server's own).
    pub catalog: PathBuf,
    /// The recorder's live figures.
    pub recorder: Arc<dyn Recorder>,
    /// The metrics (`Metrics::new` with the same recorder).
    pub metrics: Arc<Metrics>,
}

/// The routes with their middleware.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/cameras", get(api::cameras))
        .route("/api/cameras/{name}/recordings", get(api::recordings))
        .route("/api/cameras/{name}/export.mp4", get(export::export_mp4))
        .route("/api/cameras/{name}/vod.m3u8", get(hls::playlist))
        .route(
            "/api/cameras/{name}/vod/init/{file}",
            get(hls::init_segment),
        )
        .route(
            "/api/cameras/{name}/vod/seg/{file}",
            get(hls::media_segment),
        )
        .route("/api/cameras/{name}/live.m3u8", get(live::playlist))
        .route(
            "/api/cameras/{name}/live/init/{file}",
            get(live::init_segment),
        )
        .route(
            "/api/cameras/{name}/live/seg/{file}",
            get(live::media_segment),
        )
        .route("/", get(page::index))
        .route("/app.js", get(page::app_js))
        .route("/app.css", get(page::app_css))
        .route("/metrics", get(api::metrics))
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::count,
        ))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The running server.
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// Checks the configuration, listens, and serves on a thread and runtime of its
    /// own until [`Server::stop`].
    pub fn start(api: Api) -> Result<Server, Error> {
        api.config.check().map_err(Error::Config)?;
        let addr = api.config.listen;
        let listener =
            std::net::TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| Error::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("http")
            .enable_all()
            .build()
            .map_err(Error::Start)?;
        let state = AppState {
            cameras: api.cameras.into(),
            catalog: Arc::new(CatalogReader::new(api.catalog)),
            recorder: api.recorder,
            metrics: api.metrics,
            exports: Arc::new(tokio::sync::Semaphore::new(api.config.max_exports)),
            max_exports: api.config.max_exports,
            plans: Arc::default(),
            built: Arc::default(),
            builders: Arc::new(
                builders::Builders::start(builders::BUILDERS).map_err(Error::Start)?,
            ),
            users: Arc::new(Users::new(
                api.config
                    .users
                    .iter()
                    .map(|u| (u.name.clone(), u.password_hash.clone())),
            )),
        };
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("http".to_owned())
            .spawn(move || {
                runtime.block_on(serve(listener, router(state), stopped));
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(Error::Start)?;
        tracing::info!("http: listening on http://{local}");
        Ok(Server {
            addr: local,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening and ends the connections (within a second).
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Accepts connections until `stopped`, each served by hyper's HTTP/1 with the limits.
async fn serve(
    listener: std::net::TcpListener,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("http: cannot listen: {e}");
            return;
        }
    };
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!("http: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
