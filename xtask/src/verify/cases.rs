//! The case table: what each case records and checks, and which runner runs it.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::AAC_FRAME_S;
use super::lifecycle::{run_double_signal, run_max_retries, run_reconnect, run_run};
use super::loss::run_loss;
use super::pcm::run_pcm;
use super::power::run_power;
use super::recording::{check_reordering, run_fmp4, run_kill9, run_segments, run_standard};
use super::retention::run_retention;
use super::tools::Recorder;
use super::web::run_web;
use crate::probe::{Expect, ExpectAudio};
use crate::server::MOUNTS;

/// What a case checks.
#[derive(Clone, Debug)]
pub(super) enum Check {
    /// A default recording against these expectations.
    Standard(Expect),
    /// A default recording of a stream with B-frames: [`Check::Standard`] and the
    /// reordering checks.
    BFrames(Expect),
    /// `--format fmp4`.
    Fmp4(Expect),
    /// SIGKILL then repair.
    Kill9,
    /// Copies of a `--format fmp4` recording with zeroed fragment data, verified and
    /// repaired.
    PowerLoss,
    /// `--segment-duration`, into this subdirectory, with audio samples this long (s).
    Segments(&'static str, f64),
    /// The server goes away and comes back.
    Reconnect,
    /// `recorder run` with three cameras, stopped by SIGTERM.
    Run,
    /// A second signal.
    DoubleSignal,
    /// `--max-retries 0` against a refused port.
    MaxRetries,
    /// A mount that drops packets, recorded with this `--on-loss` policy.
    Loss(&'static str),
    /// `recorder run --http`: the HTTP API's exports, Range/ETag, VOD playlist, metrics.
    Http,
    /// `recorder run` serving HTTP, and the web page in headless Chromium.
    Web,
    /// `recorder run` with retention by age, by size and by free space (on a private
    /// tmpfs), and a catalog rebuild.
    Retention,
    /// G.711 or L16 audio: [`Check::Standard`], the audio's end, and its samples against
    /// ffmpeg's capture of the stream.
    Pcm(Expect),
}

/// One verify case: a server mount and what its recording must contain.
pub(super) struct Case {
    pub(super) name: &'static str,
    pub(super) mount: &'static str,
    pub(super) check: Check,
}

const AAC: ExpectAudio = ExpectAudio {
    codec: "aac",
    sample_rate_hz: 48_000,
    channels: 2,
};

/// The four standard cases' names, mounts and expectations.
pub(super) fn standard_expect(duration_s: f64) -> Vec<(&'static str, Expect)> {
    let video = |codec, tag, gop_frames, audio| Expect {
        video_codec: codec,
        video_tag: tag,
        width: 640,
        height: 360,
        fps: 30.0,
        gop_frames,
        duration_s,
        audio,
    };
    vec![
        ("h264aac", video("h264", "avc1", 30, Some(AAC))),
        ("h265aac", video("hevc", "hvc1", 30, Some(AAC))),
        ("mjpeg", video("mjpeg", "mp4v", 1, None)),
        ("h264", video("h264", "avc1", 30, None)),
    ]
}

pub(super) fn cases(duration_s: f64) -> Vec<Case> {
    let mut all: Vec<Case> = standard_expect(duration_s)
        .into_iter()
        .map(|(name, expect)| Case {
            name,
            mount: MOUNTS
                .iter()
                .map(|(m, _)| *m)
                .find(|m| m[1..] == *name)
                .unwrap_or("/h264aac"),
            check: Check::Standard(expect),
        })
        .collect();
    let h264aac = all[0].check.clone();
    let Check::Standard(expect) = h264aac else {
        unreachable!("the first case is standard")
    };
    all.push(Case {
        name: "h264b",
        mount: "/h264b",
        check: Check::BFrames(expect.clone()),
    });
    let Check::Standard(h265) = all[1].check.clone() else {
        unreachable!("the second case is standard")
    };
    all.push(Case {
        name: "h265b",
        mount: "/h265b",
        check: Check::BFrames(h265),
    });
    all.push(Case {
        name: "fmp4",
        mount: "/h264aac",
        check: Check::Fmp4(expect),
    });
    all.push(Case {
        name: "kill9",
        mount: "/h264aac",
        check: Check::Kill9,
    });
    all.push(Case {
        name: "power264",
        mount: "/h264aac",
        check: Check::PowerLoss,
    });
    all.push(Case {
        name: "power265",
        mount: "/h265aac",
        check: Check::PowerLoss,
    });
    all.push(Case {
        name: "segments",
        mount: "/h264aac",
        check: Check::Segments("segments", AAC_FRAME_S),
    });
    all.push(Case {
        name: "reconnect",
        mount: "/h264aac",
        check: Check::Reconnect,
    });
    all.push(Case {
        name: "run",
        mount: "/h264aac",
        check: Check::Run,
    });
    all.push(Case {
        name: "http",
        mount: "/h264aacsmall",
        check: Check::Http,
    });
    all.push(Case {
        name: "sigint2",
        mount: "/h264",
        check: Check::DoubleSignal,
    });
    all.push(Case {
        name: "maxretries",
        mount: "/h264",
        check: Check::MaxRetries,
    });
    for (name, mount, sample_rate_hz, channels) in [
        ("pcmu", "/h264pcmu", 8_000, 1),
        ("pcma", "/h264pcma", 8_000, 1),
        ("l16", "/h264l16", 16_000, 2),
    ] {
        let Check::Standard(h264) = all[3].check.clone() else {
            unreachable!("the fourth case is standard")
        };
        // The audio mounts' video is 320x180 (less encoding beside the other cases).
        let h264 = Expect {
            width: 320,
            height: 180,
            ..h264
        };
        if name == "pcmu" {
            all.push(Case {
                name: "fmp4pcmu",
                mount,
                check: Check::Fmp4(Expect {
                    audio: Some(ExpectAudio {
                        codec: "flac",
                        sample_rate_hz,
                        channels,
                    }),
                    ..h264.clone()
                }),
            });
            all.push(Case {
                name: "kill9pcmu",
                mount,
                check: Check::Kill9,
            });
            all.push(Case {
                name: "segpcmu",
                mount,
                check: Check::Segments("segpcmu", 0.040),
            });
        }
        all.push(Case {
            name,
            mount,
            check: Check::Pcm(Expect {
                audio: Some(ExpectAudio {
                    codec: "flac",
                    sample_rate_hz,
                    channels,
                }),
                ..h264.clone()
            }),
        });
    }
    // The audio mounts' 320x180 video: less encoding beside the other cases.
    all.push(Case {
        name: "web",
        mount: "/h264pcmu",
        check: Check::Web,
    });
    all.push(Case {
        name: "retention",
        mount: "/h264pcmu",
        check: Check::Retention,
    });
    all.push(Case {
        name: "loss1",
        mount: "/h264loss1",
        check: Check::Loss("keep"),
    });
    all.push(Case {
        name: "loss1clean",
        mount: "/h264loss1",
        check: Check::Loss("skip-to-keyframe"),
    });
    all
}

pub(super) fn run_case(
    recorder: &Recorder,
    url: &str,
    base: &str,
    case: &Case,
    dir: &Path,
) -> Result<String> {
    let log = dir.join(format!("{}.log", case.name));
    let file = dir.join(format!("{}.mp4", case.name));
    let bin = match recorder {
        Recorder::Ours(bin) => Some(bin.as_path()),
        Recorder::Ffmpeg => None,
    };
    match (&case.check, bin) {
        (Check::Standard(expect), _) => run_standard(recorder, url, expect, &file, &log),
        (Check::BFrames(expect), _) => {
            let line = run_standard(recorder, url, expect, &file, &log)?;
            let reorder = check_reordering(&file).context("b-frame check")?;
            Ok(format!("{line}; {reorder}"))
        }
        (Check::Fmp4(expect), Some(_)) => run_fmp4(recorder, url, expect, &file, &log),
        (Check::Kill9, Some(bin)) => run_kill9(recorder, bin, url, &file, &log),
        (Check::PowerLoss, Some(bin)) => run_power(recorder, bin, url, &file, &log),
        (Check::Segments(sub, frame_s), Some(_)) => {
            run_segments(recorder, url, dir, sub, *frame_s, &log)
        }
        (Check::Reconnect, Some(bin)) => run_reconnect(bin, dir, &log),
        (Check::Run, Some(bin)) => run_run(bin, base, dir, &log),
        (Check::Http, Some(bin)) => super::http::run_http(bin, base, dir, &log),
        (Check::DoubleSignal, Some(bin)) => run_double_signal(bin, url, dir, &log),
        (Check::MaxRetries, Some(bin)) => run_max_retries(bin, dir, &log),
        (Check::Loss(policy), Some(bin)) => run_loss(bin, url, policy, dir, &log),
        (Check::Web, Some(bin)) => run_web(bin, url, dir, &log),
        (Check::Retention, Some(bin)) => run_retention(bin, url, dir, &log),
        (Check::Pcm(expect), _) => run_pcm(recorder, url, expect, &file, &log),
        (_, None) => bail!("case {} needs our recorder", case.name),
    }
}
