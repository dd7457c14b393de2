//! The `http` case: `recorder run --http` recording /h264aacsmall in 2 s files, its HTTP
//! API checked while it records, with curl, ffprobe, ffmpeg and the strict parser as the
//! clients: an export across three files, Range/ETag, the VOD playlist, `/metrics`, and
//! the error replies.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::FRAME_S;
use super::http_checks::{MetricSample, Reply, content_range, parse_metrics, playlist};
use super::tools::{decode_clean, ffprobe_json, free_port, send_signal};
use crate::strict;
use crate::util::{ChildGuard, display, output, tail};

/// The camera's name in the configuration.
const CAMERA: &str = "cam";
/// Finished files to wait for before the checks (the export uses the first three).
const FILES: usize = 4;

/// A source file's video as the checks need it.
struct Source {
    path: PathBuf,
    /// Wall-clock start (Unix ns), from the catalog.
    wall_ns: i64,
    /// Wall-clock end (Unix ns), from the catalog.
    end_ns: i64,
    /// Per video frame in presentation order: pts in ns from the file's zero, keyframe.
    frames: Vec<(i64, bool)>,
}

impl Source {
    fn load(file: &Value) -> Result<Source> {
        let path = PathBuf::from(file["path"].as_str().context("a file without a path")?);
        let wall = |key: &str| -> Result<i64> {
            let t = file[key].as_str().context("a file without times")?;
            let ts: jiff::Timestamp = t.parse().with_context(|| format!("bad time {t:?}"))?;
            Ok(i64::try_from(ts.as_nanosecond())?)
        };
        let probe = ffprobe_json(
            &[
                "-select_streams",
                "v:0",
                "-show_streams",
                "-show_packets",
                "-show_entries",
                "stream=time_base:packet=pts,flags",
            ],
            &path,
        )?;
        let tb = probe["streams"][0]["time_base"].as_str().unwrap_or("");
        let hz: i64 = tb
            .strip_prefix("1/")
            .and_then(|h| h.parse().ok())
            .with_context(|| format!("{}: time base {tb:?}", path.display()))?;
        let mut frames = probe["packets"]
            .as_array()
            .context("no packets")?
            .iter()
            .map(|p| {
                let pts = p["pts"].as_i64().context("a packet without pts")?;
                let key = p["flags"].as_str().is_some_and(|f| f.starts_with('K'));
                // Rounded to the nearest ns, as the exporter places samples.
                let ns = (2 * i128::from(pts) * 1_000_000_000 + i128::from(hz))
                    .div_euclid(2 * i128::from(hz));
                Ok((i64::try_from(ns)?, key))
            })
            .collect::<Result<Vec<_>>>()?;
        frames.sort_by_key(|f| f.0);
        Ok(Source {
            path,
            wall_ns: wall("start")?,
            end_ns: wall("end")?,
            frames,
        })
    }

    /// The frame whose presentation time is nearest `offset_ns` from the file's start.
    fn nearest(&self, offset_ns: i64) -> usize {
        (0..self.frames.len())
            .min_by_key(|&i| (self.frames[i].0 - offset_ns).abs())
            .unwrap_or(0)
    }
}

/// Runs `curl -i` (with `args`) on `url`.
fn curl(url: &str, args: &[&str]) -> Result<Reply> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-i", "--noproxy", "*", "--max-time", "60"])
        .args(args)
        .arg(url);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{}`", display(&cmd)))?;
    ensure!(
        out.status.success(),
        "`{}` failed: {}",
        display(&cmd),
        String::from_utf8_lossy(&out.stderr)
    );
    Reply::parse(&out.stdout).with_context(|| display(&cmd))
}

/// `GET url` that must answer 200 with JSON.
fn get_json(url: &str) -> Result<Value> {
    let r = curl(url, &[])?;
    ensure!(
        r.status == 200,
        "GET {url}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    serde_json::from_slice(&r.body).with_context(|| format!("GET {url}: not JSON"))
}

fn rfc3339(ns: i64) -> Result<String> {
    Ok(jiff::Timestamp::from_nanosecond(i128::from(ns))?.to_string())
}

pub(super) fn run_http(bin: &Path, base: &str, dir: &Path, log: &Path) -> Result<String> {
    let run_dir = dir.join("http");
    std::fs::create_dir_all(&run_dir)?;
    let port = free_port()?;
    let config = format!(
        "[defaults]\noutput = \"{}/{{name}}/%H-%M-%S.mp4\"\nsegment_duration = \"2s\"\n\
         stall_timeout = \"5s\"\n\n[http]\nlisten = \"127.0.0.1:{port}\"\n\n[[camera]]\n\
         name = \"{CAMERA}\"\nurl = \"{base}/h264aacsmall?case=http\"\n",
        run_dir.display()
    );
    let config_path = dir.join("http.toml");
    std::fs::write(&config_path, &config)?;
    let mut cmd = Command::new(bin);
    cmd.args(["run", "--config"]).arg(&config_path);
    let mut child = ChildGuard::spawn_logged(&mut cmd, log)?;
    let api = format!("http://127.0.0.1:{port}/api/cameras/{CAMERA}");
    let recordings = format!("{api}/recordings?files=1");
    // Wait (while it records) until the catalog lists enough finished files.
    let start = Instant::now();
    let files = loop {
        if let Ok(list) = get_json(&recordings) {
            let files = list["files"].as_array().cloned().unwrap_or_default();
            if files.len() >= FILES {
                break files;
            }
        }
        ensure!(
            start.elapsed() < Duration::from_secs(60),
            "the catalog did not list {FILES} files within 60 s; the output:\n{}",
            tail(log, 30)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let sources = files[..3]
        .iter()
        .map(Source::load)
        .collect::<Result<Vec<_>>>()
        .context("reading the source files")?;
    let mut parts = Vec::new();
    let range = export_range(&sources)?;
    let query = format!("start={}&end={}", rfc3339(range.0)?, rfc3339(range.1)?);
    parts.push(check_export(&api, &query, &sources, range, dir).context("export.mp4")?);
    parts.push(check_ranges(&api, &query).context("export.mp4 Range/ETag")?);
    parts.push(check_vod(&api, &query, &sources, range).context("vod.m3u8")?);
    parts.push(check_errors(&api).context("error replies")?);
    parts.push(check_metrics(port, &recordings, &run_dir.join(CAMERA)).context("/metrics")?);
    let recorded_s = start.elapsed().as_secs_f64();
    send_signal(child.id(), "TERM")?;
    let status = child
        .wait_timeout(Duration::from_secs(20))?
        .with_context(|| {
            format!(
                "recorder run did not exit after SIGTERM:\n{}",
                tail(log, 30)
            )
        })?;
    ensure!(
        status.success(),
        "recorder run failed ({status}) on SIGTERM; its output:\n{}",
        tail(log, 30)
    );
    Ok(format!(
        "checked while recording ({recorded_s:.1} s after the start), then exit 0 on \
         SIGTERM; {}",
        parts.join("; ")
    ))
}

/// The export range: from the frame nearest 1.3 s into the first file (exactly at its
/// presentation instant) to the middle of the frame nearest 1.5 s before the third
/// file's end.
fn export_range(sources: &[Source]) -> Result<(i64, i64)> {
    let (first, last) = (&sources[0], &sources[2]);
    let k0 = first.nearest(1_300_000_000);
    let k2 = last.nearest(last.end_ns - last.wall_ns - 1_500_000_000);
    let half = (FRAME_S * 0.5e9) as i64;
    Ok((
        first.wall_ns + first.frames[k0].0,
        last.wall_ns + last.frames[k2].0 + half,
    ))
}

/// The video frames the recording holds from the keyframe at or before `start` to `end`
/// (presented before it), over the three files, and that keyframe's wall-clock instant.
fn frames_from_keyframe(sources: &[Source], (start, end): (i64, i64)) -> (usize, i64) {
    let first = &sources[0];
    let kf = (0..first.frames.len())
        .rfind(|&i| first.frames[i].1 && first.wall_ns + first.frames[i].0 <= start)
        .unwrap_or(0);
    let mut n = first.frames.len() - kf;
    n += sources[1].frames.len();
    let last = &sources[2];
    n += last
        .frames
        .iter()
        .filter(|f| last.wall_ns + f.0 < end)
        .count();
    (n, first.wall_ns + first.frames[kf].0)
}

/// The MD5 of each decoded video frame of `input`, in presentation order (at most `max`).
fn frame_md5s(input: &Path, max: usize) -> Result<Vec<String>> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-i"])
        .arg(input)
        .args(["-map", "0:v:0", "-fps_mode", "passthrough", "-frames:v"])
        .arg(max.to_string())
        .args(["-f", "framemd5", "-"]);
    let text = output(&mut cmd)?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_owned()))
        .collect())
}

/// The export: duration, decode, strict parse, streams, and its first frame.
fn check_export(
    api: &str,
    query: &str,
    sources: &[Source],
    (start, end): (i64, i64),
    dir: &Path,
) -> Result<String> {
    let url = format!("{api}/export.mp4?{query}");
    let r = curl(&url, &[])?;
    ensure!(r.status == 200, "GET: status {}", r.status);
    let file = dir.join("http-export.mp4");
    std::fs::write(&file, &r.body)?;
    let show = ffprobe_json(&["-show_streams", "-show_format"], &file)?;
    let duration: f64 = show["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .context("ffprobe reports no duration")?;
    let want = (end - start) as f64 / 1e9;
    ensure!(
        (duration - want).abs() <= FRAME_S,
        "ffprobe duration {duration:.6} s, the range is {want:.6} s (more than a frame apart)"
    );
    let kinds: Vec<&str> = show["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["codec_type"].as_str())
        .collect();
    ensure!(
        kinds.contains(&"video") && kinds.contains(&"audio"),
        "streams {kinds:?}, expected video and audio"
    );
    decode_clean(&file).context("ffmpeg -xerror")?;
    let parsed = strict::check_file(&file).context("mp4-atom strict")?;
    ensure!(parsed.moov_before_mdat(), "moov not first: {parsed}");
    // The frame at `start` in the first file, its neighbours distinct from it.
    let first = &sources[0];
    let k = first
        .frames
        .iter()
        .position(|f| first.wall_ns + f.0 == start)
        .context("no source frame at start")?;
    let src = frame_md5s(&first.path, k + 2)?;
    ensure!(
        src.len() == k + 2,
        "{} frames decoded from {}",
        src.len(),
        first.path.display()
    );
    ensure!(
        src[k] != src[k - 1] && src[k] != src[k + 1],
        "frames {} to {} of the source look alike: the first-frame check cannot tell them apart",
        k - 1,
        k + 1
    );
    let got = frame_md5s(&file, 1)?;
    let got = got.first().context("no frame decoded from the export")?;
    let which = src.iter().position(|h| h == got);
    ensure!(
        which == Some(k),
        "the export's first frame is the source's frame {which:?}, expected {k} (the one at \
         start, {:.3} s into {})",
        first.frames[k].0 as f64 / 1e9,
        first.path.display()
    );
    Ok(format!(
        "export of {want:.3} s across 3 files ({} bytes): ffprobe {duration:.3} s, video + \
         audio, ffmpeg -xerror clean, strict ok ({parsed}), first frame = source frame {k} \
         ({:.3} s into file 1, framemd5)",
        r.body.len(),
        first.frames[k].0 as f64 / 1e9
    ))
}

/// Range requests against the full body, 416, ETag with If-None-Match and If-Range, HEAD.
fn check_ranges(api: &str, query: &str) -> Result<String> {
    let url = format!("{api}/export.mp4?{query}");
    let full = curl(&url, &[])?;
    let body = &full.body;
    let len = body.len() as u64;
    let head = curl(&url, &["-I"])?;
    ensure!(head.status == 200, "HEAD: status {}", head.status);
    let head_len = head
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    ensure!(
        head_len == Some(len),
        "HEAD Content-Length {head_len:?}, the body has {len} bytes"
    );
    ensure!(
        head.header("accept-ranges") == Some("bytes"),
        "no Accept-Ranges: bytes"
    );
    let mid = len / 3;
    for (spec, first, last) in [
        ("bytes=0-1023".to_owned(), 0, 1023),
        (format!("bytes={mid}-{}", mid + len / 3), mid, mid + len / 3),
        ("bytes=-5000".to_owned(), len - 5000, len - 1),
    ] {
        let r = curl(&url, &["-H", &format!("Range: {spec}")])?;
        ensure!(r.status == 206, "{spec}: status {}", r.status);
        let cr = content_range(r.header("content-range").unwrap_or_default())?;
        ensure!(
            cr == (first, last, len),
            "{spec}: Content-Range {cr:?}, expected ({first}, {last}, {len})"
        );
        ensure!(
            r.body == body[first as usize..=last as usize],
            "{spec}: the {} bytes differ from the full body's bytes {first}-{last}",
            r.body.len()
        );
    }
    let r = curl(&url, &["-H", &format!("Range: bytes={len}-")])?;
    ensure!(
        r.status == 416,
        "bytes={len}-: status {}, expected 416",
        r.status
    );
    ensure!(
        r.header("content-range") == Some(format!("bytes */{len}").as_str()),
        "416 with Content-Range {:?}",
        r.header("content-range")
    );
    let etag = full.header("etag").context("no ETag")?;
    ensure!(!etag.starts_with("W/"), "a weak ETag {etag}");
    let r = curl(&url, &["-H", &format!("If-None-Match: {etag}")])?;
    ensure!(
        r.status == 304 && r.body.is_empty(),
        "If-None-Match: status {}",
        r.status
    );
    let r = curl(
        &url,
        &["-H", "Range: bytes=0-9", "-H", &format!("If-Range: {etag}")],
    )?;
    ensure!(
        r.status == 206 && r.body == body[..10],
        "If-Range with the ETag: status {}",
        r.status
    );
    let r = curl(
        &url,
        &["-H", "Range: bytes=0-9", "-H", "If-Range: \"other\""],
    )?;
    ensure!(
        r.status == 200 && r.body == *body,
        "If-Range with another ETag: status {}, {} bytes (expected 200 and the whole body)",
        r.status,
        r.body.len()
    );
    Ok(format!(
        "Range 0-1023, {mid}-{}, -5000 of {len} bytes: 206, same bytes, right Content-Range; \
         bytes={len}- 416; If-None-Match 304; If-Range; HEAD length {len}",
        mid + len / 3
    ))
}

/// The VOD playlist's shape, and ffmpeg's reading of it.
fn check_vod(api: &str, query: &str, sources: &[Source], range: (i64, i64)) -> Result<String> {
    let url = format!("{api}/vod.m3u8?{query}");
    let r = curl(&url, &[])?;
    ensure!(r.status == 200, "status {}", r.status);
    let list = playlist(&String::from_utf8_lossy(&r.body))?;
    let (want, keyframe_ns) = frames_from_keyframe(sources, range);
    let first_date = list.program_dates_ns[0];
    ensure!(
        (first_date - keyframe_ns).abs() <= 1_000_000,
        "the first segment's EXT-X-PROGRAM-DATE-TIME is {} ms from the keyframe at or before \
         start",
        (first_date - keyframe_ns) as f64 / 1e6
    );
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-xerror", "-i", &url])
        .args(["-map", "0", "-c", "copy", "-f", "framecrc", "-"]);
    let out = cmd.stdin(Stdio::null()).output()?;
    let said = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success() && said.trim().is_empty(),
        "`{}` was not clean ({}): {said}",
        display(&cmd),
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let count = |stream: &str| {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split(',').next().map(str::trim) == Some(stream))
            .count()
    };
    let (video, audio) = (count("0"), count("1"));
    ensure!(
        video == want,
        "ffmpeg read {video} video frames, the recording holds {want} from the keyframe at or \
         before start to end"
    );
    ensure!(audio > 0, "ffmpeg read no audio frame");
    let total: f64 = list.durations_s.iter().sum();
    Ok(format!(
        "vod.m3u8: {} segments ({total:.3} s), version 7, map, a date per segment, VOD, \
         endlist; ffmpeg -c copy read {video} video frames (expected {want}) and {audio} audio \
         frames, -xerror clean",
        list.durations_s.len()
    ))
}

/// A range with no media: 404 with a reason; a bad time: 400.
fn check_errors(api: &str) -> Result<String> {
    let none = curl(
        &format!("{api}/export.mp4?start=2001-01-01T00:00:00Z&end=2001-01-01T00:01:00Z"),
        &[],
    )?;
    let why_404 = none.json_error(404).context("a range with no media")?;
    let bad = curl(
        &format!("{api}/export.mp4?start=yesterday&end=2001-01-01T00:01:00Z"),
        &[],
    )?;
    let why_400 = bad.json_error(400).context("a bad time")?;
    let bad_vod = curl(
        &format!("{api}/vod.m3u8?start=2001-13-01T00:00:00Z&end=now"),
        &[],
    )?;
    bad_vod.json_error(400).context("a bad time (vod.m3u8)")?;
    Ok(format!(
        "no media: 404 {why_404:?}; bad time: 400 {why_400:?}"
    ))
}

/// `/metrics` parses, and its finished-file count equals the catalog's and the disk's
/// (read until the three agree and the metric did not move meanwhile: files keep
/// finishing every 2 s).
fn check_metrics(port: u16, recordings: &str, cam_dir: &Path) -> Result<String> {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let finished = || -> Result<(f64, usize)> {
        let r = curl(&url, &[])?;
        ensure!(r.status == 200, "status {}", r.status);
        let samples = parse_metrics(&String::from_utf8_lossy(&r.body))?;
        let n = samples
            .iter()
            .filter(|s: &&MetricSample| {
                s.name == "recorder_files_finished_total"
                    && s.labels.iter().any(|(k, v)| k == "camera" && v == CAMERA)
            })
            .map(|s| s.value)
            .next()
            .context("no recorder_files_finished_total{camera=\"cam\"}")?;
        Ok((n, samples.len()))
    };
    let mut seen = Vec::new();
    for _ in 0..20 {
        let (before, samples) = finished()?;
        let catalog = get_json(recordings)?["files"]
            .as_array()
            .map_or(0, Vec::len);
        // The .mp4 files (a `.partial` is always there while recording).
        let disk = std::fs::read_dir(cam_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
            .count();
        let (after, _) = finished()?;
        if before == after && before == catalog as f64 && catalog == disk {
            return Ok(format!(
                "/metrics: {samples} samples parse strictly; files_finished_total {after} = \
                 catalog {catalog} = disk {disk}"
            ));
        }
        seen.push(format!(
            "{before}/{after} vs catalog {catalog}, disk {disk}"
        ));
        std::thread::sleep(Duration::from_millis(300));
    }
    bail!(
        "recorder_files_finished_total never matched the catalog and the disk: {}",
        seen.join("; ")
    )
}
