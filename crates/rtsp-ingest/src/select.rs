//! Stream selection, independent of retina so it can be tested on plain lists.

use crate::{AudioCodec, VideoCodec};

/// What a stream described in the SDP is, as far as recording goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Video,
    Audio,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Video => "video",
            Kind::Audio => "audio",
        })
    }
}

/// A stream of a wanted kind that was passed over, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub index: usize,
    pub kind: Kind,
    pub reason: String,
}

/// The outcome of [`select_streams`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    pub video: Option<(usize, VideoCodec)>,
    pub audio: Option<(usize, AudioCodec)>,
    /// Streams of a wanted kind skipped before one was chosen (or all of them, if none was).
    pub skipped: Vec<Skipped>,
}

enum Classified {
    Video(VideoCodec),
    Audio(AudioCodec),
    Unsupported(Kind),
    Other,
}

/// Classifies a stream by its SDP media type and (lower-case) encoding name.
fn classify(media: &str, encoding: &str) -> Classified {
    match (media, encoding) {
        ("video", "h264") => Classified::Video(VideoCodec::H264),
        ("video", "h265") => Classified::Video(VideoCodec::H265),
        ("video" | "image", "jpeg") => Classified::Video(VideoCodec::Jpeg),
        ("video", _) => Classified::Unsupported(Kind::Video),
        ("audio", "mpeg4-generic") => Classified::Audio(AudioCodec::Aac),
        ("audio", "pcmu") => Classified::Audio(AudioCodec::Pcmu),
        ("audio", "pcma") => Classified::Audio(AudioCodec::Pcma),
        ("audio", "l16") => Classified::Audio(AudioCodec::L16),
        ("audio", _) => Classified::Unsupported(Kind::Audio),
        _ => Classified::Other,
    }
}

/// The audio codec of a stream by its SDP media type and (lower-case) encoding name.
pub(crate) fn audio_codec(media: &str, encoding: &str) -> Option<AudioCodec> {
    match classify(media, &encoding.to_ascii_lowercase()) {
        Classified::Audio(codec) => Some(codec),
        _ => None,
    }
}

/// Picks the first usable video stream and the first usable audio stream.
///
/// `streams` holds `(media, encoding_name)` per stream, in SDP order. `check_audio` is asked
/// about each supported audio candidate (e.g. whether its sample entry can be built) and
/// may reject it with a reason, in which case the next candidate is tried.
pub(crate) fn select_streams(
    streams: &[(&str, &str)],
    want_video: bool,
    want_audio: bool,
    mut check_audio: impl FnMut(usize) -> Result<(), String>,
) -> Selection {
    let mut sel = Selection::default();
    for (index, &(media, encoding)) in streams.iter().enumerate() {
        let looking_for = |kind| match kind {
            Kind::Video => want_video && sel.video.is_none(),
            Kind::Audio => want_audio && sel.audio.is_none(),
        };
        match classify(media, encoding) {
            Classified::Video(codec) if looking_for(Kind::Video) => {
                sel.video = Some((index, codec));
            }
            Classified::Audio(codec) if looking_for(Kind::Audio) => match check_audio(index) {
                Ok(()) => sel.audio = Some((index, codec)),
                Err(reason) => sel.skipped.push(Skipped {
                    index,
                    kind: Kind::Audio,
                    reason: format!("{}: {reason}", codec.name()),
                }),
            },
            Classified::Unsupported(kind) if looking_for(kind) => sel.skipped.push(Skipped {
                index,
                kind,
                reason: format!("{} is not supported yet", encoding.to_ascii_uppercase()),
            }),
            _ => {}
        }
    }
    sel
}

impl Selection {
    /// Checks that what was wanted was found: with both kinds wanted, one is enough.
    /// Returns the missing kind's description for [`Error::NoUsableStream`](crate::Error).
    pub(crate) fn check(&self, want_video: bool, want_audio: bool) -> Result<(), &'static str> {
        match (want_video, want_audio) {
            (true, true) if self.video.is_none() && self.audio.is_none() => Err("video or audio"),
            (true, false) if self.video.is_none() => Err("video"),
            (false, true) if self.audio.is_none() => Err("audio"),
            (false, false) => Err("video or audio"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: usize) -> Result<(), String> {
        Ok(())
    }

    #[test]
    fn picks_first_video_and_first_aac() {
        let streams = [
            ("application", "vnd.onvif.metadata"),
            ("video", "h265"),
            ("video", "h264"),
            ("audio", "mpeg4-generic"),
            ("audio", "mpeg4-generic"),
        ];
        let sel = select_streams(&streams, true, true, ok);
        assert_eq!(sel.video, Some((1, VideoCodec::H265)));
        assert_eq!(sel.audio, Some((3, AudioCodec::Aac)));
        assert!(sel.skipped.is_empty());
        assert_eq!(sel.check(true, true), Ok(()));
    }

    #[test]
    fn skips_unsupported_audio_with_reason() {
        let streams = [
            ("video", "h264"),
            ("audio", "g722"),
            ("audio", "mpeg4-generic"),
        ];
        let sel = select_streams(&streams, true, true, ok);
        assert_eq!(sel.video, Some((0, VideoCodec::H264)));
        assert_eq!(sel.audio, Some((2, AudioCodec::Aac)));
        assert_eq!(
            sel.skipped,
            vec![Skipped {
                index: 1,
                kind: Kind::Audio,
                reason: "G722 is not supported yet".to_owned()
            }]
        );
    }

    #[test]
    fn only_unsupported_audio_means_video_only() {
        let streams = [("video", "h264"), ("audio", "g726-32"), ("audio", "opus")];
        let sel = select_streams(&streams, true, true, ok);
        assert_eq!(sel.audio, None);
        assert_eq!(sel.skipped.len(), 2);
        assert_eq!(sel.skipped[1].reason, "OPUS is not supported yet");
        assert_eq!(sel.check(true, true), Ok(()));
        assert_eq!(sel.check(false, true), Err("audio"));
    }

    #[test]
    fn g711_and_l16_are_selected() {
        for (encoding, codec) in [
            ("pcmu", AudioCodec::Pcmu),
            ("pcma", AudioCodec::Pcma),
            ("l16", AudioCodec::L16),
        ] {
            let streams = [("audio", "g722"), ("audio", encoding), ("video", "h264")];
            let sel = select_streams(&streams, true, true, ok);
            assert_eq!(sel.audio, Some((1, codec)));
            assert_eq!(sel.video, Some((2, VideoCodec::H264)));
            assert_eq!(sel.skipped.len(), 1);
        }
    }

    #[test]
    fn jpeg_as_image_or_video_and_unsupported_video() {
        let streams = [("video", "mp4v-es"), ("image", "jpeg")];
        let sel = select_streams(&streams, true, false, ok);
        assert_eq!(sel.video, Some((1, VideoCodec::Jpeg)));
        assert_eq!(sel.skipped[0].kind, Kind::Video);
        assert_eq!(sel.skipped[0].reason, "MP4V-ES is not supported yet");
    }

    #[test]
    fn unwanted_kinds_are_neither_selected_nor_reported() {
        let streams = [
            ("video", "h264"),
            ("audio", "g722"),
            ("audio", "mpeg4-generic"),
        ];
        let sel = select_streams(&streams, false, true, ok);
        assert_eq!(sel.video, None);
        assert_eq!(sel.audio, Some((2, AudioCodec::Aac)));
        let sel = select_streams(&streams, true, false, ok);
        assert_eq!(sel.audio, None);
        assert!(sel.skipped.is_empty());
    }

    #[test]
    fn rejected_audio_candidate_falls_through_to_next() {
        let streams = [("audio", "mpeg4-generic"), ("audio", "mpeg4-generic")];
        let sel = select_streams(&streams, true, true, |i| {
            if i == 0 {
                Err("no config".to_owned())
            } else {
                Ok(())
            }
        });
        assert_eq!(sel.audio, Some((1, AudioCodec::Aac)));
        assert_eq!(sel.skipped[0].reason, "AAC: no config");
        assert_eq!(sel.check(true, true), Ok(()));
        assert_eq!(sel.check(true, false), Err("video"));
    }

    #[test]
    fn nothing_usable() {
        let sel = select_streams(&[("audio", "mp4a-latm")], true, true, ok);
        assert_eq!(sel.check(true, true), Err("video or audio"));
        assert_eq!(
            Selection::default().check(false, false),
            Err("video or audio")
        );
    }
}
