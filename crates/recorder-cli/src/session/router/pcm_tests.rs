//! G.711 audio through the router: converted into 40 ms samples beside the video.

use bytes::Bytes;
use rtsp_ingest::{AudioCodec, Frame};

use super::tests::{FRAME, Sink, config, video_info, wall};
use super::*;

fn pcmu() -> AudioInfo {
    AudioInfo {
        codec: AudioCodec::Pcmu,
        clock_rate_hz: 8_000,
        channels: 1,
        sample_entry: Bytes::from_static(b"\0\0\0\x08ulaw"),
        rfc6381_codec: None,
        frame_length: None,
    }
}

/// 3 s of 30 fps video and 8 kHz PCMU in 128 ms packets (1024 samples), stored as
/// `storage`; returns the audio track's (codec, samples, duration in 1/8000 s).
fn record(storage: audio_pcm::Storage) -> (String, u64, u64) {
    let cfg = RouterConfig {
        audio_storage: storage,
        ..config(None, None)
    };
    let mut r = Router::new(Some(&video_info("avc1.64001F", 640, 0)), Some(&pcmu()), cfg).unwrap();
    let mut sink = Sink::default();
    let mut next_audio = 0i64;
    for i in 0..90i64 {
        let now = wall(i as f64 / 30.0);
        r.push(
            Frame::Video {
                pts: i * FRAME,
                is_sync: i % 30 == 0,
                data: Bytes::from(vec![1u8; 100]),
                new_info: None,
                loss: 0,
                discontinuity: false,
            },
            now,
        )
        .unwrap();
        // Packets up to this video frame's time.
        while next_audio * 90_000 <= i * FRAME * 8_000 {
            r.push(
                Frame::Audio {
                    pts: next_audio,
                    duration: 1024,
                    data: Bytes::from(vec![0xFFu8; 1024]),
                    loss: 0,
                    discontinuity: false,
                },
                now,
            )
            .unwrap();
            next_audio += 1024;
        }
        sink.drain(&mut r);
    }
    r.finish(EndReason::Stopped).unwrap();
    sink.drain(&mut r);
    let s = sink.summaries();
    assert_eq!(s.len(), 1);
    let a = s[0].audio.as_ref().unwrap();
    let out = sink.files.values().next().unwrap();
    (a.codec.clone(), a.samples, out.tracks[&2].2)
}

#[test]
fn g711_is_stored_in_40_ms_samples_of_the_chosen_format() {
    // 24 packets (up to 2.9 s of video, 3 s of audio held back at most 1 s) hold 24576
    // samples: 76 whole 320-sample blocks; the 256 left in the converter are not written.
    for (storage, codec) in [
        (audio_pcm::Storage::Flac, "flac"),
        (audio_pcm::Storage::AsReceived, "ulaw"),
        (audio_pcm::Storage::Ipcm, "ipcm"),
    ] {
        let (got, samples, duration) = record(storage);
        assert_eq!(got, codec);
        assert_eq!(samples, 24 * 1024 / 320);
        assert_eq!(duration, 24 * 1024 / 320 * 320);
    }
}
