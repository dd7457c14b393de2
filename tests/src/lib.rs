//! Support for the cross-crate end-to-end tests in `tests/tests/`.
//!
//! [`fake_rtsp`] is a scripted RTSP server for fault injection: it serves a real H.264 (and
//! optionally AAC) stream made by ffmpeg and can misbehave in ways a real server cannot be
//! made to (garbage answers, cut connections, stalls, bad payloads, timestamp jumps, packet
//! loss). [`harness`] builds and runs the `recorder` binary and checks what every run must
//! show (no panic, no password, one `error:` line on failure); [`tmpfs`] runs it on a small
//! file system of its own.

pub mod fake_rtsp;
pub mod harness;
pub mod tmpfs;
