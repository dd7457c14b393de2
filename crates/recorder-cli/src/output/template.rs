//! Output names: `strftime` templates, numbered suffixes that never overwrite, and finding
//! the `.partial` files an earlier run of the same template left behind.
//!
//! A template is a path whose `%`-fields (`%Y`, `%m`, `%d`, `%H`, `%M`, `%S`, ... as in
//! `strftime`, rendered by `jiff`; `%%` is a literal `%`) are filled with the wall-clock
//! instant of a file's first sample, in local time or UTC. A path without fields is a
//! fixed name.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::output::partial::PARTIAL_SUFFIX;

/// A parsed `-o` template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    raw: String,
    has_fields: bool,
}

impl Template {
    /// Parses `-o`. The path must be valid UTF-8, must name a file (not end in `/`), and
    /// its fields must be ones `strftime` knows.
    pub fn parse(path: &Path) -> anyhow::Result<Self> {
        let raw = path
            .to_str()
            .with_context(|| format!("output {} is not valid UTF-8", path.display()))?
            .to_owned();
        if raw.is_empty() || raw.ends_with('/') {
            bail!("output {raw:?} does not name a file");
        }
        let has_fields =
            components(&raw).any(|c| parse_component(c).iter().any(|t| matches!(t, Token::Any)));
        let template = Self { raw, has_fields };
        // Catch unknown fields now rather than at the first sample.
        template.render(Timestamp::UNIX_EPOCH, &TimeZone::UTC)?;
        Ok(template)
    }

    /// True when the template has at least one `%`-field (`%%` does not count).
    pub fn has_fields(&self) -> bool {
        self.has_fields
    }

    /// The path for a file whose first sample was at `at`, in the time zone `tz`.
    pub fn render(&self, at: Timestamp, tz: &TimeZone) -> anyhow::Result<PathBuf> {
        let zoned = at.to_zoned(tz.clone());
        let name = jiff::fmt::strtime::format(&self.raw, &zoned)
            .with_context(|| format!("cannot render the output template {:?}", self.raw))?;
        Ok(PathBuf::from(name))
    }

    /// `.partial` files that this template (any instant, any numbered suffix) could have
    /// produced, found in the directories it can expand to; sorted.
    pub fn find_leftovers(&self) -> Vec<PathBuf> {
        self.find(true)
    }

    /// Finished files that this template (any instant, any numbered suffix) could have
    /// produced, found in the directories it can expand to; sorted.
    pub fn find_recordings(&self) -> Vec<PathBuf> {
        self.find(false)
    }

    /// The directory that every file of the template lies in: the template's leading
    /// directories without fields (`/srv/rec/front` for `/srv/rec/front/%Y/%H.mp4`; the
    /// current directory, empty, for `%H.mp4`).
    pub fn fixed_dir(&self) -> PathBuf {
        let absolute = self.raw.starts_with('/');
        let parts: Vec<&str> = components(&self.raw).collect();
        let mut dir = if absolute {
            PathBuf::from("/")
        } else {
            PathBuf::new()
        };
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            match literal(&parse_component(part)) {
                Some(lit) => dir.push(lit),
                None => break,
            }
        }
        dir
    }

    /// Files (`.partial` ones with `partial`) the template could have produced.
    fn find(&self, partial: bool) -> Vec<PathBuf> {
        let absolute = self.raw.starts_with('/');
        let parts: Vec<&str> = components(&self.raw).collect();
        let Some((name, dirs)) = parts.split_last() else {
            return Vec::new();
        };
        let mut current = vec![if absolute {
            PathBuf::from("/")
        } else {
            PathBuf::new()
        }];
        for dir in dirs {
            let glob = parse_component(dir);
            current = match literal(&glob) {
                Some(lit) => current.into_iter().map(|d| d.join(&lit)).collect(),
                None => current
                    .iter()
                    .flat_map(|d| entries(d, true))
                    .filter(|(_, n)| glob_matches(&glob, n))
                    .map(|(p, _)| p)
                    .collect(),
            };
        }
        let name = parse_component(name);
        let mut found: Vec<PathBuf> = current
            .iter()
            .flat_map(|d| entries(d, false))
            .filter(|(_, n)| {
                if partial {
                    is_leftover_name(&name, n)
                } else {
                    !n.ends_with(PARTIAL_SUFFIX) && is_output_name(&name, n)
                }
            })
            .map(|(p, _)| p)
            .collect();
        found.sort();
        found
    }
}

/// The template's path components, empty ones (`a//b`, a leading `/`) skipped.
fn components(raw: &str) -> impl Iterator<Item = &str> {
    raw.split('/').filter(|c| !c.is_empty())
}

/// Entries of `dir` (the current directory for an empty path) that are directories
/// (`dirs`) or regular files, with their names; unreadable directories give nothing.
fn entries(dir: &Path, dirs: bool) -> Vec<(PathBuf, String)> {
    let shown = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(read) = std::fs::read_dir(shown) else {
        return Vec::new();
    };
    read.filter_map(Result::ok)
        .filter(|e| {
            e.file_type()
                .is_ok_and(|t| if dirs { t.is_dir() } else { t.is_file() })
        })
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((dir.join(&name), name))
        })
        .collect()
}

/// `path` with a numbered suffix before its extension: `a/x.mp4`, 2 -> `a/x-2.mp4`
/// (0 leaves it unchanged). The extension is what follows the stem's last dot.
pub fn with_suffix(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_owned();
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, ext) = split_ext(&name);
    path.with_file_name(format!("{stem}-{n}{ext}"))
}

/// `x.mp4` -> (`x`, `.mp4`); `x` -> (`x`, ``); `.x` -> (`.x`, ``).
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name, ""),
    }
}

/// A piece of a component pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// Exactly this text.
    Lit(String),
    /// Any text, possibly empty: a `%`-field.
    Any,
    /// One or more ASCII digits: a numbered suffix.
    Digits,
}

/// One path component of the template as a pattern: each `%`-field (with its flags,
/// width and `:`/`.` modifiers) becomes [`Token::Any`]; `%%`, `%n` and `%t` are text.
fn parse_component(c: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = c.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            lit.push(ch);
            continue;
        }
        while chars
            .peek()
            .is_some_and(|c| "-_0^#:.".contains(*c) || c.is_ascii_digit())
        {
            chars.next();
        }
        match chars.next() {
            Some('%') => lit.push('%'),
            Some('n') => lit.push('\n'),
            Some('t') => lit.push('\t'),
            _ => {
                if !lit.is_empty() {
                    out.push(Token::Lit(std::mem::take(&mut lit)));
                }
                if out.last() != Some(&Token::Any) {
                    out.push(Token::Any);
                }
            }
        }
    }
    if !lit.is_empty() {
        out.push(Token::Lit(lit));
    }
    out
}

/// The pattern's text when it has no wildcard.
fn literal(glob: &[Token]) -> Option<String> {
    glob.iter()
        .map(|t| match t {
            Token::Lit(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

fn glob_matches(glob: &[Token], s: &str) -> bool {
    match glob.split_first() {
        None => s.is_empty(),
        Some((Token::Lit(l), rest)) => s
            .strip_prefix(l.as_str())
            .is_some_and(|s| glob_matches(rest, s)),
        Some((Token::Any, rest)) => s
            .char_indices()
            .map(|(i, _)| i)
            .chain([s.len()])
            .any(|i| glob_matches(rest, &s[i..])),
        Some((Token::Digits, rest)) => {
            let n = s.bytes().take_while(u8::is_ascii_digit).count();
            (1..=n).any(|i| glob_matches(rest, &s[i..]))
        }
    }
}

/// True when `file` is `NAME.partial` with `NAME` matching the file-name pattern, with or
/// without a numbered suffix (`-N` before the extension).
fn is_leftover_name(name: &[Token], file: &str) -> bool {
    file.strip_suffix(PARTIAL_SUFFIX)
        .filter(|b| !b.is_empty())
        .is_some_and(|base| is_output_name(name, base))
}

/// True when `base` matches the file-name pattern, with or without a numbered suffix
/// (`-N` before the extension).
fn is_output_name(name: &[Token], base: &str) -> bool {
    if glob_matches(name, base) {
        return true;
    }
    // The suffixed form: the extension is the text after the last dot of a literal
    // ending the pattern (`%H.mp4` -> `%H` `-N` `.mp4`).
    let mut suffixed = name.to_vec();
    let only_one = suffixed.len() == 1;
    let ext = match suffixed.last_mut() {
        Some(Token::Lit(last)) => match last.rfind('.') {
            Some(i) if !(i == 0 && only_one) => {
                let ext = last.split_off(i);
                if last.is_empty() {
                    suffixed.pop();
                }
                ext
            }
            _ => String::new(),
        },
        _ => String::new(),
    };
    suffixed.push(Token::Lit("-".to_owned()));
    suffixed.push(Token::Digits);
    if !ext.is_empty() {
        suffixed.push(Token::Lit(ext));
    }
    glob_matches(&suffixed, base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("valid timestamp")
    }

    #[test]
    fn fields_render_in_the_given_zone() {
        let t = Template::parse(Path::new("cam1/%Y-%m-%d/%H-%M-%S.mp4")).unwrap();
        assert!(t.has_fields());
        let at = ts("2024-03-09T23:30:05Z");
        assert_eq!(
            t.render(at, &TimeZone::UTC).unwrap(),
            PathBuf::from("cam1/2024-03-09/23-30-05.mp4")
        );
        // UTC+1 (Paris in winter) is already the next day.
        let paris = TimeZone::get("Europe/Paris").unwrap();
        assert_eq!(
            t.render(at, &paris).unwrap(),
            PathBuf::from("cam1/2024-03-10/00-30-05.mp4")
        );
        let fixed = TimeZone::fixed(jiff::tz::offset(-5));
        assert_eq!(
            t.render(at, &fixed).unwrap(),
            PathBuf::from("cam1/2024-03-09/18-30-05.mp4")
        );
    }

    #[test]
    fn other_fields_percent_and_fixed_names() {
        let at = ts("2024-01-02T03:04:05Z");
        let t = Template::parse(Path::new("/v/%s-100%%-%j-%-d.mp4")).unwrap();
        assert!(t.has_fields());
        assert_eq!(
            t.render(at, &TimeZone::UTC).unwrap(),
            PathBuf::from("/v/1704164645-100%-002-2.mp4")
        );
        let fixed = Template::parse(Path::new("out/100%%.mp4")).unwrap();
        assert!(!fixed.has_fields());
        assert_eq!(
            fixed.render(at, &TimeZone::UTC).unwrap(),
            PathBuf::from("out/100%.mp4")
        );
    }

    #[test]
    fn bad_templates_are_rejected() {
        let err = Template::parse(Path::new("x/%!.mp4")).unwrap_err();
        assert!(format!("{err:#}").contains("cannot render"), "{err:#}");
        assert!(Template::parse(Path::new("dir/")).is_err());
        assert!(Template::parse(Path::new("")).is_err());
    }

    #[test]
    fn suffixes_go_before_the_extension() {
        assert_eq!(
            with_suffix(Path::new("a/x.mp4"), 0),
            PathBuf::from("a/x.mp4")
        );
        assert_eq!(
            with_suffix(Path::new("a/x.mp4"), 2),
            PathBuf::from("a/x-2.mp4")
        );
        assert_eq!(
            with_suffix(Path::new("a.b/x.tar.mp4"), 1),
            PathBuf::from("a.b/x.tar-1.mp4")
        );
        assert_eq!(with_suffix(Path::new("noext"), 3), PathBuf::from("noext-3"));
        assert_eq!(
            with_suffix(Path::new(".hidden"), 1),
            PathBuf::from(".hidden-1")
        );
    }

    #[test]
    fn component_patterns() {
        use Token::{Any, Lit};
        assert_eq!(
            parse_component("%H-%M-%S.mp4"),
            vec![
                Any,
                Lit("-".into()),
                Any,
                Lit("-".into()),
                Any,
                Lit(".mp4".into())
            ]
        );
        assert_eq!(parse_component("%Y%m%d"), vec![Any]);
        assert_eq!(parse_component("a%%b%:z"), vec![Lit("a%b".into()), Any]);
        assert_eq!(literal(&parse_component("cam1")), Some("cam1".to_owned()));
        assert_eq!(literal(&parse_component("%Y")), None);
    }

    #[test]
    fn leftover_names_match_fields_as_wildcards_and_suffixes() {
        let name = parse_component("%H-%M-%S.mp4");
        assert!(is_leftover_name(&name, "10-00-00.mp4.partial"));
        assert!(is_leftover_name(&name, "10-00-00-1.mp4.partial"));
        assert!(!is_leftover_name(&name, "10-00-00.mp4"));
        assert!(!is_leftover_name(&name, "10-00-00.mkv.partial"));
        assert!(!is_leftover_name(&name, "1000.mp4.partial"));
        let fixed = parse_component("h264.mp4");
        assert!(is_leftover_name(&fixed, "h264.mp4.partial"));
        assert!(is_leftover_name(&fixed, "h264-12.mp4.partial"));
        assert!(!is_leftover_name(&fixed, "h264aac.mp4.partial"));
        assert!(!is_leftover_name(&fixed, "h264-.mp4.partial"));
        assert!(!is_leftover_name(&fixed, "h264-1x.mp4.partial"));
        let noext = parse_component("rec");
        assert!(is_leftover_name(&noext, "rec.partial"));
        assert!(is_leftover_name(&noext, "rec-4.partial"));
        assert!(!is_leftover_name(&noext, ".partial"));
    }

    #[test]
    fn leftovers_are_found_in_every_directory_the_template_expands_to() {
        let root = std::env::temp_dir().join(format!("recorder-template-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let touch = |p: &str| {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        };
        touch("cam1/2024-01-01/10-00-00.mp4.partial");
        touch("cam1/2024-01-02/11-00-00-1.mp4.partial");
        touch("cam1/2024-01-02/11-00-00.mp4"); // finished: not a leftover
        touch("cam1/notes/11-00-00.mp4.partial"); // directory does not match %Y-%m-%d
        touch("cam2/2024-01-01/10-00-00.mp4.partial"); // another camera
        let template = format!("{}/cam1/%Y-%m-%d/%H-%M-%S.mp4", root.display());
        let t = Template::parse(Path::new(&template)).unwrap();
        assert_eq!(
            t.find_leftovers(),
            vec![
                root.join("cam1/2024-01-01/10-00-00.mp4.partial"),
                root.join("cam1/2024-01-02/11-00-00-1.mp4.partial"),
            ]
        );
        assert_eq!(
            t.find_recordings(),
            vec![root.join("cam1/2024-01-02/11-00-00.mp4")]
        );
        assert_eq!(t.fixed_dir(), root.join("cam1"));
        let fixed = format!("{}/cam2/2024-01-01/10-00-00.mp4", root.display());
        let t = Template::parse(Path::new(&fixed)).unwrap();
        assert_eq!(
            t.find_leftovers(),
            vec![root.join("cam2/2024-01-01/10-00-00.mp4.partial")]
        );
        assert_eq!(t.fixed_dir(), root.join("cam2/2024-01-01"));
        assert_eq!(
            Template::parse(Path::new("%H.mp4")).unwrap().fixed_dir(),
            PathBuf::new()
        );
        let missing = format!("{}/nowhere/%H.mp4", root.display());
        assert!(
            Template::parse(Path::new(&missing))
                .unwrap()
                .find_leftovers()
                .is_empty()
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
