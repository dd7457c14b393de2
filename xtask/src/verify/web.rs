//! The `web` case: `recorder run` with `[http]` recording one camera in 2 s files, then
//! the web page in headless Chromium: the camera listed as recording, a span on the
//! day's timeline, a click on it playing the export (its size, `currentTime` past a
//! second), a seek within the export, the download link (the played range, then a
//! shorter one chosen in From/To, each an attachment), today's timeline growing when
//! refreshed, and the live view playing through Media Source Extensions while the live
//! playlist's media sequence grows. The screenshot is kept as
//! `target/verify-artifacts/web.png`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use super::browser::{ONE_BROWSER, artifacts_dir};
use super::tools::{free_port, send_signal};
use crate::chromium::Browser;
use crate::util::{ChildGuard, tail};

/// The camera's name in the configuration.
const CAMERA: &str = "door";
/// How much must be recorded (in the catalog's spans) before the page is opened, s.
const RECORDED_S: f64 = 8.0;
/// The longest wait for any one step (a loaded 2-core machine included).
const STEP: Duration = Duration::from_secs(60);

/// `GET path` on `127.0.0.1:port`: status and body.
fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(STEP))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").context("no response head")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status")?;
    ensure!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "GET {path}: a chunked answer"
    );
    Ok((status, body.to_owned()))
}

/// Seconds recorded in the catalog's spans of the camera.
fn recorded_s(port: u16) -> Result<f64> {
    let (status, body) = http_get(port, &format!("/api/cameras/{CAMERA}/recordings"))?;
    ensure!(status == 200, "recordings: HTTP {status}: {body}");
    let listing: Value = serde_json::from_str(&body)?;
    Ok(listing["spans"].as_array().map_or(0.0, |spans| {
        spans.iter().filter_map(|s| s["duration_s"].as_f64()).sum()
    }))
}

/// The live playlist's `EXT-X-MEDIA-SEQUENCE` and number of segments.
fn live_sequence(port: u16) -> Result<(u64, usize)> {
    let (status, body) = http_get(port, &format!("/api/cameras/{CAMERA}/live.m3u8"))?;
    ensure!(status == 200, "live.m3u8: HTTP {status}: {body}");
    let sequence = body
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("live.m3u8 has no media sequence:\n{body}"))?;
    let segments = body.lines().filter(|l| l.ends_with(".m4s")).count();
    Ok((sequence, segments))
}

/// Polls `what` until it is true, failing after [`STEP`] with `why`'s text.
fn wait_until(mut what: impl FnMut() -> Result<bool>, why: impl Fn() -> String) -> Result<()> {
    let start = Instant::now();
    while !what()? {
        ensure!(start.elapsed() < STEP, "{}", why());
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// A page script that polls `done` (an expression) every 100 ms up to [`STEP`], then
/// returns `result` (an expression) with `ok`.
fn poll_js(done: &str, result: &str) -> String {
    format!(
        r#"(async () => {{
  const v = document.getElementById("video");
  const deadline = performance.now() + {};
  let ok = false;
  while (performance.now() < deadline) {{
    try {{ if ({done}) {{ ok = true; break; }} }} catch (e) {{}}
    await new Promise(r => setTimeout(r, 100));
  }}
  return Object.assign({{ ok, message: document.getElementById("message").textContent,
    error: v.error ? `${{v.error.code}}: ${{v.error.message}}` : null }}, {result});
}})()"#,
        STEP.as_millis()
    )
}

/// The RFC 3339 time of query parameter `key` of `url`.
fn url_time(url: &str, key: &str) -> Result<jiff::Timestamp> {
    let text = url
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .with_context(|| format!("no {key} in {url}"))?;
    text.parse()
        .with_context(|| format!("{key}={text} in {url} is not RFC 3339"))
}

/// Video state as the checks read it.
const VIDEO: &str = "{ currentTime: v.currentTime, paused: v.paused, width: v.videoWidth, \
                     height: v.videoHeight, duration: v.duration, src: v.currentSrc, readyState: v.readyState, \
                     buffered: [...Array(v.buffered.length).keys()].map((i) => \
                       [v.buffered.start(i), v.buffered.end(i)]), \
                     live: state.live ? state.live.step : null }";

pub(super) fn run_web(bin: &Path, url: &str, dir: &Path, log: &Path) -> Result<String> {
    let run_dir = dir.join("web");
    std::fs::create_dir_all(&run_dir)?;
    let port = free_port()?;
    let config = format!(
        "[defaults]\noutput = \"{}/{{name}}/%H-%M-%S.mp4\"\nsegment_duration = \"2s\"\n\n\
         [http]\nlisten = \"127.0.0.1:{port}\"\n\n[[camera]]\nname = \"{CAMERA}\"\nurl = \"{url}\"\n",
        run_dir.display()
    );
    let config_path = dir.join("web.toml");
    std::fs::write(&config_path, &config)?;
    let mut cmd = Command::new(bin);
    cmd.args(["run", "--config"]).arg(&config_path);
    let mut child = ChildGuard::spawn_logged(&mut cmd, log)?;
    let result = check_web(port, log);
    send_signal(child.id(), "TERM")?;
    child.wait_timeout(Duration::from_secs(20))?;
    result.with_context(|| format!("recorder run's output:\n{}", tail(log, 20)))
}

fn check_web(port: u16, log: &Path) -> Result<String> {
    wait_until(
        || Ok(recorded_s(port).unwrap_or(0.0) >= RECORDED_S),
        || format!("the catalog did not list {RECORDED_S} s of {CAMERA} in time"),
    )?;
    // The live playlist grows between two requests.
    let (first, _) = live_sequence(port)?;
    let mut last = (first, 0);
    wait_until(
        || {
            last = live_sequence(port)?;
            Ok(last.0 > first && last.1 > 0)
        },
        || format!("live.m3u8: the media sequence stayed at {first}"),
    )?;
    let live_line = format!("live.m3u8 media sequence {first} -> {}", last.0);

    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let artifacts = artifacts_dir()?;
    let browser = Browser::launch(&log.with_extension("chromium.log"))?;
    let mut page = browser.new_page()?;
    page.navigate(&format!("http://127.0.0.1:{port}/"))?;

    // The camera is listed, recording.
    let row = format!("document.querySelector('tr.cam[data-name=\"{CAMERA}\"]')");
    let listed = page.evaluate(&poll_js(
        &format!("{row}.children[1].textContent === 'recording'"),
        &format!("{{ row: {row} ? {row}.textContent : null }}"),
    ))?;
    ensure!(
        listed["ok"] == json!(true),
        "the page does not list {CAMERA} as recording: row {}, message {}",
        listed["row"],
        listed["message"]
    );

    // The timeline shows a span; a click on it plays the export.
    let spans = page.evaluate(&poll_js(
        "document.querySelectorAll('#timeline .span').length > 0",
        "{ spans: document.querySelectorAll('#timeline .span').length }",
    ))?;
    ensure!(
        spans["ok"] == json!(true),
        "the timeline shows no span: {}",
        spans["message"]
    );
    page.evaluate(
        "(() => { const r = document.querySelector('#timeline .span').getBoundingClientRect();
           document.getElementById('timeline').dispatchEvent(new MouseEvent('click',
             { clientX: r.left + 1, clientY: r.top + r.height / 2, bubbles: true })); })()",
    )?;
    let played = page.evaluate(&poll_js("v.currentTime > 1 && !v.paused", VIDEO))?;
    page.screenshot(&artifacts.join("web-export.png"))?;
    let num = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    ensure!(
        played["ok"] == json!(true),
        "the export did not play past 1 s after a click on the timeline: {played}"
    );
    ensure!(
        played["src"]
            .as_str()
            .is_some_and(|s| s.contains("/export.mp4?start=")),
        "the click did not play an export: {}",
        played["src"]
    );
    ensure!(
        played["width"] == json!(320) && played["height"] == json!(180),
        "the export's video is {}x{}, the mount's 320x180",
        played["width"],
        played["height"]
    );
    // The page plays from the clicked instant (or the span's start when the click falls
    // just beside it) to the span's end: the export lasts what its URL asks for.
    let duration = num(&played, "duration");
    let src = played["src"].as_str().unwrap_or_default();
    let param = |key: &str| url_time(src, key);
    let requested = (param("end")? - param("start")?).total(jiff::Unit::Second)?;
    ensure!(
        requested > 1.0 && (duration - requested).abs() <= 0.5,
        "the export lasts {duration:.3} s, its URL asks for {requested:.3} s ({src})"
    );

    // A seek to a later instant of the export: lands there and plays on.
    let target = (duration - 2.5).max(num(&played, "currentTime") + 1.0);
    let seeked = page.evaluate(&format!(
        "(async () => {{ const v = document.getElementById('video');
           const done = new Promise(r => v.addEventListener('seeked', r, {{ once: true }}));
           v.currentTime = {target}; await done; return v.currentTime; }})()"
    ))?;
    let landed = seeked.as_f64().unwrap_or(f64::NAN);
    ensure!(
        (landed - target).abs() < 0.5,
        "the seek to {target:.3} s landed at {landed:.3} s"
    );
    let after = page.evaluate(&poll_js(
        &format!("v.currentTime > {} && !v.paused", target + 0.5),
        VIDEO,
    ))?;
    ensure!(
        after["ok"] == json!(true),
        "playback did not continue after the seek to {target:.3} s: {after}"
    );

    // The download link offers the played range, then a range chosen in From/To.
    let download = page.evaluate(
        "(async () => {
           const link = document.getElementById('dl-link');
           const head = async () => {
             const r = await fetch(link.href, { method: 'HEAD' });
             return { href: link.href, status: r.status, download: link.hasAttribute('download'),
                      disposition: r.headers.get('content-disposition'),
                      length: Number(r.headers.get('content-length')) };
           };
           const played = await head();
           const from = document.getElementById('dl-from'), to = document.getElementById('dl-to');
           const a = Date.parse(from.value);
           to.value = toLocalInput(a + 3000);
           to.dispatchEvent(new Event('change'));
           const chosen = await head();
           return { played, chosen };
         })()",
    )?;
    let (played_dl, chosen) = (&download["played"], &download["chosen"]);
    // The From/To inputs hold whole seconds: the link's range is the played one to the
    // second.
    let href = played_dl["href"].as_str().unwrap_or_default();
    for key in ["start", "end"] {
        let off = (url_time(href, key)? - param(key)?).total(jiff::Unit::Second)?;
        ensure!(
            href.contains("/export.mp4?") && (-1.0..=0.0).contains(&off),
            "the download link {href} is not the played export {src} ({key} {off:+.3} s)"
        );
    }
    for d in [played_dl, chosen] {
        ensure!(
            d["status"] == json!(200)
                && d["download"] == json!(true)
                && d["disposition"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("attachment; filename=")),
            "the download link does not offer an MP4 to save: {d}"
        );
    }
    ensure!(
        num(chosen, "length") > 0.0 && num(chosen, "length") < num(played_dl, "length"),
        "the 3 s range chosen in From/To is not a shorter export: {download}"
    );

    // Today's timeline is refreshed while the camera records: the last span grows.
    let grew = page.evaluate(
        "(async () => {
           const end = () => state.spans.length ? state.spans[state.spans.length - 1].end : 0;
           const before = end();
           await new Promise((ok) => setTimeout(ok, 3000));
           await loadDay(true);
           return { before, after: end() };
         })()",
    )?;
    ensure!(
        num(&grew, "after") > num(&grew, "before") + 1000.0,
        "the timeline's last span did not grow after a refresh: {grew}"
    );

    // The live view plays through MSE.
    page.evaluate("document.getElementById('live').click()")?;
    let live = page.evaluate(&poll_js(
        "v.currentSrc.startsWith('blob:') && v.currentTime > 1.5 && !v.paused",
        VIDEO,
    ))?;
    page.screenshot(&artifacts.join("web.png"))?;
    if live["ok"] != json!(true) {
        bail!("the live view did not play past 1.5 s through MSE: {live}");
    }
    Ok(format!(
        "listed as recording; {} span(s); export played to {:.2} s at {}x{} of {:.2} s; \
         seek to {target:.2} s landed at {landed:.2} s and played on to {:.2} s; download \
         link {} B, a chosen 3 s {} B; timeline refreshed (+{:.1} s); live (MSE) played to \
         {:.2} s; {live_line}; screenshot web.png",
        spans["spans"],
        num(&played, "currentTime"),
        played["width"],
        played["height"],
        duration,
        num(&after, "currentTime"),
        played_dl["length"],
        chosen["length"],
        (num(&grew, "after") - num(&grew, "before")) / 1000.0,
        num(&live, "currentTime"),
    ))
}
