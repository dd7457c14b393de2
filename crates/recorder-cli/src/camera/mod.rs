//! One camera, recorded until the end: sessions, reconnects with backoff, signals.
//!
//! `recorder record` is one camera; `recorder run` is many, each in its own task. A camera
//! connects, records a session (see [`crate::session::recording::Recording`]) and, when the session
//! fails (the server went away, the connection broke, an RTSP error, no media for the
//! stall timeout, the server ended it), finishes its files and connects again after a
//! backoff delay ([`backoff`]), each session in new files. Errors that reconnecting
//! cannot cure (rejected credentials, a missing stream, no usable stream, trouble with
//! the output files) end the camera at once. A full disk is none of these: the session
//! stays up and drops frames until there is space (see
//! [`crate::session::recording`]); the camera then ends with the full-disk error (exit
//! code 7), after its duration, so that an unattended run's owner learns of the gap.
//!
//! With a duration `D`, the camera's run ends at `T0 + D` on the wall clock, where `T0`
//! is the instant the first session's first keyframe arrived: the first session records
//! exactly `D` of media from that keyframe if nothing breaks, and a later session records
//! up to that same instant. While no session has started, it gives up at `start + D`.

pub mod backoff;
pub mod config;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use rtsp_ingest::{SessionGroup, Source};
use tokio::time::Instant;

use crate::camera::backoff::Backoff;
pub use crate::camera::config::CameraConfig;
use crate::output::events::{EndReason, FileEvents};
use crate::output::format::OutputFormat;
use crate::output::space::Reclaimer;
use crate::output::target::Output;
use crate::session::recording::{
    Failure, Recording, SessionEnd, SessionTotals, close, log_connected,
};
use crate::session::router::RouterConfig;
pub use crate::session::shutdown::Shutdown;
use crate::session::status::{CameraStatus, State};

/// Shortest time allowed for connecting (`DESCRIBE` to the first keyframe); the stall
/// timeout when longer.
const MIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Longest wait for stale sessions on the server before connecting again anyway.
const MAX_STALE_WAIT: Duration = Duration::from_secs(70);

/// Installs the SIGINT and SIGTERM handlers (now, so a signal while connecting is not
/// missed). The first signal asks every camera to finish its files; a second one exits
/// at once with code 130, leaving the `.partial` files for the next run to repair.
pub fn install_signal_handlers() -> anyhow::Result<Shutdown> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let (tx, shutdown) = Shutdown::manual();
    async fn next(
        sigint: &mut tokio::signal::unix::Signal,
        sigterm: &mut tokio::signal::unix::Signal,
    ) -> &'static str {
        tokio::select! {
            _ = sigint.recv() => "SIGINT",
            _ = sigterm.recv() => "SIGTERM",
        }
    }
    tokio::spawn(async move {
        let first = next(&mut sigint, &mut sigterm).await;
        tracing::info!("stopping on {first}: finishing the files (a second signal exits at once)");
        let _ = tx.send(Some(first));
        let second = next(&mut sigint, &mut sigterm).await;
        tracing::warn!(
            "{second} again: exiting at once; the .partial files are repaired by the next run"
        );
        std::process::exit(130);
    });
    Ok(shutdown)
}

/// Records one camera until `duration` is over (see the module documentation), a signal,
/// a fatal error, or `max_retries` failed reconnects in a row. `salt` varies the backoff
/// jitter between cameras; `status` gets the camera's live figures; its files' life goes
/// to `events`; `reclaim`, when given, is asked for space when the disk is full. Ends
/// with an error when no file was written, a fatal error ended it, or frames were
/// dropped because the disk was full; the files written are finished either way.
pub async fn run_camera(
    camera: CameraConfig,
    duration: Option<Duration>,
    mut shutdown: Shutdown,
    salt: u64,
    status: Arc<CameraStatus>,
    events: FileEvents,
    reclaim: Option<Reclaimer>,
) -> anyhow::Result<()> {
    let result = record_camera(
        camera,
        duration,
        &mut shutdown,
        salt,
        (&status, &events),
        reclaim,
    )
    .await;
    match &result {
        Ok(()) => status.set_state(State::Stopped),
        Err(e) => {
            status.set_error(e);
            status.set_state(State::Failed);
        }
    }
    result
}

/// [`run_camera`] without the final status.
async fn record_camera(
    camera: CameraConfig,
    duration: Option<Duration>,
    shutdown: &mut Shutdown,
    salt: u64,
    (status, events): (&Arc<CameraStatus>, &FileEvents),
    reclaim: Option<Reclaimer>,
) -> anyhow::Result<()> {
    let format = camera.format;
    let output = Output::new(&camera.output, camera.utc, format, camera.sync)?;
    output.repair_leftovers();
    let group = SessionGroup::new();
    let options = camera.source_options().with_session_group(group.clone());
    let url = options.redacted_url();
    let connect_timeout = camera.stall_timeout.max(MIN_CONNECT_TIMEOUT);
    let mut backoff = Backoff::from_entropy(salt);
    let started = Instant::now();
    // The wall-clock end, fixed by the first session's first keyframe.
    let mut deadline: Option<Instant> = None;
    let mut totals = SessionTotals::default();
    let mut sessions = 0u32;
    // Failed reconnects since the last session that delivered media.
    let mut retries = 0u32;
    let mut attempts = 0u32;
    let mut last_error: Option<anyhow::Error> = None;
    let mut fatal: Option<anyhow::Error> = None;
    let mut stopped_by: Option<&'static str> = None;
    // The first full-disk error, reported at the end.
    let mut disk_full: Option<anyhow::Error> = None;

    loop {
        let give_up_at = duration.map(|d| deadline.unwrap_or(started + d));
        if retries == 0 {
            tracing::info!("connecting to {url}");
        } else {
            tracing::info!("reconnecting to {url} (retry {retries})");
        }
        status.set_state(State::Connecting);
        let connect_started = Instant::now();
        attempts += 1;
        let connected = tokio::select! {
            biased;
            signal = shutdown.recv() => {
                stopped_by = Some(signal);
                break;
            }
            _ = tokio::time::sleep_until(give_up_at.unwrap_or(started)), if give_up_at.is_some() => {
                tracing::info!("end of the requested duration while connecting to {url}");
                break;
            }
            r = tokio::time::timeout(connect_timeout, Source::connect(options.clone())) => r,
        };
        let failure = match connected {
            Err(_) => Failure::retryable(anyhow::Error::new(
                crate::session::recording::Disconnected(format!(
                    "cannot record {url}: no keyframe within {} of connecting",
                    humantime::format_duration(connect_timeout)
                )),
            )),
            Ok(Err(e)) => Failure::from_source(e, format!("cannot record {url}")),
            Ok(Ok(mut source)) => {
                sessions += 1;
                retries = 0;
                backoff.reset();
                let now = Instant::now();
                let end = duration.map(|d| *deadline.get_or_insert(now + d));
                let limit = end.map(|e| e.saturating_duration_since(now));
                log_connected(&source, connect_started.elapsed());
                let recording = Recording::new(
                    &source,
                    output.clone(),
                    RouterConfig {
                        segment_duration: camera.segment_duration,
                        max_file_duration: camera.max_file_duration,
                        max_file_bytes: camera.max_file_bytes,
                        limit,
                        fragment_duration: camera.fragment_duration,
                        reserve_moov: format == OutputFormat::Mp4,
                        audio_storage: camera.audio_format,
                    },
                    Arc::clone(status),
                    events.clone(),
                    reclaim.clone(),
                );
                let mut recording = match recording {
                    Ok(r) => {
                        status.set_state(State::Recording);
                        r
                    }
                    Err(e) => {
                        close(source).await;
                        fatal = Some(e);
                        break;
                    }
                };
                let ended = recording
                    .run(
                        &mut source,
                        shutdown,
                        camera.stall_timeout,
                        end,
                        camera.transport == rtsp_ingest::Transport::Tcp,
                    )
                    .await;
                let reason = match ended {
                    SessionEnd::Done | SessionEnd::Stopped(_) => EndReason::Stopped,
                    SessionEnd::Failed(_) => EndReason::SessionEnded,
                };
                let (t, finish_error, full) = recording.finish(reason).await;
                if disk_full.is_none() {
                    disk_full = full;
                }
                close(source).await;
                if t.files > 0
                    && (!matches!(ended, SessionEnd::Done | SessionEnd::Stopped(_))
                        || sessions > 1
                        || finish_error.is_some())
                {
                    tracing::info!(
                        "session {sessions}: {} video frames, {} audio frames, {:.3} s, in {} \
                         file(s)",
                        t.video_frames,
                        t.audio_frames,
                        t.duration_s,
                        t.files
                    );
                }
                totals.add(t);
                if let Some(e) = finish_error {
                    // Files cannot be written: reconnecting will not help.
                    if let SessionEnd::Failed(f) = ended {
                        tracing::error!("{:#}", f.error);
                    }
                    fatal = Some(e);
                    break;
                }
                match ended {
                    SessionEnd::Done => break,
                    SessionEnd::Stopped(signal) => {
                        stopped_by = Some(signal);
                        break;
                    }
                    SessionEnd::Failed(f) => Failure {
                        retryable: f.retryable,
                        error: f.error.context(format!("recording {url} stopped")),
                    },
                }
            }
        };
        if !failure.retryable {
            fatal = Some(failure.error);
            break;
        }
        if let Some(why) = give_up(camera.max_retries, retries) {
            fatal = Some(failure.error.context(why));
            break;
        }
        retries += 1;
        let delay = backoff.next_delay();
        tracing::warn!(
            "{}",
            reconnect_line(&failure.error, delay, retries, camera.max_retries)
        );
        status.set_error(&failure.error);
        status.add_reconnect();
        status.set_state(State::Waiting(delay));
        last_error = Some(failure.error);
        let give_up_at = duration.map(|d| deadline.unwrap_or(started + d));
        let waited = tokio::select! {
            biased;
            signal = shutdown.recv() => Err(Some(signal)),
            _ = tokio::time::sleep_until(give_up_at.unwrap_or(started)), if give_up_at.is_some() => Err(None),
            () = wait_before_reconnect(&group, delay) => Ok(()),
        };
        match waited {
            Ok(()) => {}
            Err(signal) => {
                stopped_by = signal;
                if signal.is_none() {
                    tracing::info!("end of the requested duration while waiting to reconnect");
                }
                break;
            }
        }
    }

    if totals.files > 0 {
        // A stable, parseable line.
        let over = if sessions > 1 {
            format!(" over {sessions} sessions")
        } else {
            String::new()
        };
        tracing::info!(
            "recorded {} video frames, {} audio frames, {:.3} s, in {} file(s){over}",
            totals.video_frames,
            totals.audio_frames,
            totals.duration_s,
            totals.files
        );
    }
    if let Some(e) = fatal {
        if let Some(full) = disk_full {
            tracing::error!("{full:#}");
        }
        return Err(e);
    }
    if let Some(full) = disk_full {
        // The recording went on, but with a gap: an output error (exit code 7).
        return Err(full.context(format!(
            "{} frame(s) dropped while the disk was full; {} file(s) written",
            totals.dropped_no_space, totals.files
        )));
    }
    if totals.files == 0 {
        if let Some(signal) = stopped_by {
            bail!("interrupted by {signal} before recording started; no file written");
        }
        return Err(match last_error {
            Some(e) => e.context(format!(
                "no media was received; no file written ({attempts} connection attempt(s))"
            )),
            None => anyhow!("no media was received; no file written"),
        });
    }
    Ok(())
}

/// Why a camera gives up after a failure that reconnecting could cure, when
/// `retries` failed reconnections in a row came before it and `--max-retries` is
/// `max_retries`; `None`: reconnect.
fn give_up(max_retries: Option<u32>, retries: u32) -> Option<String> {
    let max = max_retries?;
    (retries >= max).then(|| {
        if retries == 0 {
            "not reconnecting (--max-retries 0)".to_owned()
        } else {
            format!("giving up after {retries} failed reconnection(s) (--max-retries {max})")
        }
    })
}

/// The warning logged before reconnection number `retry` (from 1), `delay` after
/// `error`.
fn reconnect_line(
    error: &anyhow::Error,
    delay: Duration,
    retry: u32,
    max_retries: Option<u32>,
) -> String {
    let of_max = max_retries.map_or_else(String::new, |m| format!(" of {m}"));
    format!(
        "{error:#}; reconnecting in {:.1} s (retry {retry}{of_max})",
        delay.as_secs_f64()
    )
}

/// Sleeps `delay`, then waits (bounded) for the camera's stale sessions to be torn down
/// or to expire on the server, logging when there are any.
async fn wait_before_reconnect(group: &SessionGroup, delay: Duration) {
    tokio::time::sleep(delay).await;
    let stale = group.stale_sessions();
    if stale.count == 0 {
        return;
    }
    tracing::info!(
        "waiting for {} stale session(s) on the server to be torn down or expire (at most {:.0} s)",
        stale.count,
        stale
            .expires_within
            .unwrap_or(MAX_STALE_WAIT)
            .min(MAX_STALE_WAIT)
            .as_secs_f64()
    );
    if tokio::time::timeout(MAX_STALE_WAIT, group.await_stale_sessions())
        .await
        .is_err()
    {
        tracing::warn!("stale sessions still there; connecting anyway");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_up_only_when_the_retries_are_spent() {
        // Never, without `--max-retries`.
        assert_eq!(give_up(None, 0), None);
        assert_eq!(give_up(None, 1000), None);
        // `--max-retries 0`: the first failure ends it.
        assert_eq!(
            give_up(Some(0), 0).as_deref(),
            Some("not reconnecting (--max-retries 0)")
        );
        // `--max-retries 2`: two reconnections fail, the third failure ends it.
        assert_eq!(give_up(Some(2), 0), None);
        assert_eq!(give_up(Some(2), 1), None);
        assert_eq!(
            give_up(Some(2), 2).as_deref(),
            Some("giving up after 2 failed reconnection(s) (--max-retries 2)")
        );
    }

    #[test]
    fn reconnect_line_names_the_cause_the_wait_and_the_count() {
        let error =
            anyhow!("the server ended the session").context("recording rtsp://cam/x stopped");
        assert_eq!(
            reconnect_line(&error, Duration::from_millis(940), 1, None),
            "recording rtsp://cam/x stopped: the server ended the session; reconnecting in 0.9 s \
             (retry 1)"
        );
        assert_eq!(
            reconnect_line(&error, Duration::from_secs(4), 3, Some(5)),
            "recording rtsp://cam/x stopped: the server ended the session; reconnecting in 4.0 s \
             (retry 3 of 5)"
        );
    }
}
