//! RTSP ingest on top of retina (to be written).
