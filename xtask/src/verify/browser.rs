//! Playback in headless Chromium: a finalized MP4 through a plain `<video>` element, and a
//! `--format fmp4` recording through Media Source Extensions (its init segment, then every
//! `moof`+`mdat` fragment appended), each until `currentTime` passes a second and a half
//! with the audio decoded. One browser at a time (the cases run concurrently on few cores).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use super::FRAGMENT_S;
use crate::chromium::{Browser, FileServer};
use crate::util::project_root;

/// Serializes the cases' browsers.
pub(super) static ONE_BROWSER: Mutex<()> = Mutex::new(());

/// How far playback must get (s).
const PLAY_PAST_S: f64 = 1.5;
/// How long the page may take to play that far (a loaded 2-core machine included), ms.
const PLAY_TIMEOUT_MS: u64 = 60_000;

/// Codecs that the README says Chromium's MSE refuses in MP4.
const REFUSED: [&str; 3] = ["ulaw", "alaw", "ipcm"];

/// One file's top-level boxes as `(offset, length, fourcc)`.
pub(super) fn top_level_boxes(data: &[u8]) -> Result<Vec<(usize, usize, [u8; 4])>> {
    let mut boxes = Vec::new();
    let mut at = 0;
    while at < data.len() {
        ensure!(at + 8 <= data.len(), "a box header is cut at byte {at}");
        let size32 = u32::from_be_bytes(data[at..at + 4].try_into()?);
        let kind: [u8; 4] = data[at + 4..at + 8].try_into()?;
        let size = match size32 {
            0 => data.len() - at,
            1 => {
                ensure!(at + 16 <= data.len(), "a largesize is cut at byte {at}");
                usize::try_from(u64::from_be_bytes(data[at + 8..at + 16].try_into()?))?
            }
            n => n as usize,
        };
        ensure!(
            size >= 8 && at + size <= data.len(),
            "box {} at byte {at} has a bad size {size}",
            String::from_utf8_lossy(&kind)
        );
        boxes.push((at, size, kind));
        at += size;
    }
    Ok(boxes)
}

/// Where a fragmented file's MSE segments are: the init segment (`ftyp` and `moov`, as
/// byte ranges: a `free` box may sit between them) and each media segment (a `moof` and
/// the `mdat` after it, one range).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Segments {
    pub(super) init: Vec<(usize, usize)>,
    pub(super) fragments: Vec<(usize, usize)>,
}

pub(super) fn split_segments(data: &[u8]) -> Result<Segments> {
    let boxes = top_level_boxes(data)?;
    let find = |kind: &[u8; 4]| boxes.iter().find(|b| &b.2 == kind).map(|b| (b.0, b.1));
    let ftyp = find(b"ftyp").context("no ftyp")?;
    let moov = find(b"moov").context("no moov")?;
    let mut fragments = Vec::new();
    for pair in boxes.windows(2) {
        if &pair[0].2 == b"moof" {
            ensure!(
                &pair[1].2 == b"mdat",
                "the moof at byte {} is followed by {}, not an mdat",
                pair[0].0,
                String::from_utf8_lossy(&pair[1].2)
            );
            fragments.push((pair[0].0, pair[0].1 + pair[1].1));
        }
    }
    ensure!(
        !fragments.is_empty(),
        "no moof+mdat fragment in the file (finalized?)"
    );
    ensure!(
        moov.0 < fragments[0].0,
        "the moov comes after the first fragment"
    );
    Ok(Segments {
        init: vec![ftyp, moov],
        fragments,
    })
}

/// The RFC 6381 codec string of the first `avcC` in `moov`: `avc1.PPCCLL` (profile,
/// constraint flags, level in hex).
pub(super) fn avc1_codec(moov: &[u8]) -> Result<String> {
    let at = moov
        .windows(4)
        .position(|w| w == b"avcC")
        .context("no avcC box in the moov")?;
    let config = moov
        .get(at + 4..at + 8)
        .context("the avcC box is cut short")?;
    ensure!(
        config[0] == 1,
        "avcC configurationVersion {} is not 1",
        config[0]
    );
    Ok(format!(
        "avc1.{:02x}{:02x}{:02x}",
        config[1], config[2], config[3]
    ))
}

/// `target/verify-artifacts` (`$CARGO_TARGET_DIR/verify-artifacts`), created.
pub(super) fn artifacts_dir() -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), PathBuf::from);
    let dir = target.join("verify-artifacts");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Plays `mp4` (finalized) in a `<video>` and `fmp4` (fragmented) through MSE in headless
/// Chromium; `width`x`height` is the video's size, `duration_s` the fragmented file's
/// (ffprobe's). Screenshots go to `target/verify-artifacts/{name}-*.png`.
pub(super) fn check_playback(
    name: &str,
    mp4: &Path,
    fmp4: &Path,
    (width, height): (u64, u64),
    duration_s: f64,
) -> Result<String> {
    let dir = mp4.parent().context("the recording has no directory")?;
    let page_name = format!("{name}-page.html");
    std::fs::write(
        dir.join(&page_name),
        "<!doctype html><title>verify</title><body style=\"margin:0;background:#333\"></body>\n",
    )?;
    let data = std::fs::read(fmp4).with_context(|| format!("cannot read {}", fmp4.display()))?;
    let segments = split_segments(&data).context("splitting the fmp4 file for MSE")?;
    let moov = segments.init[1];
    let codecs = format!("{}, flac", avc1_codec(&data[moov.0..moov.0 + moov.1])?);
    let file_name = |p: &Path| -> Result<String> {
        Ok(p.file_name()
            .and_then(|n| n.to_str())
            .context("a file name that is not UTF-8")?
            .to_string())
    };

    let server = FileServer::start(dir)?;
    let artifacts = artifacts_dir()?;
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let browser = Browser::launch(&dir.join(format!("{name}-chromium.log")))?;
    let version = browser.version()?;
    let mut page = browser.new_page()?;
    page.navigate(&server.url(&page_name))?;

    // MSE support as the README states it.
    let types: Vec<String> = [format!("video/mp4; codecs=\"{codecs}\"")]
        .into_iter()
        .chain(REFUSED.iter().map(|c| format!("audio/mp4; codecs=\"{c}\"")))
        .collect();
    let supported = page.evaluate(&format!(
        "{}.map(t => MediaSource.isTypeSupported(t))",
        json!(types)
    ))?;
    ensure!(
        supported[0] == json!(true),
        "MediaSource.isTypeSupported({:?}) is false",
        types[0]
    );
    for (k, t) in types.iter().enumerate().skip(1) {
        ensure!(
            supported[k] == json!(false),
            "MediaSource.isTypeSupported({t:?}) is true; the README says Chromium refuses it"
        );
    }

    // A plain <video> on the finalized file.
    let plain = page
        .evaluate(&play_js(&format!(
            "v.src = {};",
            json!(server.url(&file_name(mp4)?))
        )))
        .context("<video> playback")?;
    page.screenshot(&artifacts.join(format!("{name}-video.png")))?;
    let plain_line = check_played("<video>", &plain, width, height)
        .with_context(|| format!("<video> of {}", mp4.display()))?;

    // MSE on the fragmented file.
    let setup = format!(
        "{MSE_JS}\nawait mse(v, {}, {}, {}, {});",
        json!(server.url(&file_name(fmp4)?)),
        json!(format!("video/mp4; codecs=\"{codecs}\"")),
        json!(segments.init),
        json!(segments.fragments)
    );
    let mse = page.evaluate(&play_js(&setup)).context("MSE playback")?;
    page.screenshot(&artifacts.join(format!("{name}-mse.png")))?;
    let mse_line = check_played("MSE", &mse, width, height)
        .with_context(|| format!("MSE of {}", fmp4.display()))?;
    let ranges = mse["buffered"].as_array().context("no buffered ranges")?;
    let [range] = ranges.as_slice() else {
        bail!(
            "MSE: {} buffered ranges, expected one: {ranges:?}",
            ranges.len()
        );
    };
    let (start, end) = (
        range[0].as_f64().unwrap_or(f64::NAN),
        range[1].as_f64().unwrap_or(f64::NAN),
    );
    ensure!(
        start <= FRAGMENT_S && (end - start - duration_s).abs() <= FRAGMENT_S,
        "MSE: buffered {start:.3}-{end:.3} s does not cover the file's {duration_s:.3} s \
         within one {FRAGMENT_S} s fragment"
    );
    drop(page);
    drop(browser);
    Ok(format!(
        "{version}: isTypeSupported {codecs:?} yes, {} no; <video> {plain_line}; MSE ({} \
         fragments appended, buffered {start:.3}-{end:.3} s of {duration_s:.3} s) {mse_line}",
        REFUSED.join("/"),
        segments.fragments.len()
    ))
}

/// What a page's playback reported, checked: no error, past [`PLAY_PAST_S`], the video's
/// size, video frames and audio bytes decoded.
fn check_played(what: &str, r: &Value, width: u64, height: u64) -> Result<String> {
    let errors = r["errors"].as_array().cloned().unwrap_or_default();
    ensure!(errors.is_empty(), "{what}: {}", json!(errors));
    let num = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    ensure!(
        num("currentTime") > PLAY_PAST_S,
        "{what}: currentTime reached only {:.3} s in {} ms (readyState {}, networkState {})",
        num("currentTime"),
        PLAY_TIMEOUT_MS,
        r["readyState"],
        r["networkState"]
    );
    ensure!(
        r["width"] == json!(width) && r["height"] == json!(height),
        "{what}: videoWidth x videoHeight {}x{}, the stream is {width}x{height}",
        r["width"],
        r["height"]
    );
    ensure!(num("videoFrames") > 0.0, "{what}: no video frame decoded");
    ensure!(
        num("audioBytes") > 0.0,
        "{what}: no audio decoded (webkitAudioDecodedByteCount 0): audio missing or undecodable"
    );
    Ok(format!(
        "played to {:.2} s, {}x{}, {} video frames and {} audio bytes decoded",
        num("currentTime"),
        r["width"],
        r["height"],
        r["videoFrames"],
        r["audioBytes"]
    ))
}

/// A script that makes a `<video>`, runs `setup` (which gives it a source), plays it, and
/// polls until it passes [`PLAY_PAST_S`] with audio decoded, fails, or times out.
fn play_js(setup: &str) -> String {
    format!(
        r#"(async () => {{
  document.querySelectorAll('video').forEach(old => {{ old.pause(); old.remove(); }});
  const v = document.createElement('video');
  v.width = 640;
  document.body.appendChild(v);
  const errors = [];
  v.addEventListener('error', () =>
    errors.push(`media error ${{v.error && v.error.code}}: ${{v.error && v.error.message}}`));
  let buffered = [];
  try {{
    {setup}
    buffered = Array.from({{length: v.buffered.length}}, (_, i) => [v.buffered.start(i), v.buffered.end(i)]);
    v.play().catch(e => errors.push(`play(): ${{e}}`));
  }} catch (e) {{
    errors.push(String(e));
  }}
  const deadline = performance.now() + {PLAY_TIMEOUT_MS};
  while (!errors.length && performance.now() < deadline &&
         !v.ended && !(v.currentTime > {PLAY_PAST_S} && v.webkitAudioDecodedByteCount > 0)) {{
    await new Promise(r => setTimeout(r, 100));
  }}
  v.pause();
  return {{
    errors, buffered,
    currentTime: v.currentTime, width: v.videoWidth, height: v.videoHeight,
    videoFrames: v.webkitDecodedFrameCount, audioBytes: v.webkitAudioDecodedByteCount,
    readyState: v.readyState, networkState: v.networkState,
  }};
}})()"#
    )
}

/// `mse(video, url, type, init, fragments)`: fetches `url`, attaches a `MediaSource`,
/// appends the init segment's ranges and then each fragment's (`[offset, length]` pairs),
/// waiting for each append; a SourceBuffer error or a refused append throws, naming it.
const MSE_JS: &str = r#"
async function mse(v, url, type, init, fragments) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetch ${url}: ${response.status}`);
  const data = new Uint8Array(await response.arrayBuffer());
  const ms = new MediaSource();
  v.src = URL.createObjectURL(ms);
  await new Promise(r => ms.addEventListener('sourceopen', r, { once: true }));
  const sb = ms.addSourceBuffer(type);
  const append = (what, bytes) => new Promise((resolve, reject) => {
    const done = () => { sb.removeEventListener('error', failed); resolve(); };
    const failed = () => { sb.removeEventListener('updateend', done); reject(new Error(`SourceBuffer error on ${what}`)); };
    sb.addEventListener('updateend', done, { once: true });
    sb.addEventListener('error', failed, { once: true });
    try { sb.appendBuffer(bytes); } catch (e) { reject(new Error(`appendBuffer(${what}): ${e}`)); }
  });
  const initBytes = new Uint8Array(init.reduce((n, [, len]) => n + len, 0));
  let at = 0;
  for (const [off, len] of init) { initBytes.set(data.subarray(off, off + len), at); at += len; }
  await append('the init segment', initBytes);
  for (const [k, [off, len]] of fragments.entries()) {
    await append(`fragment ${k + 1} of ${fragments.length} (byte ${off})`, data.subarray(off, off + len));
  }
  if (ms.readyState !== 'open') throw new Error(`MediaSource ${ms.readyState} after the appends`);
  ms.endOfStream();
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn splits_init_and_fragments() {
        // avcC: version 1, profile 0x64 (High), constraints 0x00, level 0x1f (3.1).
        let moov = boxed(b"moov", &boxed(b"avcC", &[1, 0x64, 0x00, 0x1f, 0xff]));
        let parts = [
            boxed(b"ftyp", b"isom"),
            boxed(b"free", &[0; 20]),
            moov.clone(),
            boxed(b"moof", &[1; 10]),
            boxed(b"mdat", &[2; 30]),
            boxed(b"moof", &[3; 12]),
            boxed(b"mdat", &[4; 5]),
        ];
        let data = parts.concat();
        let s = split_segments(&data).unwrap();
        assert_eq!(s.init, vec![(0, 12), (40, moov.len())]);
        let first = 40 + moov.len();
        assert_eq!(s.fragments, vec![(first, 18 + 38), (first + 56, 20 + 13)]);
        assert_eq!(avc1_codec(&moov).unwrap(), "avc1.64001f");
    }

    #[test]
    fn refuses_files_without_fragments_or_with_bad_boxes() {
        let finalized = [
            boxed(b"ftyp", b"isom"),
            boxed(b"moov", &[]),
            boxed(b"mdat", &[0; 4]),
        ]
        .concat();
        let e = split_segments(&finalized).unwrap_err();
        assert!(e.to_string().contains("no moof"), "{e}");
        let orphan = [
            boxed(b"ftyp", b"isom"),
            boxed(b"moov", &[]),
            boxed(b"moof", &[]),
            boxed(b"free", &[]),
        ]
        .concat();
        assert!(split_segments(&orphan).is_err());
        let mut cut = boxed(b"ftyp", b"isom");
        cut[3] = 200;
        assert!(top_level_boxes(&cut).is_err());
        assert!(avc1_codec(b"moov").is_err());
    }
}
