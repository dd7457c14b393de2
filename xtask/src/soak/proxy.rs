//! A fault-injecting TCP proxy between the recorder and the RTSP server: it forwards
//! bytes both ways and, on command, cuts every connection (both directions shut down),
//! stalls them (nothing forwarded from the server for a while, the sockets open), slows
//! them (the server's bytes forwarded 1 KiB at a time, a pause between), leaves them
//! half-open (nothing forwarded ever again, no FIN: the client's stall timeout must end
//! the session) or resets them in the middle of an RTP packet (the server's stream
//! forwarded up to a point strictly inside an interleaved RTP packet, then an RST:
//! `SO_LINGER` 0 and close). New connections after a fault are healthy.
//!
//! It also logs when media flowed: the instants at which it forwarded RTP payload bytes
//! ([`Framing`] follows the interleaved stream), merged into intervals ([`Flow`]).
//!
//! Each connection's two sockets are shared (not duplicated) by its two pump threads,
//! which poll a shared gate every [`POLL`]; when either side ends, the other pump ends
//! too and the sockets close with the last reference. The proxy keeps only weak
//! references, so no file descriptor outlives its connection (a half-open connection
//! closes when its client gives up on it).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::framing::Framing;

/// How often a pump blocked in a read or a stall looks at its gate.
const POLL: Duration = Duration::from_millis(100);

/// Media forwarded less than this long after the previous media extends the same
/// interval of [`Flow`] (a 30 fps stream sends a packet at least every 33 ms).
const FLOW_GAP: Duration = Duration::from_millis(250);

/// One fault, applied to every connection open when it is injected.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Both directions shut down (the client sees the connection closed).
    Cut,
    /// Nothing forwarded from the server for this long; then forwarding goes on.
    Stall(Duration),
    /// The server's bytes forwarded 1 KiB at a time with a 5 ms pause, for this long.
    Slow(Duration),
    /// Nothing forwarded ever again, and no FIN: the sockets stay open until the client
    /// closes its side.
    HalfOpen,
    /// The server's stream forwarded up to a point strictly inside the next RTP packet
    /// (past its header, at its middle or later), then both sockets reset (RST).
    Reset,
}

/// When the proxy let media through: intervals of forwarding with no gap over
/// [`FLOW_GAP`], over all the connections of one proxy.
#[derive(Default)]
pub struct Flow(Mutex<Vec<(Instant, Instant)>>);

impl Flow {
    fn note(&self, now: Instant) {
        let mut v = lock(&self.0);
        match v.last_mut() {
            Some((_, end)) if now <= *end + FLOW_GAP => *end = (*end).max(now),
            _ => v.push((now, now)),
        }
    }

    /// The time media flowed up to `until`.
    pub fn total(&self, until: Instant) -> Duration {
        lock(&self.0)
            .iter()
            .map(|&(a, b)| b.min(until).saturating_duration_since(a))
            .sum()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a connection does now.
#[derive(Default)]
struct Gate {
    /// Forward nothing from the server until this instant.
    stalled_until: Option<Instant>,
    /// Forward slowly until this instant.
    slow_until: Option<Instant>,
    /// Forward nothing ever again, send no FIN.
    dead: bool,
    /// Reset at the next point inside an RTP packet.
    reset: bool,
    /// The connection is over: both pumps end.
    closing: bool,
}

struct Conn {
    client: TcpStream,
    server: TcpStream,
    gate: Mutex<Gate>,
}

impl Conn {
    /// Ends the connection: both pumps stop at their next poll. The sockets are shut
    /// down (FIN both ways) unless the connection is half-open or being reset.
    fn finish(&self) {
        let mut g = lock(&self.gate);
        if g.closing {
            return;
        }
        g.closing = true;
        if !g.dead && !g.reset {
            let _ = self.client.shutdown(Shutdown::Both);
            let _ = self.server.shutdown(Shutdown::Both);
        }
    }

    /// Ends the connection so that closing its sockets sends RSTs.
    fn reset(&self) {
        for s in [&self.client, &self.server] {
            let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
        }
        lock(&self.gate).closing = true;
    }
}

/// A running proxy; its listener ends when it is dropped, each connection when either
/// side closes it.
pub struct Proxy {
    port: u16,
    conns: Arc<Mutex<Vec<Weak<Conn>>>>,
    /// Bytes forwarded from the server to the client (handed to its socket).
    pub forwarded: Arc<AtomicU64>,
    /// Resets made (a [`Fault::Reset`] on a connection that then carried an RTP packet).
    pub resets: Arc<AtomicU64>,
    /// When media flowed.
    pub flow: Arc<Flow>,
    /// Video forwarded, in media time: 90 kHz ticks of RTP timestamps
    /// ([`Framing::video_ticks`] over the connections).
    pub video_ticks: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (a port chosen by the OS) and forwards to `upstream`.
    pub fn start(upstream: std::net::SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).context("cannot bind the proxy")?;
        let port = listener.local_addr()?.port();
        let p = Self {
            port,
            conns: Arc::default(),
            forwarded: Arc::default(),
            resets: Arc::default(),
            flow: Arc::default(),
            video_ticks: Arc::default(),
            stop: Arc::default(),
        };
        let (conns, stop) = (Arc::clone(&p.conns), Arc::clone(&p.stop));
        let counters = Counters {
            forwarded: Arc::clone(&p.forwarded),
            resets: Arc::clone(&p.resets),
            flow: Arc::clone(&p.flow),
            video_ticks: Arc::clone(&p.video_ticks),
        };
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let polled = [&client, &server]
                    .iter()
                    .all(|s| s.set_read_timeout(Some(POLL)).is_ok());
                if !polled {
                    continue;
                }
                let conn = Arc::new(Conn {
                    client,
                    server,
                    gate: Mutex::default(),
                });
                {
                    let mut all = lock(&conns);
                    all.retain(|w| w.strong_count() > 0);
                    all.push(Arc::downgrade(&conn));
                }
                let up = Arc::clone(&conn);
                thread::spawn(move || pump_up(&up));
                let counters = counters.clone();
                thread::spawn(move || pump_down(&conn, &counters));
            }
        });
        Ok(p)
    }

    /// The port the recorder connects to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connections whose sockets are still open.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        lock(&self.conns)
            .iter()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    /// Applies `fault` to every open connection (not half-open, not ending); returns how
    /// many it touched.
    pub fn inject(&self, fault: Fault) -> usize {
        let live: Vec<Arc<Conn>> = {
            let mut all = lock(&self.conns);
            all.retain(|w| w.strong_count() > 0);
            all.iter().filter_map(Weak::upgrade).collect()
        };
        let now = Instant::now();
        let mut touched = 0;
        for c in &live {
            let mut g = lock(&c.gate);
            if g.dead || g.closing {
                continue;
            }
            touched += 1;
            match fault {
                Fault::Cut => {
                    drop(g);
                    c.finish();
                }
                Fault::Stall(d) => g.stalled_until = Some(now + d),
                Fault::Slow(d) => g.slow_until = Some(now + d),
                Fault::HalfOpen => g.dead = true,
                Fault::Reset => g.reset = true,
            }
        }
        touched
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A read that gives up every [`POLL`]: `None` when the connection is over.
fn read(from: &TcpStream, buf: &mut [u8], conn: &Conn) -> Option<usize> {
    loop {
        if lock(&conn.gate).closing {
            return None;
        }
        match (&mut &*from).read(buf) {
            Ok(0) => return None,
            Ok(n) => return Some(n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// Client to server, as long as the connection lasts (discarded when half-open).
fn pump_up(conn: &Conn) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Some(n) = read(&conn.client, &mut buf, conn) {
        if lock(&conn.gate).dead {
            continue;
        }
        if (&conn.server).write_all(&buf[..n]).is_err() {
            break;
        }
    }
    conn.finish();
}

/// A proxy's counters, shared by its connections.
#[derive(Clone)]
struct Counters {
    forwarded: Arc<AtomicU64>,
    resets: Arc<AtomicU64>,
    flow: Arc<Flow>,
    video_ticks: Arc<AtomicU64>,
}

/// Server to client, as the gate allows, counting what is forwarded.
fn pump_down(conn: &Conn, counters: &Counters) {
    let Counters {
        forwarded,
        resets,
        flow,
        video_ticks,
    } = counters;
    let mut framing = Framing::default();
    let mut buf = vec![0u8; 16 * 1024];
    'read: while let Some(n) = read(&conn.server, &mut buf, conn) {
        let mut sent = 0;
        while sent < n {
            let (slow, reset) = {
                let g = lock(&conn.gate);
                let now = Instant::now();
                if g.closing {
                    break 'read;
                }
                if g.dead {
                    // Half-open: the server's bytes are dropped, nothing is sent.
                    break;
                }
                if let Some(t) = g.stalled_until.filter(|t| *t > now) {
                    drop(g);
                    thread::sleep((t - now).min(POLL));
                    continue;
                }
                (g.slow_until.is_some_and(|t| t > now), g.reset)
            };
            let mut chunk = if slow { (n - sent).min(1024) } else { n - sent };
            let bytes = &buf[sent..sent + chunk];
            let ticks = framing.video_ticks;
            let (media, cut) = if reset {
                let (media, cut) = framing.cut(bytes);
                if let Some(k) = cut {
                    chunk = k;
                }
                (media, cut.is_some())
            } else {
                (framing.feed(bytes), false)
            };
            // Counted before the write, so that a reader that got the bytes sees them
            // counted.
            forwarded.fetch_add(chunk as u64, Ordering::Relaxed);
            if (&conn.client).write_all(&buf[sent..sent + chunk]).is_err() {
                break 'read;
            }
            if media > 0 {
                flow.note(Instant::now());
            }
            video_ticks.fetch_add(framing.video_ticks - ticks, Ordering::Relaxed);
            if cut {
                resets.fetch_add(1, Ordering::Relaxed);
                conn.reset();
                return;
            }
            sent += chunk;
            if slow {
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
    // A half-open connection whose server left stays open until its client closes it.
    if !lock(&conn.gate).dead {
        conn.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::super::framing::interleaved;
    use super::*;

    /// An upstream that sends `chunks` numbered messages of 100 bytes, one every 10 ms, to
    /// each client.
    fn upstream() -> std::net::SocketAddr {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                thread::spawn(move || {
                    for i in 0..200u8 {
                        if c.write_all(&[i; 100]).is_err() {
                            return;
                        }
                        thread::sleep(Duration::from_millis(10));
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn forwards_then_cuts() {
        let p = Proxy::start(upstream()).unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", p.port())).unwrap();
        let mut buf = [0u8; 100];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(buf, [0u8; 100]);
        // Wait until the proxy registered the connection, then cut it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while p.inject(Fault::Stall(Duration::ZERO)) == 0 {
            assert!(Instant::now() < deadline);
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(p.inject(Fault::Cut), 1);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        // The connection ends (EOF or reset), well before the 200 messages.
        let _ = c.read_to_end(&mut rest);
        assert!(rest.len() < 199 * 100, "{} bytes after the cut", rest.len());
        assert!(p.forwarded.load(Ordering::Relaxed) >= 100);
        // A new connection is healthy.
        let mut c = TcpStream::connect(("127.0.0.1", p.port())).unwrap();
        c.read_exact(&mut buf).unwrap();
        assert_eq!(buf, [0u8; 100]);
    }

    #[test]
    fn half_open_forwards_nothing_and_never_closes() {
        let p = Proxy::start(upstream()).unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", p.port())).unwrap();
        let mut buf = [0u8; 100];
        c.read_exact(&mut buf).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while p.inject(Fault::HalfOpen) == 0 {
            assert!(Instant::now() < deadline);
            thread::sleep(Duration::from_millis(5));
        }
        // Drain what was already on its way, then nothing comes and nothing closes.
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut got = 0;
        let err = loop {
            match c.read(&mut buf) {
                Ok(0) => panic!("the half-open connection was closed"),
                Ok(n) => got += n,
                Err(e) => break e,
            }
        };
        assert!(matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ));
        assert!(got < 199 * 100);
        // Once the client gives up, the proxy closes its sockets.
        drop(c);
        let deadline = Instant::now() + Duration::from_secs(5);
        while p.open() > 0 {
            assert!(Instant::now() < deadline, "the half-open connection leaked");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// An upstream that sends, to each client, 200 interleaved RTP packets of 200 bytes
    /// on channel 0, one every 10 ms, each filled with its number.
    fn interleaved_upstream() -> std::net::SocketAddr {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                thread::spawn(move || {
                    for i in 0..200u8 {
                        if c.write_all(&interleaved(0, &[i; 200])).is_err() {
                            return;
                        }
                        thread::sleep(Duration::from_millis(10));
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn resets_inside_an_rtp_packet_and_logs_the_media_flow() {
        let p = Proxy::start(interleaved_upstream()).unwrap();
        let started = Instant::now();
        let mut c = TcpStream::connect(("127.0.0.1", p.port())).unwrap();
        let mut buf = [0u8; 204];
        for _ in 0..5 {
            c.read_exact(&mut buf).unwrap();
        }
        assert_eq!(p.inject(Fault::Reset), 1);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let err = loop {
            let mut b = [0u8; 4096];
            match c.read(&mut b) {
                Ok(0) => panic!("a FIN, not a reset, after {} bytes", got.len()),
                Ok(n) => got.extend_from_slice(&b[..n]),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        // Whole packets, then the `$` header, the RTP header and half of the rest.
        assert_eq!(got.len() % 204, 4 + 12 + 94, "{} bytes", got.len());
        assert_eq!(p.resets.load(Ordering::Relaxed), 1);
        let flowed = p.flow.total(Instant::now());
        assert!(flowed > Duration::ZERO && flowed <= started.elapsed());
        let deadline = Instant::now() + Duration::from_secs(5);
        while p.open() > 0 {
            assert!(Instant::now() < deadline, "the reset connection leaked");
            thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn flow_merges_instants_closer_than_the_gap() {
        let f = Flow::default();
        let t = Instant::now();
        for ms in [0, 100, 300, 1000, 1200] {
            f.note(t + Duration::from_millis(ms));
        }
        // [0, 300] and [1000, 1200].
        assert_eq!(
            f.total(t + Duration::from_secs(5)),
            Duration::from_millis(500)
        );
        assert_eq!(
            f.total(t + Duration::from_millis(1100)),
            Duration::from_millis(400)
        );
    }
}
