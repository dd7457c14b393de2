//! `recorder record URL -o FILE`: one camera from the command line.

use std::sync::Arc;

use crate::camera::{install_signal_handlers, run_camera};
use crate::options::args::RecordArgs;
use crate::output::events::FileEvents;
use crate::session::status::StatusBoard;
use crate::ui::status::{Display, LiveTerminal};

/// Runs `recorder record`: one camera, built from the command line; its status is shown
/// on `live` when given (else logged every minute).
pub async fn record(args: RecordArgs, live: Option<Arc<LiveTerminal>>) -> anyhow::Result<()> {
    let camera = args.camera_config()?;
    let shutdown = install_signal_handlers()?;
    let board = StatusBoard::new([status_name(&camera.source_options().redacted_url())]);
    let events = FileEvents::new();
    let display = Display::spawn(Arc::clone(&board), live, events.subscribe());
    let result = run_camera(
        camera,
        args.duration,
        shutdown,
        0,
        board.camera(0),
        events,
        None,
    )
    .await;
    display.stop().await;
    result
}

/// The status name of `recorder record`'s camera: its redacted URL without the scheme
/// and the user name.
fn status_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = match rest.split_once('@') {
        Some((user, r)) if !user.contains('/') => r,
        _ => rest,
    };
    rest.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_name_leaves_out_scheme_and_user() {
        assert_eq!(status_name("rtsp://user:***@cam:554/live"), "cam:554/live");
        assert_eq!(status_name("rtsp://cam/a@b"), "cam/a@b");
        assert_eq!(status_name("cam/live"), "cam/live");
    }
}
