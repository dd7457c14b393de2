//! A fault-injecting TCP proxy between the recorder and the RTSP server: it forwards
//! bytes both ways and, on command, cuts every connection (both directions shut down),
//! stalls them (nothing forwarded from the server for a while, the sockets open), slows
//! them (the server's bytes forwarded 1 KiB at a time, a pause between), or leaves them
//! half-open (nothing forwarded ever again, no FIN: the client's stall timeout must end
//! the session). New connections after a fault are healthy.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// One fault, applied to every connection open when it is injected.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Both directions shut down (the client sees the connection closed).
    Cut,
    /// Nothing forwarded from the server for this long; then forwarding goes on.
    Stall(Duration),
    /// The server's bytes forwarded 1 KiB at a time with a 5 ms pause, for this long.
    Slow(Duration),
    /// Nothing forwarded ever again, and the sockets stay open.
    HalfOpen,
}

/// What a connection does now with the server's bytes.
#[derive(Default)]
struct Gate {
    /// Forward nothing until this instant.
    stalled_until: Option<Instant>,
    /// Forward slowly until this instant.
    slow_until: Option<Instant>,
    /// Forward nothing ever again.
    dead: bool,
}

struct Conn {
    client: TcpStream,
    server: TcpStream,
    gate: Arc<Mutex<Gate>>,
}

/// A running proxy; its threads end with the process.
pub struct Proxy {
    port: u16,
    conns: Arc<Mutex<Vec<Conn>>>,
    /// Bytes forwarded from the server to the client (handed to its socket).
    pub forwarded: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (a port chosen by the OS) and forwards to `upstream`.
    pub fn start(upstream: std::net::SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).context("cannot bind the proxy")?;
        let port = listener.local_addr()?.port();
        let conns: Arc<Mutex<Vec<Conn>>> = Arc::default();
        let forwarded = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, f, s) = (
            Arc::clone(&conns),
            Arc::clone(&forwarded),
            Arc::clone(&stop),
        );
        thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let gate = Arc::new(Mutex::new(Gate::default()));
                let pumps = (|| -> std::io::Result<_> {
                    Ok((
                        client.try_clone()?,
                        server.try_clone()?,
                        client.try_clone()?,
                        server.try_clone()?,
                    ))
                })();
                let Ok((c_read, s_write, c_write, s_read)) = pumps else {
                    continue;
                };
                let up_gate = Arc::clone(&gate);
                thread::spawn(move || pump(c_read, s_write, &up_gate, None, true));
                let down_gate = Arc::clone(&gate);
                let count = Arc::clone(&f);
                thread::spawn(move || pump(s_read, c_write, &down_gate, Some(&count), false));
                let mut all = c.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                all.push(Conn {
                    client,
                    server,
                    gate,
                });
            }
        });
        Ok(Self {
            port,
            conns,
            forwarded,
            stop,
        })
    }

    /// The port the recorder connects to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Applies `fault` to every open connection; returns how many it touched.
    pub fn inject(&self, fault: Fault) -> usize {
        let mut all = self
            .conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        for c in all.iter() {
            let mut g = c
                .gate
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match fault {
                Fault::Cut => {
                    let _ = c.client.shutdown(Shutdown::Both);
                    let _ = c.server.shutdown(Shutdown::Both);
                }
                Fault::Stall(d) => g.stalled_until = Some(now + d),
                Fault::Slow(d) => g.slow_until = Some(now + d),
                Fault::HalfOpen => g.dead = true,
            }
        }
        let n = all.len();
        if matches!(fault, Fault::Cut) {
            all.clear();
        } else if matches!(fault, Fault::HalfOpen) {
            // Kept open (no FIN) but forgotten: later faults apply to new connections.
            for c in all.drain(..) {
                std::mem::forget(c);
            }
        }
        n
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies `from` to `to` as the gate allows, until either side closes.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    gate: &Mutex<Gate>,
    count: Option<&AtomicU64>,
    upstream: bool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        let mut sent = 0;
        while sent < n {
            let (dead, wait, slow) = {
                let g = gate
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                (
                    g.dead,
                    g.stalled_until.filter(|t| *t > now && !upstream),
                    g.slow_until.is_some_and(|t| t > now) && !upstream,
                )
            };
            if dead {
                // Half-open: hold the sockets, forward nothing, never close.
                loop {
                    thread::sleep(Duration::from_secs(3600));
                }
            }
            if let Some(t) = wait {
                thread::sleep(t.saturating_duration_since(Instant::now()));
                continue;
            }
            let chunk = if slow { (n - sent).min(1024) } else { n - sent };
            // Counted before the write, so that a reader that got the bytes sees them
            // counted.
            if let Some(c) = count {
                c.fetch_add(chunk as u64, Ordering::Relaxed);
            }
            if to.write_all(&buf[sent..sent + chunk]).is_err() {
                return;
            }
            sent += chunk;
            if slow {
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
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
    }
}
