//! One RTSP session's routing: timeline, segments, the receive loop.
pub mod pacing;
pub mod recording;
pub mod segment;
pub mod timeline;
