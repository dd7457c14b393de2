//! Pure checks of what the HTTP API answers, for the `http` case: an HTTP reply as curl
//! prints it, `Content-Range`, the VOD playlist, and the Prometheus (OpenMetrics) text.

use anyhow::{Context, Result, bail, ensure};

/// One HTTP reply: status, headers (names lower-case) and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Reply {
    /// `curl -i` output: the status line and headers, a blank line, the body.
    pub(super) fn parse(raw: &[u8]) -> Result<Reply> {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("no end of the header in curl's output")?;
        let head = std::str::from_utf8(&raw[..split]).context("a header that is not UTF-8")?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {status_line:?}"))?;
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .with_context(|| format!("bad header line {line:?}"))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        Ok(Reply {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        })
    }

    /// The value of header `name` (lower-case).
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `{"error": "..."}` of an error reply with `status`.
    pub(super) fn json_error(&self, status: u16) -> Result<String> {
        ensure!(
            self.status == status,
            "status {}, expected {status}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        let v: serde_json::Value =
            serde_json::from_slice(&self.body).context("the error body is not JSON")?;
        v["error"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no \"error\" string in {v}"))
    }
}

/// `bytes FIRST-LAST/LEN` of a `Content-Range` header.
pub(super) fn content_range(value: &str) -> Result<(u64, u64, u64)> {
    let parse = || -> Option<(u64, u64, u64)> {
        let (range, len) = value.strip_prefix("bytes ")?.split_once('/')?;
        let (a, b) = range.split_once('-')?;
        Some((a.parse().ok()?, b.parse().ok()?, len.parse().ok()?))
    };
    parse().with_context(|| format!("bad Content-Range {value:?}"))
}

/// What a VOD playlist says: its segments' `EXT-X-PROGRAM-DATE-TIME` (Unix ns) and
/// `EXTINF` durations (s).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Playlist {
    pub(super) program_dates_ns: Vec<i64>,
    pub(super) durations_s: Vec<f64>,
}

/// Checks an HLS VOD playlist's shape: `#EXTM3U`, `EXT-X-VERSION:7`, `EXT-X-MAP` before
/// the first segment, `EXT-X-PLAYLIST-TYPE:VOD`, an `EXT-X-PROGRAM-DATE-TIME` and an
/// `EXTINF` before each segment URI, `EXT-X-ENDLIST` last.
pub(super) fn playlist(text: &str) -> Result<Playlist> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    ensure!(lines.first() == Some(&"#EXTM3U"), "no #EXTM3U first line");
    ensure!(
        lines.contains(&"#EXT-X-VERSION:7"),
        "no #EXT-X-VERSION:7 line"
    );
    ensure!(
        lines.contains(&"#EXT-X-PLAYLIST-TYPE:VOD"),
        "no #EXT-X-PLAYLIST-TYPE:VOD line"
    );
    ensure!(
        lines.last() == Some(&"#EXT-X-ENDLIST"),
        "#EXT-X-ENDLIST is not the last line"
    );
    let (mut map, mut date, mut inf) = (false, None, None);
    let mut out = Playlist {
        program_dates_ns: Vec::new(),
        durations_s: Vec::new(),
    };
    for line in &lines {
        if line.starts_with("#EXT-X-MAP:URI=") {
            map = true;
        } else if let Some(t) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            let ts: jiff::Timestamp = t
                .parse()
                .with_context(|| format!("bad EXT-X-PROGRAM-DATE-TIME {t:?}"))?;
            date = Some(i64::try_from(ts.as_nanosecond())?);
        } else if let Some(d) = line.strip_prefix("#EXTINF:") {
            let d = d.split(',').next().unwrap_or_default();
            inf = Some(
                d.parse::<f64>()
                    .with_context(|| format!("bad EXTINF {d:?}"))?,
            );
        } else if !line.starts_with('#') {
            let n = out.durations_s.len() + 1;
            ensure!(map, "segment {n} ({line}) before any EXT-X-MAP");
            out.program_dates_ns.push(
                date.take().with_context(|| {
                    format!("segment {n} ({line}) has no EXT-X-PROGRAM-DATE-TIME")
                })?,
            );
            out.durations_s.push(
                inf.take()
                    .with_context(|| format!("segment {n} ({line}) has no EXTINF"))?,
            );
        }
    }
    ensure!(!out.durations_s.is_empty(), "the playlist lists no segment");
    Ok(out)
}

/// One sample of a metrics text: name, labels, value.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct MetricSample {
    pub(super) name: String,
    pub(super) labels: Vec<(String, String)>,
    pub(super) value: f64,
}

/// Parses Prometheus / OpenMetrics text strictly: every line is `# HELP`, `# TYPE` (a
/// known type), `# UNIT`, `# EOF` (only last) or a sample `name{label="value",...} value
/// [timestamp]` of a family whose `# TYPE` came before it; names and label names are
/// valid, label values properly escaped, values numbers.
pub(super) fn parse_metrics(text: &str) -> Result<Vec<MetricSample>> {
    const SUFFIXES: [&str; 7] = [
        "_total", "_bucket", "_count", "_sum", "_created", "_info", "_gcount",
    ];
    let mut families: Vec<String> = Vec::new();
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let at = || format!("metrics line {}: {line:?}", i + 1);
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("EOF"), None, None) => {
                    ensure!(i + 1 == lines.len(), "{}: # EOF before the end", at())
                }
                (Some("TYPE"), Some(name), Some(kind)) => {
                    ensure!(valid_name(name), "{}: bad metric name", at());
                    ensure!(
                        [
                            "counter",
                            "gauge",
                            "histogram",
                            "summary",
                            "info",
                            "stateset",
                            "gaugehistogram",
                            "unknown",
                            "untyped"
                        ]
                        .contains(&kind),
                        "{}: unknown type {kind:?}",
                        at()
                    );
                    families.push(name.to_owned());
                }
                (Some("HELP" | "UNIT"), Some(name), _) => {
                    ensure!(valid_name(name), "{}: bad metric name", at())
                }
                _ => bail!("{}: not a HELP, TYPE, UNIT or EOF line", at()),
            }
            continue;
        }
        let sample = parse_sample(line).with_context(at)?;
        let family_of = |f: &String| {
            sample.name == *f
                || SUFFIXES
                    .iter()
                    .any(|s| sample.name.strip_suffix(s) == Some(f.as_str()))
        };
        ensure!(
            families.iter().any(family_of),
            "{}: no # TYPE line for {} before it",
            at(),
            sample.name
        );
        samples.push(sample);
    }
    ensure!(!samples.is_empty(), "the metrics hold no sample");
    Ok(samples)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_sample(line: &str) -> Result<MetricSample> {
    let name_end = line
        .find(['{', ' '])
        .context("a sample line without a value")?;
    let name = &line[..name_end];
    ensure!(valid_name(name), "bad metric name {name:?}");
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        loop {
            // A label name, `=`, a quoted value; then `,` or `}`.
            let start = chars
                .peek()
                .map(|&(i, _)| i)
                .context("unterminated labels")?;
            if inner[start..].starts_with('}') {
                rest = &inner[start + 1..];
                break;
            }
            let eq = inner[start..].find('=').context("a label without =")? + start;
            let key = &inner[start..eq];
            ensure!(
                valid_name(key) && !key.contains(':'),
                "bad label name {key:?}"
            );
            ensure!(
                inner[eq + 1..].starts_with('"'),
                "label {key} is not quoted"
            );
            while chars.next_if(|&(i, _)| i <= eq + 1).is_some() {}
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c @ ('"' | '\\'))) => value.push(c),
                        other => bail!("bad escape {other:?} in label {key}"),
                    },
                    Some((_, c)) => value.push(c),
                    None => bail!("unterminated value of label {key}"),
                }
            }
            labels.push((key.to_owned(), value));
            match chars.next() {
                Some((_, ',')) => {}
                Some((i, '}')) => {
                    rest = &inner[i + 1..];
                    break;
                }
                other => bail!("expected , or }} after label {key}, found {other:?}"),
            }
        }
    }
    let mut fields = rest
        .strip_prefix(' ')
        .context("no space before the value")?
        .split(' ');
    let value_text = fields.next().unwrap_or_default();
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse::<f64>()
            .with_context(|| format!("bad value {v:?}"))?,
    };
    if let Some(ts) = fields.next() {
        ts.parse::<f64>()
            .with_context(|| format!("bad timestamp {ts:?}"))?;
    }
    ensure!(fields.next().is_none(), "more than a value and a timestamp");
    Ok(MetricSample {
        name: name.to_owned(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_with_headers_and_body() {
        let r =
            Reply::parse(b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 2-4/10\r\n\r\nabc")
                .unwrap();
        assert_eq!(r.status, 206);
        assert_eq!(r.header("content-range"), Some("bytes 2-4/10"));
        assert_eq!(r.body, b"abc");
        assert_eq!(content_range("bytes 2-4/10").unwrap(), (2, 4, 10));
        assert!(content_range("bytes */10").is_err());
        let e = Reply::parse(b"HTTP/1.1 404 Not Found\r\n\r\n{\"error\":\"no media\"}").unwrap();
        assert_eq!(e.json_error(404).unwrap(), "no media");
        assert!(e.json_error(400).is_err());
    }

    #[test]
    fn playlists_need_every_tag() {
        let good = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n\
            #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"init/0.mp4\"\n\
            #EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.500Z\n#EXTINF:2.000,\nseg/0.m4s\n\
            #EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.500Z\n#EXTINF:1.5,\nseg/1.m4s\n\
            #EXT-X-ENDLIST\n";
        let p = playlist(good).unwrap();
        assert_eq!(p.durations_s, vec![2.0, 1.5]);
        assert_eq!(p.program_dates_ns[1] - p.program_dates_ns[0], 2_000_000_000);
        let no_date = good.replacen("#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.500Z\n", "", 1);
        assert!(format!("{:#}", playlist(&no_date).unwrap_err()).contains("segment 2"));
        assert!(playlist(&good.replace("VERSION:7", "VERSION:6")).is_err());
        assert!(playlist(&good.replace("#EXT-X-ENDLIST\n", "")).is_err());
    }

    #[test]
    fn metrics_parse_strictly() {
        let text = "# HELP recorder_files_finished_total Files.\n\
            # TYPE recorder_files_finished_total counter\n\
            recorder_files_finished_total{camera=\"a\\\"b\",x=\"1\"} 6\n\
            # TYPE lat histogram\nlat_bucket{le=\"+Inf\"} 3\nlat_sum 0.5\n# EOF\n";
        let s = parse_metrics(text).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].name, "recorder_files_finished_total");
        assert_eq!(
            s[0].labels,
            vec![
                ("camera".to_owned(), "a\"b".to_owned()),
                ("x".to_owned(), "1".to_owned())
            ]
        );
        assert_eq!(s[0].value, 6.0);
        assert_eq!(s[1].labels[0].1, "+Inf");
        for bad in [
            "# TYPE x counter\nx{a=1} 2\n",
            "# TYPE x counter\nx two\n",
            "y 1\n",
            "# TYPE x counter\n# EOF\nx 1\n",
            "# TYPE x sometype\nx 1\n",
            "# TYPE x counter\nx{a=\"1\" 2\n",
        ] {
            assert!(parse_metrics(bad).is_err(), "{bad:?} accepted");
        }
    }
}
