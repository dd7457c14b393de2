//! `recorder run --config FILE`: many cameras in one process, each in its own task with
//! its own reconnects; one camera's failure never stops another.

use std::sync::Arc;

use anyhow::anyhow;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::camera::{install_signal_handlers, run_camera};
use crate::options::args::RunArgs;
use crate::output::events::FileEvents;
use crate::session::status::StatusBoard;
use crate::ui::status::{Display, LiveTerminal};

/// Runs `recorder run`: ends when every camera has ended (or on a signal, once every
/// file is finished). Fails when a camera failed, with the first failure's error.
/// Their status is shown on `live` when given (else logged every minute).
pub async fn run(args: RunArgs, live: Option<Arc<LiveTerminal>>) -> anyhow::Result<()> {
    let cameras = crate::options::file::load(&args.config, args.duration)?;
    if args.check {
        let text: Vec<String> = cameras
            .iter()
            .map(crate::options::show::effective)
            .collect();
        #[allow(clippy::print_stdout)]
        {
            println!(
                "# {}: {} camera(s), valid\n\n{}",
                args.config.display(),
                cameras.len(),
                text.join("\n")
            );
        }
        return Ok(());
    }
    let shutdown = install_signal_handlers()?;
    let count = cameras.len();
    tracing::info!("recording {count} camera(s) from {}", args.config.display());
    let board = StatusBoard::new(cameras.iter().map(|c| c.name.clone().unwrap_or_default()));
    let events = FileEvents::new();
    let display = Display::spawn(Arc::clone(&board), live, events.subscribe());
    let mut tasks = JoinSet::new();
    for (i, camera) in cameras.into_iter().enumerate() {
        let name = camera.name.clone().unwrap_or_default();
        let span = tracing::info_span!("camera", name = %name);
        let shutdown = shutdown.clone();
        let status = board.camera(i);
        let events = events.clone();
        tasks.spawn(
            async move {
                let result =
                    run_camera(camera, args.duration, shutdown, i as u64, status, events).await;
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
    let failures = failed.len();
    match failed.into_iter().next() {
        None => {
            tracing::info!("all {count} camera(s) done");
            Ok(())
        }
        Some((name, e)) => Err(e
            .context(format!("camera {name:?}"))
            .context(format!("{failures} of {count} camera(s) failed"))),
    }
}
