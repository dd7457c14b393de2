//! Live status per camera: a shared board the cameras update, a table redrawn every
//! second when stderr is a terminal, and a summary log line per camera every minute
//! otherwise.
//!
//! The figures come from the [`StatusBoard`] the cameras update
//! ([`crate::session::status`]).
//!
//! On a terminal the table lives at the bottom of the screen: [`LiveTerminal`] is also
//! the log writer, and it erases the table (cursor up, clear to the end of the screen),
//! writes the log line, and draws the table again below it, so log lines scroll by
//! above an always-current table. Line wrapping is turned off while the table is drawn,
//! so that a line longer than the terminal is cut rather than wrapped (which would break
//! the count of lines to erase).

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, oneshot};

use crate::output::events::FileEvent;
use crate::session::status::{Snapshot, State, StatusBoard};
use tokio::task::JoinHandle;

/// Period of the live table.
pub const TABLE_PERIOD: Duration = Duration::from_secs(1);

/// Period of the summary log lines when there is no live table.
pub const SUMMARY_PERIOD: Duration = Duration::from_secs(60);

/// Rates over an interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    /// Video frames per second.
    pub video_fps: f64,
    /// Media kilobits (1000 bits) per second.
    pub kbit_s: f64,
}

/// The rates between `before` and `after`, `elapsed` apart (zero when no time passed or
/// a counter went backwards).
pub fn rates(before: &Snapshot, after: &Snapshot, elapsed: Duration) -> Rates {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return Rates {
            video_fps: 0.0,
            kbit_s: 0.0,
        };
    }
    let frames = after.video_frames.saturating_sub(before.video_frames);
    let bytes = after.bytes.saturating_sub(before.bytes);
    Rates {
        video_fps: frames as f64 / secs,
        kbit_s: bytes as f64 * 8.0 / 1000.0 / secs,
    }
}

/// `H:MM:SS`.
pub fn format_hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The table's lines: a header, then one line per camera with its rates (by position in
/// `rates`; none: blank rates).
pub fn render_table(rows: &[Snapshot], rates: &[Rates]) -> Vec<String> {
    let name_w = rows
        .iter()
        .map(|r| r.name.chars().count())
        .chain([6])
        .max()
        .unwrap_or(6);
    let mut lines = vec![format!(
        "{:<name_w$}  {:<14} {:>8} {:>6} {:>8} {:>9} {:>6}  FILE",
        "CAMERA", "STATE", "TIME", "FPS", "KBIT/S", "MB", "RECONN"
    )];
    for (i, r) in rows.iter().enumerate() {
        let (fps, kbit) = match (r.state, rates.get(i)) {
            (State::Recording, Some(rt)) => {
                (format!("{:.1}", rt.video_fps), format!("{:.0}", rt.kbit_s))
            }
            _ => ("-".to_owned(), "-".to_owned()),
        };
        let mut tail = match (&r.file, &r.last_error) {
            _ if r.state == State::NoSpace => {
                format!("{} frame(s) dropped", r.dropped_no_space)
            }
            (Some(f), _) if r.state == State::Recording => f.display().to_string(),
            (_, Some(e)) if r.state != State::Recording => e.clone(),
            _ => String::new(),
        };
        if r.dropped_fragments > 0 {
            tail = format!(
                "[disk stalled: {} fragment(s) dropped] {tail}",
                r.dropped_fragments
            );
        }
        let line = format!(
            "{:<name_w$}  {:<14} {:>8} {:>6} {:>8} {:>9.1} {:>6}  {tail}",
            r.name,
            r.state.label(r.in_state),
            format_hms(r.in_state),
            fps,
            kbit,
            r.bytes as f64 / 1e6,
            r.reconnects,
        );
        lines.push(line.trim_end().to_owned());
    }
    lines
}

/// The periodic log line for a camera when there is no live table.
pub fn summary_line(s: &Snapshot) -> String {
    let mut line = format!(
        "status {}: {} for {}, {} video + {} audio frames, {:.1} MB, {} reconnect(s)",
        s.name,
        s.state.label(s.in_state),
        format_hms(s.in_state),
        s.video_frames,
        s.audio_frames,
        s.bytes as f64 / 1e6,
        s.reconnects
    );
    if s.dropped_no_space > 0 {
        line.push_str(&format!(
            ", {} frame(s) dropped (disk full)",
            s.dropped_no_space
        ));
    }
    if s.dropped_fragments > 0 {
        line.push_str(&format!(
            ", {} fragment(s) dropped (disk stalled)",
            s.dropped_fragments
        ));
    }
    if s.state != State::Recording
        && let Some(e) = &s.last_error
    {
        line.push_str("; last error: ");
        line.push_str(e);
    }
    line
}

/// The bytes that erase a table of `lines` lines drawn just above the cursor.
fn erase(lines: usize, out: &mut Vec<u8>) {
    if lines > 0 {
        // Cursor up `lines` lines to column 0, clear to the end of the screen.
        out.extend_from_slice(format!("\x1b[{lines}F\x1b[J").as_bytes());
    }
}

/// The bytes that draw `lines`, without line wrapping.
fn draw(lines: &[String], out: &mut Vec<u8>) {
    if lines.is_empty() {
        return;
    }
    out.extend_from_slice(b"\x1b[?7l");
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"\x1b[?7h");
}

#[derive(Debug, Default)]
struct Screen {
    table: Vec<String>,
}

/// Stderr shared by the log lines and the live table kept below them.
#[derive(Debug, Default)]
pub struct LiveTerminal {
    screen: Mutex<Screen>,
}

impl LiveTerminal {
    /// A terminal with no table yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn screen(&self) -> MutexGuard<'_, Screen> {
        self.screen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes a log line above the table.
    pub fn write_log(&self, log: &[u8]) -> io::Result<()> {
        let screen = self.screen();
        let mut out = Vec::with_capacity(log.len() + 256);
        erase(screen.table.len(), &mut out);
        out.extend_from_slice(log);
        draw(&screen.table, &mut out);
        let mut err = io::stderr().lock();
        err.write_all(&out)?;
        err.flush()
    }

    /// Replaces the table.
    pub fn show(&self, table: Vec<String>) {
        let mut screen = self.screen();
        let mut out = Vec::new();
        erase(screen.table.len(), &mut out);
        draw(&table, &mut out);
        screen.table = table;
        let mut err = io::stderr().lock();
        let _ = err.write_all(&out).and_then(|()| err.flush());
    }

    /// Removes the table.
    pub fn clear(&self) {
        self.show(Vec::new());
    }
}

/// A [`tracing_subscriber`] writer that writes through a [`LiveTerminal`].
#[derive(Clone, Debug)]
pub struct LiveWriter(pub Arc<LiveTerminal>);

impl Write for LiveWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The fmt layer writes each event whole, with one `write_all`.
        self.0.write_log(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LiveWriter {
    type Writer = LiveWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The running display (a live table or the periodic summaries).
#[derive(Debug)]
pub struct Display {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Display {
    /// Starts showing `board`: a table on `live` every [`TABLE_PERIOD`] when given, else
    /// a summary log line per camera every [`SUMMARY_PERIOD`]. The current file of each
    /// camera comes from the file events (`files`).
    pub fn spawn(
        board: Arc<StatusBoard>,
        live: Option<Arc<LiveTerminal>>,
        mut files: broadcast::Receiver<FileEvent>,
    ) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let period = if live.is_some() {
                TABLE_PERIOD
            } else {
                SUMMARY_PERIOD
            };
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut before = Instant::now();
            let mut prev = board.snapshot(before);
            let mut files_open = true;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticks.tick() => {}
                    event = files.recv(), if files_open => {
                        match event {
                            Ok(event) => board.apply(&event),
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                tracing::debug!("status display missed {n} file event(s)");
                            }
                            Err(broadcast::error::RecvError::Closed) => files_open = false,
                        }
                        continue;
                    }
                }
                let now = Instant::now();
                let snaps = board.snapshot(now);
                match &live {
                    Some(live) => {
                        let r: Vec<Rates> = prev
                            .iter()
                            .zip(&snaps)
                            .map(|(a, b)| rates(a, b, now - before))
                            .collect();
                        live.show(render_table(&snaps, &r));
                    }
                    None if now - before >= period / 2 => {
                        for s in &snaps {
                            tracing::info!("{}", summary_line(s));
                        }
                    }
                    None => {}
                }
                before = now;
                prev = snaps;
            }
            if let Some(live) = live {
                live.clear();
            }
        });
        Self { stop, task }
    }

    /// Stops it; the table is erased.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(name: &str, state: State, in_state_s: u64, video: u64, bytes: u64) -> Snapshot {
        Snapshot {
            name: name.to_owned(),
            state,
            in_state: Duration::from_secs(in_state_s),
            video_frames: video,
            audio_frames: video * 2,
            bytes,
            reconnects: 0,
            dropped_no_space: 0,
            dropped_fragments: 0,
            packets_lost: 0,
            file: None,
            last_error: None,
        }
    }

    #[test]
    fn rates_over_an_interval() {
        let a = snap("a", State::Recording, 0, 100, 1_000_000);
        let b = snap("a", State::Recording, 2, 150, 1_500_000);
        let r = rates(&a, &b, Duration::from_secs(2));
        assert_eq!(r.video_fps, 25.0);
        // 500 000 bytes in 2 s: 2000 kbit/s.
        assert_eq!(r.kbit_s, 2000.0);
        let r = rates(&a, &b, Duration::ZERO);
        assert_eq!((r.video_fps, r.kbit_s), (0.0, 0.0));
        // A counter going back (never expected) gives zero, not a wrap.
        let r = rates(&b, &a, Duration::from_secs(1));
        assert_eq!((r.video_fps, r.kbit_s), (0.0, 0.0));
    }

    #[test]
    fn hms() {
        assert_eq!(format_hms(Duration::from_millis(59_999)), "0:00:59");
        assert_eq!(format_hms(Duration::from_secs(3600 + 62)), "1:01:02");
        assert_eq!(format_hms(Duration::from_secs(100 * 3600)), "100:00:00");
    }

    #[test]
    fn table() {
        let mut front = snap("front", State::Recording, 83, 2075, 12_345_678);
        front.reconnects = 2;
        front.file = Some(std::path::PathBuf::from("/rec/front/10-00-00.mp4"));
        let mut back = snap(
            "back-door",
            State::Waiting(Duration::from_millis(2400)),
            1,
            0,
            0,
        );
        back.last_error = Some("connection refused".to_owned());
        let mut idle = snap("garage", State::Connecting, 5, 0, 0);
        idle.dropped_fragments = 3;
        let mut full = snap("yard", State::NoSpace, 7, 300, 1_000_000);
        full.dropped_no_space = 210;
        full.last_error = Some("disk full writing /rec/yard.mp4.partial".to_owned());
        let rates = [
            Rates {
                video_fps: 25.0,
                kbit_s: 2048.4,
            },
            Rates {
                video_fps: 0.0,
                kbit_s: 0.0,
            },
        ];
        let lines = render_table(&[front, back, idle, full], &rates);
        assert_eq!(
            lines,
            [
                "CAMERA     STATE              TIME    FPS   KBIT/S        MB RECONN  FILE",
                "front      recording       0:01:23   25.0     2048      12.3      2  /rec/front/10-00-00.mp4",
                // 2.4 s wait, 1 s into it: 1.4 s left, rounded up.
                "back-door  retry in 2s     0:00:01      -        -       0.0      0  connection refused",
                "garage     connecting      0:00:05      -        -       0.0      0  [disk stalled: 3 fragment(s) dropped]",
                "yard       disk full       0:00:07      -        -       1.0      0  210 frame(s) dropped",
            ]
        );
    }

    #[test]
    fn summary() {
        let mut s = snap("front", State::Recording, 300, 7500, 45_600_000);
        s.reconnects = 1;
        s.last_error = Some("old".to_owned());
        assert_eq!(
            summary_line(&s),
            "status front: recording for 0:05:00, 7500 video + 15000 audio frames, 45.6 MB, \
             1 reconnect(s)"
        );
        s.dropped_fragments = 4;
        assert!(
            summary_line(&s).ends_with("1 reconnect(s), 4 fragment(s) dropped (disk stalled)"),
            "{}",
            summary_line(&s)
        );
        s.dropped_fragments = 0;
        s.state = State::Failed;
        s.in_state = Duration::from_secs(3);
        assert_eq!(
            summary_line(&s),
            "status front: failed for 0:00:03, 7500 video + 15000 audio frames, 45.6 MB, \
             1 reconnect(s); last error: old"
        );
        s.state = State::NoSpace;
        s.dropped_no_space = 42;
        assert_eq!(
            summary_line(&s),
            "status front: disk full for 0:00:03, 7500 video + 15000 audio frames, 45.6 MB, \
             1 reconnect(s), 42 frame(s) dropped (disk full); last error: old"
        );
    }

    #[test]
    fn erase_and_draw_bytes() {
        let mut out = Vec::new();
        erase(3, &mut out);
        draw(&["a".to_owned(), "b".to_owned()], &mut out);
        assert_eq!(out, b"\x1b[3F\x1b[J\x1b[?7la\nb\n\x1b[?7h");
        let mut out = Vec::new();
        erase(0, &mut out);
        draw(&[], &mut out);
        assert!(out.is_empty());
    }
}
