//! What happens to each received frame before it is handed out: the jump check,
//! and how its data becomes a [`Bytes`] (without a copy for video).

use bytes::Bytes;

use crate::jump::JumpCheck;

/// Applies a stream's jump check (if on) to `pts`: the timestamp to hand out, and
/// whether the stream jumped at this frame (logged).
pub(crate) fn check_jump(
    check: Option<&mut JumpCheck>,
    stream: usize,
    clock_rate_hz: u32,
    pts: i64,
) -> (i64, bool) {
    let Some(check) = check else {
        return (pts, false);
    };
    let (placed, jump) = check.place(pts);
    if let Some(delta_ticks) = jump {
        let hz = i64::from(clock_rate_hz.max(1));
        tracing::warn!(
            stream,
            delta_ticks,
            "stream {stream}: timestamp jumped {:+.3} s (allowed: {} s forward, {} ms back): \
             a discontinuity, the stream goes on from its previous frame",
            delta_ticks as f64 / hz as f64,
            check.max_forward_ticks() / hz,
            check.max_backward_ticks() * 1000 / hz,
        );
    }
    (placed, jump.is_some())
}

/// Whether retina refused a packet because it came after later ones (over TCP: a
/// duplicate, or the start race where a server sends a packet numbered just before the
/// `RTP-Info` it announced). retina has no typed kinds for its errors: this is its text
/// for them (`InorderParser::rtp_validate`), checked against retina 0.4.
pub(crate) fn is_late_packet(description: &str) -> bool {
    description.contains("Out-of-order packet or large loss")
}

/// A video frame's data: retina's buffer itself, moved into a [`Bytes`] without a copy
/// (whether or not the `Vec` has spare capacity). From here on the frame is passed by
/// reference count down to the vectored write of its fragment.
pub(crate) fn video_data(frame: Vec<u8>) -> Bytes {
    Bytes::from(frame)
}

/// An audio frame's data, copied once: retina 0.4 keeps an `AudioFrame`'s `Bytes` private
/// and lends only a slice. AAC frames are a few hundred bytes, 1-2% of a camera's media.
pub(crate) fn audio_data(frame: &[u8]) -> Bytes {
    Bytes::copy_from_slice(frame)
}

#[cfg(test)]
mod data_tests {
    use super::*;

    #[test]
    fn video_data_keeps_retinas_buffer() {
        for spare in [0usize, 1, 4096] {
            let mut frame = Vec::with_capacity(50_000 + spare);
            frame.extend((0..50_000u32).map(|i| i as u8));
            let at = frame.as_ptr();
            let data = video_data(frame);
            assert_eq!(
                data.as_ptr(),
                at,
                "spare capacity {spare}: moved, not copied"
            );
            assert_eq!(data.len(), 50_000);
            assert_eq!(data[49_999], (49_999u32 as u8));
            // Clones (one per fragment list, per held frame) share it too.
            assert_eq!(data.clone().as_ptr(), at);
        }
    }

    #[test]
    fn audio_data_is_one_copy() {
        let frame = [7u8; 300];
        let data = audio_data(&frame);
        assert_eq!(&data[..], &frame[..]);
    }
}
