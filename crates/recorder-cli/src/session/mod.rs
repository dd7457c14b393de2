//! One RTSP session's routing: timeline, segments, the receive loop.
pub mod audio;
pub mod end;
pub mod live;
pub mod loss;
pub mod pacing;
pub mod recording;
pub mod router;
pub mod segment;
pub mod shutdown;
pub mod status;
pub mod time;
pub mod timeline;
pub mod wallclock;
