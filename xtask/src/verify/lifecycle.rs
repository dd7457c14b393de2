//! Cases about the recorder process's life: a server that goes away and comes back,
//! `recorder run` stopped by SIGTERM, a second signal, and giving up at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use super::tools::{
    Recorder, decode_clean, ffprobe_json, figures, finished_files, free_port, read_log,
    recorder_tool, send_signal, spawn_record, start_server_on, wait_for_file,
};
use super::{DURATION_S, RECORD_SLACK};
use crate::probe;
use crate::strict;
use crate::util::{ChildGuard, display, tail};
/// The server goes away 8 s into the recording and comes back 4 s later on the same
/// port: the recorder reconnects by itself, exits 0, and every file it wrote is sound.
pub(super) fn run_reconnect(bin: &Path, dir: &Path, log: &Path) -> Result<String> {
    const TOTAL_S: u64 = 25;
    let port = free_port()?;
    let server_log = dir.join("reconnect-server.log");
    let mut server = start_server_on(port, 120, &server_log)?;
    let rec_dir = dir.join("reconnect");
    std::fs::create_dir_all(&rec_dir)?;
    let out = rec_dir.join("cam.mp4");
    let url = format!("rtsp://127.0.0.1:{port}/h264aac");
    let recorder = Recorder::Ours(bin.to_path_buf());
    let mut child = spawn_record(&recorder, &url, &out, TOTAL_S, &[], log)?;
    let started = Instant::now();
    wait_for_file(
        &PathBuf::from(format!("{}.partial", out.display())),
        Duration::from_secs(20),
        log,
    )?;
    std::thread::sleep(Duration::from_secs(8));
    server.kill();
    let down_at = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(4));
    let _server = start_server_on(port, 120, &server_log)?;
    let up_at = started.elapsed().as_secs_f64();
    let status = child
        .wait_timeout(Duration::from_secs(TOTAL_S) + RECORD_SLACK)?
        .with_context(|| {
            format!(
                "the recorder did not finish; its output:\n{}",
                tail(log, 30)
            )
        })?;
    let took = started.elapsed().as_secs_f64();
    ensure!(
        status.success(),
        "the recorder failed ({status}); its output:\n{}",
        tail(log, 30)
    );
    let text = read_log(log)?;
    let reconnects: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("reconnecting in"))
        .collect();
    ensure!(
        !reconnects.is_empty() && reconnects.iter().all(|l| l.contains(&url)),
        "no reconnect line naming {url} in the log:\n{}",
        tail(log, 30)
    );
    let files = finished_files(&rec_dir)?;
    ensure!(
        files.len() >= 2,
        "{} file(s), expected at least 2: {files:?}",
        files.len()
    );
    let mut frames = Vec::new();
    for f in &files {
        let what = || f.display().to_string();
        let (v, a) = figures(f).with_context(what)?;
        let v = v.with_context(|| format!("{}: no video", what()))?;
        ensure!(a.is_some(), "{}: no audio", what());
        ensure!(
            v.starts_with_keyframe,
            "{}: does not start on a keyframe",
            what()
        );
        decode_clean(f).with_context(what)?;
        recorder_tool(bin, &["verify"], f).with_context(what)?;
        frames.push(v.packets);
    }
    let reported = probe::parse_recorded(&text)?;
    let total: u64 = frames.iter().sum();
    ensure!(
        reported.files == files.len() as u64 && reported.video_frames == total,
        "the recorder reports {} files and {} video frames, the directory holds {} files \
         with {total}",
        reported.files,
        reported.video_frames,
        files.len()
    );
    let counts: Vec<String> = frames.iter().map(u64::to_string).collect();
    Ok(format!(
        "server down at {down_at:.1} s, up at {up_at:.1} s; {} reconnect line(s), e.g. {:?}; \
         exit 0 after {took:.1} s; {} files with {} video frames, each decodes clean and \
         passes recorder verify",
        reconnects.len(),
        reconnects[0]
            .split_once("WARN ")
            .map_or(reconnects[0], |(_, l)| l)
            .trim(),
        files.len(),
        counts.join("+")
    ))
}

/// `recorder run` with three cameras, SIGTERM after 8 s: every file finalized.
pub(super) fn run_run(bin: &Path, base: &str, dir: &Path, log: &Path) -> Result<String> {
    // Start after the standard recordings (10 s) so that fewer encoders run at once.
    std::thread::sleep(Duration::from_secs(DURATION_S + 2));
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir)?;
    let cams = [
        ("front", "/h264aac", "h264"),
        ("side", "/h265aac", "hevc"),
        ("yard", "/mjpeg", "mjpeg"),
    ];
    let mut config = format!(
        "[defaults]\noutput = \"{}/{{name}}/%H-%M-%S.mp4\"\nstall_timeout = \"5s\"\n",
        run_dir.display()
    );
    for (name, mount, _) in cams {
        config.push_str(&format!(
            "\n[[camera]]\nname = \"{name}\"\nurl = \"{base}{mount}?case=run\"\n"
        ));
    }
    let config_path = dir.join("cameras.toml");
    std::fs::write(&config_path, &config)?;
    let mut cmd = Command::new(bin);
    cmd.args(["run", "--config"]).arg(&config_path);
    let mut child = ChildGuard::spawn_logged(&mut cmd, log)?;
    // Wait until each camera writes its file.
    let start = Instant::now();
    loop {
        let writing = cams.iter().all(|(name, _, _)| {
            std::fs::read_dir(run_dir.join(name)).is_ok_and(|mut d| d.next().is_some())
        });
        if writing {
            break;
        }
        ensure!(
            start.elapsed() < Duration::from_secs(20),
            "not every camera started within 20 s; the output:\n{}",
            tail(log, 30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(8));
    send_signal(child.id(), "TERM")?;
    let termed = Instant::now();
    let status = child
        .wait_timeout(Duration::from_secs(20))?
        .with_context(|| {
            format!(
                "recorder run did not exit after SIGTERM:\n{}",
                tail(log, 30)
            )
        })?;
    let exit_s = termed.elapsed().as_secs_f64();
    ensure!(
        status.success(),
        "recorder run failed ({status}) on SIGTERM; its output:\n{}",
        tail(log, 30)
    );
    ensure!(
        exit_s < 6.0,
        "recorder run took {exit_s:.1} s to exit after SIGTERM"
    );
    let text = read_log(log)?;
    let mut parts = Vec::new();
    let mut rows = Vec::new();
    for (name, _, codec) in cams {
        ensure!(
            text.contains(&format!("name={name}")),
            "no log line tagged with camera {name}:\n{}",
            tail(log, 30)
        );
        let files = finished_files(&run_dir.join(name))?;
        let [file] = files.as_slice() else {
            bail!("camera {name}: expected one file, found {files:?}");
        };
        let what = || format!("camera {name}: {}", file.display());
        let parsed = strict::check_file(file).with_context(what)?;
        ensure!(
            parsed.moov_before_mdat(),
            "{}: moov not first: {parsed}",
            what()
        );
        decode_clean(file).with_context(what)?;
        let show = ffprobe_json(&["-show_streams"], file).with_context(what)?;
        let got = show["streams"][0]["codec_name"].as_str().unwrap_or("?");
        ensure!(got == codec, "{}: codec {got}, expected {codec}", what());
        let (v, _) = figures(file).with_context(what)?;
        let v = v.with_context(|| format!("{}: no video", what()))?;
        ensure!(
            v.duration_s >= 7.0,
            "{}: only {:.2} s of video",
            what(),
            v.duration_s
        );
        parts.push(format!(
            "{name} {codec} {} frames {:.2} s",
            v.packets, v.duration_s
        ));
        let entry = match codec {
            "h264" => "avc1",
            "hevc" => "hvc1",
            _ => "mp4v",
        };
        let width = show["streams"][0]["width"].as_u64().unwrap_or(0);
        rows.push((name, file.clone(), v.packets, entry, width));
    }
    let rows: Vec<(&str, &Path, u64, &str, u64)> = rows
        .iter()
        .map(|(n, f, p, e, w)| (*n, f.as_path(), *p, *e, *w))
        .collect();
    let catalog = super::catalog::check_catalog(bin, &config_path, &rows)?;
    Ok(format!(
        "SIGTERM after 8 s: exit 0 in {exit_s:.1} s; {}; each moov first, ffmpeg -xerror \
         clean, log lines tagged per camera; {catalog}",
        parts.join(", ")
    ))
}

/// A second signal (SIGINT then SIGTERM): exit 130 at once, the `.partial` left for
/// `recorder repair`.
pub(super) fn run_double_signal(bin: &Path, url: &str, dir: &Path, log: &Path) -> Result<String> {
    std::thread::sleep(Duration::from_secs(DURATION_S + 2));
    let sig_dir = dir.join("sigint2");
    std::fs::create_dir_all(&sig_dir)?;
    let out = sig_dir.join("cam.mp4");
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let recorder = Recorder::Ours(bin.to_path_buf());
    let mut child = spawn_record(&recorder, url, &out, 60, &[], log)?;
    wait_for_file(&partial, Duration::from_secs(20), log)?;
    std::thread::sleep(Duration::from_secs(4));
    // Finishing takes milliseconds, and signals of one kind may coalesce: stop the
    // process, queue a SIGINT and a SIGTERM, and let it go on with both pending.
    send_signal(child.id(), "STOP")?;
    send_signal(child.id(), "INT")?;
    send_signal(child.id(), "TERM")?;
    send_signal(child.id(), "CONT")?;
    let status = child
        .wait_timeout(Duration::from_secs(10))?
        .context("the recorder did not exit after two signals")?;
    ensure!(
        status.code() == Some(130),
        "exit {status} after two signals, expected 130; its output:\n{}",
        tail(log, 20)
    );
    ensure!(
        partial.is_file() && !out.exists(),
        "expected the .partial to stay: {:?}",
        finished_files(&sig_dir).err()
    );
    decode_clean(&partial).context("the .partial")?;
    recorder_tool(bin, &["repair"], &partial).context("recorder repair")?;
    let verdict = recorder_tool(bin, &["verify"], &out).context("recorder verify")?;
    Ok(format!(
        "exit 130 at the second signal; the .partial decodes clean; repaired: {}",
        verdict.lines().next().unwrap_or("").trim()
    ))
}

/// `--max-retries 0` against a refused port: exit code 3 (unreachable) at once, one error
/// line.
pub(super) fn run_max_retries(bin: &Path, dir: &Path, log: &Path) -> Result<String> {
    let port = free_port()?;
    let out = dir.join("maxretries.mp4");
    let mut cmd = Command::new(bin);
    cmd.args(["record", &format!("rtsp://127.0.0.1:{port}/x"), "-o"])
        .arg(&out)
        .args(["--max-retries", "0"]);
    println!("$ {}", display(&cmd));
    let started = Instant::now();
    let result = cmd
        .stdin(Stdio::null())
        .output()
        .context("cannot start the recorder")?;
    let took = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&result.stderr);
    std::fs::write(log, stderr.as_bytes())?;
    ensure!(
        result.status.code() == Some(3),
        "exit {} with --max-retries 0 against a refused port, want 3 (unreachable)",
        result.status
    );
    ensure!(took < 5.0, "took {took:.1} s to give up");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    ensure!(
        errors.len() == 1 && errors[0].to_lowercase().contains("connection refused"),
        "expected one error line naming the refused connection:\n{stderr}"
    );
    ensure!(
        !stderr.contains("reconnecting in"),
        "it tried to reconnect:\n{stderr}"
    );
    ensure!(!out.exists(), "a file was written");
    Ok(format!(
        "exit {} after {took:.2} s: {}",
        result.status.code().unwrap_or(-1),
        errors[0]
    ))
}
