//! What `recorder run` shows through the HTTP API (`http_api`): the cameras' live
//! figures from the status board, with every error redacted, the output file systems'
//! free space, the catalog's lag, and the file events counted into the metrics.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use http_api::{CameraLive, CatalogLag, FreeSpace, Metrics, Recorder};
use tokio::sync::broadcast;

use crate::archive::keeper::Archive;
use crate::camera::config::CameraConfig;
use crate::output::events::FileEvent;
use crate::output::file::FragmentTimers;
use crate::output::space::space;
use crate::session::status::{Snapshot, State, StatusBoard};
use crate::ui::exit::Usage;
use crate::ui::status::{Rates, rates};

/// Rates are measured over at least this long.
const RATE_INTERVAL: Duration = Duration::from_secs(2);

/// The first rates, from the start, are measured over at least this long.
const MIN_INTERVAL: Duration = Duration::from_millis(500);

/// A measurement of the board: when, its figures, and the rates since the one before.
type Measured = (Instant, Vec<Snapshot>, Vec<Rates>);

/// The recorder as `http_api` sees it.
pub struct Live {
    board: Arc<StatusBoard>,
    archive: Arc<Archive>,
    /// Each camera's secrets (its password, raw and as the URL spells it), scrubbed from
    /// whatever is shown.
    secrets: Vec<Vec<String>>,
    /// One directory per output file system.
    dirs: Vec<PathBuf>,
    /// The last measurement, and the rates it gave.
    last: Mutex<Option<Measured>>,
}

impl Live {
    /// The view of `board` and `archive`; `secrets[i]` are camera `i`'s passwords.
    pub fn new(board: Arc<StatusBoard>, archive: Arc<Archive>, secrets: Vec<Vec<String>>) -> Self {
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut devices = Vec::new();
        for c in &archive.settings.cameras {
            let dir = c.template.fixed_dir();
            let device = crate::archive::disk::device(&dir);
            if device.is_none() || !devices.contains(&device) {
                devices.push(device);
                dirs.push(dir);
            }
        }
        // The first measurement is the start, so the first request already has rates
        // (over the time since).
        let now = Instant::now();
        let first = board.snapshot(now);
        Live {
            board,
            archive,
            secrets,
            dirs,
            last: Mutex::new(Some((now, first, Vec::new()))),
        }
    }

    /// The rates now (over the last [`RATE_INTERVAL`] or more).
    fn rates(&self, now: Instant, snapshots: &[Snapshot]) -> Vec<Rates> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match last.as_ref() {
            Some((at, _, r))
                if now.saturating_duration_since(*at) < RATE_INTERVAL
                    && (!r.is_empty() || now.saturating_duration_since(*at) < MIN_INTERVAL) =>
            {
                r.clone()
            }
            previous => {
                let r: Vec<Rates> = match previous {
                    Some((at, before, _)) => before
                        .iter()
                        .zip(snapshots)
                        .map(|(b, a)| rates(b, a, now.saturating_duration_since(*at)))
                        .collect(),
                    None => Vec::new(),
                };
                *last = Some((now, snapshots.to_vec(), r.clone()));
                r
            }
        }
    }
}

/// A state's name in the API.
fn state_name(state: State) -> &'static str {
    match state {
        State::Connecting => "connecting",
        State::Recording => "recording",
        State::Waiting(_) => "waiting",
        State::NoSpace => "disk_full",
        State::Stopped => "stopped",
        State::Failed => "failed",
    }
}

/// `text` with every URL's password replaced by `***` and each of `secrets` too.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
            .map_or(0, |s| s + 1);
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || "\"'<>()[]{},".contains(c))
            .map_or(rest.len(), |e| i + e);
        out.push_str(&rest[..start]);
        out.push_str(&rtsp_ingest::redact_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret.as_str(), "***");
    }
    out
}

impl Recorder for Live {
    fn cameras(&self) -> Vec<CameraLive> {
        let now = Instant::now();
        let wall = SystemTime::now();
        let snapshots = self.board.snapshot(now);
        let rates = self.rates(now, &snapshots);
        snapshots
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let secrets = self.secrets.get(i).map_or(&[][..], Vec::as_slice);
                let (fps, bps) = match (s.state, rates.get(i)) {
                    (State::Recording, Some(r)) => (r.video_fps, r.kbit_s * 1000.0),
                    _ => (0.0, 0.0),
                };
                CameraLive {
                    state: state_name(s.state),
                    since: wall.checked_sub(s.in_state),
                    video_fps: fps,
                    bit_rate_bps: bps,
                    file: s.file.map(|f| redact(&f.display().to_string(), secrets)),
                    reconnects: u64::from(s.reconnects),
                    last_error: s.last_error.map(|e| redact(&e, secrets)),
                    video_frames: s.video_frames,
                    audio_frames: s.audio_frames,
                    bytes: s.bytes,
                    packets_lost: s.packets_lost,
                    name: s.name,
                }
            })
            .collect()
    }

    fn free_space(&self) -> Vec<FreeSpace> {
        self.dirs
            .iter()
            .filter_map(|dir| {
                let (total, available) = space(dir).ok()?;
                Some(FreeSpace {
                    path: dir.display().to_string(),
                    total_bytes: total,
                    available_bytes: available,
                })
            })
            .collect()
    }

    fn catalog_lag(&self) -> CatalogLag {
        self.archive.lag()
    }

    fn with_live(&self, name: &str, f: &mut dyn FnMut(&mut mp4_export::live::Live)) -> bool {
        let Some(camera) = self.board.by_name(name) else {
            return false;
        };
        f(&mut camera.live().lock());
        true
    }
}

/// A camera's passwords, as resolved and as its URL spells them (percent-encoded), to
/// be scrubbed from what the API shows.
pub fn secrets(camera: &CameraConfig) -> Vec<String> {
    let mut out: Vec<String> = camera
        .credentials
        .iter()
        .map(|c| c.password().to_owned())
        .collect();
    let rest = camera.url.split_once("://").map_or("", |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        out.push(password.to_owned());
    }
    out.retain(|s| !s.is_empty());
    out
}

/// The HTTP server of a run and what feeds it.
pub struct Serving {
    server: http_api::Server,
    counter: tokio::task::JoinHandle<()>,
}

impl Serving {
    /// Starts serving `config`: the metrics fed from `events`, the board and the archive,
    /// each camera's fragment latencies measured. A refused configuration or an address
    /// that cannot be listened on is a [`Usage`] error (exit 2).
    pub fn start(
        config: http_api::Config,
        cameras: &[CameraConfig],
        board: &Arc<StatusBoard>,
        archive: &Arc<Archive>,
        events: broadcast::Receiver<FileEvent>,
    ) -> anyhow::Result<Serving> {
        let names: Vec<String> = cameras
            .iter()
            .map(|c| c.name.clone().unwrap_or_default())
            .collect();
        let live: Arc<dyn Recorder> = Arc::new(Live::new(
            Arc::clone(board),
            Arc::clone(archive),
            cameras.iter().map(secrets).collect(),
        ));
        let metrics = Metrics::new(Arc::clone(&live));
        archive.set_metrics(Arc::clone(&metrics));
        for (i, name) in names.iter().enumerate() {
            let label = Metrics::camera(name);
            board.camera(i).set_timers(FragmentTimers {
                write: metrics.fragment_write.get_or_create_owned(&label),
                sync: metrics.fragment_fsync.get_or_create_owned(&label),
            });
        }
        let server = http_api::Server::start(http_api::Api {
            config,
            cameras: names,
            catalog: archive.settings.catalog.clone(),
            recorder: live,
            metrics: Arc::clone(&metrics),
        })
        .map_err(|e| Usage(e.to_string()))?;
        let counter = count_files(metrics, events);
        Ok(Serving { server, counter })
    }

    /// Stops the server (call once every writer has finished: the file counter ends with
    /// the events' channel).
    pub async fn stop(self) {
        let server = self.server;
        let _ = tokio::task::spawn_blocking(move || server.stop()).await;
        let _ = self.counter.await;
    }
}

/// Counts finished and failed files into `metrics` as their events come (a task on the
/// caller's runtime, ending with the events' channel).
pub fn count_files(
    metrics: Arc<Metrics>,
    mut events: broadcast::Receiver<FileEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(FileEvent::Finished(f)) => {
                    metrics
                        .files_finished
                        .get_or_create(&Metrics::camera(&f.camera))
                        .inc();
                }
                Ok(FileEvent::Failed { camera, .. }) => {
                    metrics
                        .files_failed
                        .get_or_create(&Metrics::camera(&camera))
                        .inc();
                }
                Ok(FileEvent::Opened { .. }) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("metrics: missed {n} file event(s)");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_passwords_are_redacted() {
        let secrets = vec!["p@ss".to_owned(), "p%40ss".to_owned()];
        let text = "cannot connect to rtsp://user:p%40ss@10.0.0.5:554/s1 (\"rtsp://a:b@h/\"): \
                    401, password p@ss refused";
        let shown = redact(text, &secrets);
        assert_eq!(
            shown,
            "cannot connect to rtsp://user:***@10.0.0.5:554/s1 (\"rtsp://a:***@h/\"): 401, \
             password *** refused"
        );
        assert_eq!(redact("no url here", &[]), "no url here");
        assert_eq!(redact("x rtsp://h/s", &[]), "x rtsp://h/s");
    }
}
