//! `recorder run --config FILE`: many cameras in one process, each in its own task with
//! its own reconnects; one camera's failure never stops another.

use std::sync::Arc;

use anyhow::anyhow;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::camera::{install_signal_handlers, run_camera};
use catalog::retention::MinFree;

use crate::archive::http::Serving;
use crate::archive::keeper::{Archive, Keeper};
use crate::archive::settings::{ArchiveSettings, shown};
use crate::options::args::RunArgs;
use crate::output::events::FileEvents;
use crate::output::space::Reclaimer;
use crate::output::target::Output;
use crate::session::status::StatusBoard;
use crate::ui::exit::Usage;
use crate::ui::status::{Display, LiveTerminal};

/// Runs `recorder run`: ends when every camera has ended (or on a signal, once every
/// file is finished). Fails when a camera failed, with the first failure's error.
/// Their status is shown on `live` when given (else logged every minute).
pub async fn run(args: RunArgs, live: Option<Arc<LiveTerminal>>) -> anyhow::Result<()> {
    let config = crate::options::file::load(&args.config, args.duration)?;
    let settings = ArchiveSettings::new(config.catalog.clone(), config.min_free, &config.cameras)?;
    let cameras = config.cameras;
    // `--http ADDR` enables the server, or moves it.
    let http = match (config.http, args.http) {
        (None, None) => None,
        (c, addr) => {
            let mut c = c.unwrap_or_default();
            c.listen = addr.unwrap_or(c.listen);
            Some(c)
        }
    };
    if let Some(c) = &http {
        c.check()
            .map_err(|e| Usage(format!("config {}: {e}", args.config.display())))?;
    }
    if args.check {
        let text: Vec<String> = cameras
            .iter()
            .map(crate::options::show::effective)
            .collect();
        let min_free = min_free_text(settings.min_free);
        #[allow(clippy::print_stdout)]
        {
            println!(
                "# {}: {} camera(s), valid\n# catalog: {}\n# min_free: {min_free}\n# http: \
                 {}\n\n{}",
                args.config.display(),
                cameras.len(),
                shown(&settings.catalog),
                http.as_ref().map_or_else(
                    || "off".to_owned(),
                    |c| format!("{} ({} user(s))", c.listen, c.users.len())
                ),
                text.join("\n")
            );
        }
        return Ok(());
    }
    raise_open_files_limit();
    // The catalog first: one that cannot be used is an error before anything starts.
    let archive = Archive::open(settings, false)?;
    // Leftovers of an earlier run are repaired before the catalog is reconciled, so that
    // it finds them (each camera would repair them at its start too).
    for camera in &cameras {
        if let Ok(output) = Output::new(&camera.output, camera.utc, camera.format, camera.sync) {
            output.repair_leftovers();
        }
    }
    let reconciled = {
        let archive = Arc::clone(&archive);
        tokio::task::spawn_blocking(move || archive.reconcile()).await?
    };
    match reconciled {
        Ok(r) => tracing::info!(
            "catalog {}: {} file(s); {} found on disk and added, {} gone and dropped, {} \
             skipped",
            shown(&archive.settings.catalog),
            r.files,
            r.added,
            r.removed,
            r.skipped
        ),
        // Recording goes on; the catalog catches up at the next start.
        Err(e) => tracing::warn!("catalog: cannot reconcile with the disk: {e:#}"),
    }
    let shutdown = install_signal_handlers()?;
    let count = cameras.len();
    tracing::info!("recording {count} camera(s) from {}", args.config.display());
    let board = StatusBoard::new(cameras.iter().map(|c| c.name.clone().unwrap_or_default()));
    let events = FileEvents::new();
    let display = Display::spawn(Arc::clone(&board), live, events.subscribe());
    let keeper = Keeper::spawn(Arc::clone(&archive), events.subscribe());
    let serving = match http {
        Some(c) => Some(Serving::start(
            c,
            &cameras,
            &board,
            &archive,
            events.subscribe(),
        )?),
        None => None,
    };
    // With retention configured, a full disk deletes the oldest recordings at once.
    let reclaim = archive
        .retention_configured()
        .then(|| Reclaimer(Arc::clone(&archive) as Arc<dyn crate::output::space::Reclaim>));
    let mut tasks = JoinSet::new();
    for (i, camera) in cameras.into_iter().enumerate() {
        let name = camera.name.clone().unwrap_or_default();
        let span = tracing::info_span!("camera", name = %name);
        let shutdown = shutdown.clone();
        let status = board.camera(i);
        let events = events.clone();
        let reclaim = reclaim.clone();
        tasks.spawn(
            async move {
                let result = run_camera(
                    camera,
                    args.duration,
                    shutdown,
                    i as u64,
                    status,
                    events,
                    reclaim,
                )
                .await;
                match &result {
                    Ok(()) => tracing::info!("camera done"),
                    Err(e) => tracing::error!("camera ended: {e:#}"),
                }
                (name, result)
            }
            .instrument(span),
        );
    }
    let mut failed: Vec<(String, anyhow::Error)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((_, Ok(()))) => {}
            Ok((name, Err(e))) => failed.push((name, e)),
            Err(e) => failed.push(("?".to_owned(), anyhow!("camera task failed: {e}"))),
        }
    }
    display.stop().await;
    // Every writer has finished: with the last sender gone the keeper writes what it has
    // and ends.
    drop(events);
    keeper.stop().await;
    if let Some(s) = serving {
        s.stop().await;
    }
    let outcome = outcome(count, failed);
    if outcome.is_ok() {
        tracing::info!("all {count} camera(s) done");
    }
    outcome
}

/// `[storage] min_free` as `run --check` shows it.
fn min_free_text(min_free: Option<MinFree>) -> String {
    match min_free {
        Some(MinFree::Bytes(b)) => format!("{b} bytes"),
        Some(MinFree::Percent(p)) => format!("{p}%"),
        None => "none".to_owned(),
    }
}

/// The run's result from its `count` cameras' failures, in the order they ended: the
/// first one, named, with how many failed.
fn outcome(count: usize, failed: Vec<(String, anyhow::Error)>) -> anyhow::Result<()> {
    let failures = failed.len();
    match failed.into_iter().next() {
        None => Ok(()),
        Some((name, e)) => Err(e
            .context(format!("camera {name:?}"))
            .context(format!("{failures} of {count} camera(s) failed"))),
    }
}

/// Raises the soft limit of open files to the hard one (as Go's runtime does): an export
/// holds every file of its range open (and locked against retention) while it streams,
/// 1441 for a day of 60 s files, where many systems start a service at 1024.
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => tracing::debug!(
                "open files limit raised from {:?} to {:?}",
                limit.current,
                limit.maximum
            ),
            Err(e) => tracing::debug!("open files limit stays {:?}: {e}", limit.current),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_is_reported_with_the_count() {
        assert!(outcome(3, Vec::new()).is_ok());
        let failed = vec![
            ("yard".to_owned(), anyhow!("connection refused")),
            ("front".to_owned(), anyhow!("401 Unauthorized")),
        ];
        let e = outcome(3, failed).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "2 of 3 camera(s) failed: camera \"yard\": connection refused"
        );
    }

    #[test]
    fn min_free_as_shown() {
        assert_eq!(min_free_text(None), "none");
        assert_eq!(
            min_free_text(Some(MinFree::Bytes(10_000_000_000))),
            "10000000000 bytes"
        );
        assert_eq!(min_free_text(Some(MinFree::Percent(5.0))), "5%");
    }
}
