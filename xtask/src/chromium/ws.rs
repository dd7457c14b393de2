//! The client half of WebSocket (RFC 6455) that the DevTools protocol needs, over a
//! blocking `TcpStream` to 127.0.0.1: the opening handshake, masked text frames out,
//! text/continuation/ping/close frames in. No extensions, no TLS.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};

use crate::util::Rng;

/// Opcodes (RFC 6455 section 5.2).
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Largest message accepted (a full-page PNG screenshot in base64 is a few MB).
const MAX_MESSAGE: usize = 256 << 20;

/// A WebSocket connection (client side).
pub(super) struct WebSocket {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    rng: Rng,
}

impl WebSocket {
    /// Connects to `ws://127.0.0.1:{port}{path}` and completes the opening handshake.
    pub(super) fn connect(port: u16, path: &str) -> Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .with_context(|| format!("cannot connect to 127.0.0.1:{port}"))?;
        stream.set_nodelay(true)?;
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut rng = Rng(seed);
        let key_bytes: Vec<u8> = (0..16).map(|_| rng.next() as u8).collect();
        let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key_bytes);
        let mut writer = stream.try_clone()?;
        write!(
            writer,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )?;
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status)?;
        ensure!(
            status.split_whitespace().nth(1) == Some("101"),
            "websocket handshake to {path} refused: {}",
            status.trim_end()
        );
        loop {
            let mut line = String::new();
            ensure!(
                reader.read_line(&mut line)? > 0,
                "websocket handshake: connection closed in the headers"
            );
            if line == "\r\n" {
                break;
            }
        }
        Ok(Self {
            reader,
            writer,
            rng,
        })
    }

    /// Sends one text message in one masked frame.
    pub(super) fn send_text(&mut self, text: &str) -> Result<()> {
        self.send_frame(TEXT, text.as_bytes())
    }

    fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<()> {
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x80 | opcode); // FIN
        let len = payload.len();
        if len < 126 {
            frame.push(0x80 | len as u8);
        } else if len <= usize::from(u16::MAX) {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
        let mask = (self.rng.next() as u32).to_be_bytes();
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.writer.write_all(&frame).context("websocket write")?;
        Ok(())
    }

    /// Reads the next text message, answering pings; `None` when `timeout` passes first
    /// (a message already begun is read to its end).
    pub(super) fn read_text(&mut self, timeout: Duration) -> Result<Option<String>> {
        let mut message = Vec::new();
        let mut first = true;
        loop {
            // Wait (bounded) for a frame to begin; once it has, read it whole.
            let wait = if first {
                timeout.max(Duration::from_millis(1))
            } else {
                Duration::from_secs(30)
            };
            self.reader.get_ref().set_read_timeout(Some(wait))?;
            let mut head = [0u8; 2];
            match self.reader.read_exact(&mut head[..1]) {
                Ok(()) => {}
                Err(e)
                    if first
                        && matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(e).context("websocket read"),
            }
            self.reader
                .get_ref()
                .set_read_timeout(Some(Duration::from_secs(30)))?;
            self.reader.read_exact(&mut head[1..])?;
            let fin = head[0] & 0x80 != 0;
            let opcode = head[0] & 0x0F;
            ensure!(head[1] & 0x80 == 0, "the server sent a masked frame");
            let len = match head[1] & 0x7F {
                126 => {
                    let mut b = [0u8; 2];
                    self.reader.read_exact(&mut b)?;
                    u64::from(u16::from_be_bytes(b))
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.reader.read_exact(&mut b)?;
                    u64::from_be_bytes(b)
                }
                n => u64::from(n),
            };
            let len = usize::try_from(len)
                .ok()
                .filter(|&n| message.len() + n <= MAX_MESSAGE)
                .with_context(|| format!("websocket message over {MAX_MESSAGE} bytes"))?;
            let mut payload = vec![0u8; len];
            self.reader.read_exact(&mut payload)?;
            match opcode {
                PING => {
                    self.send_frame(PONG, &payload)?;
                    continue;
                }
                PONG => continue,
                CLOSE => bail!("the browser closed the DevTools connection"),
                TEXT | BINARY if first => {}
                CONTINUATION if !first => {}
                other => bail!("unexpected websocket opcode {other:#x}"),
            }
            message.extend_from_slice(&payload);
            first = false;
            if fin {
                return String::from_utf8(message)
                    .map(Some)
                    .context("websocket text is not UTF-8");
            }
        }
    }
}
