//! A small hand scan of Rust source, enough for tidy's structural rules: comments and
//! literals blanked out, `#[cfg(test)] mod` blocks found, and the module paths that code
//! names through `crate::`, `super::` and `self::` (grouped `use` forms expanded).

/// Where a path starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Root {
    /// `crate::`
    Crate,
    /// `super::` repeated this many times.
    Super(usize),
    /// `self::`
    SelfMod,
}

/// A path found in code: its 1-based line, its root and the segments after the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathRef {
    /// Line of the root keyword.
    pub line: usize,
    /// What the path is relative to.
    pub root: Root,
    /// The segments after the root (`crate::a::b` gives `["a", "b"]`; a glob or a `self`
    /// in a group ends the path at the module).
    pub segments: Vec<String>,
}

impl PathRef {
    /// The path from the crate root, for a reference made in module `module` (`[]` for
    /// the crate root); `None` when `super` climbs above the root.
    pub fn absolute(&self, module: &[String]) -> Option<Vec<String>> {
        let mut base = match self.root {
            Root::Crate => Vec::new(),
            Root::Super(n) => module[..module.len().checked_sub(n)?].to_vec(),
            Root::SelfMod => module.to_vec(),
        };
        base.extend(self.segments.iter().cloned());
        Some(base)
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `source` with comments (doc comments included), string, raw string and char literals
/// replaced by spaces; newlines are kept, so lines and columns stay where they were.
pub fn code_only(source: &str) -> String {
    let c: Vec<char> = source.chars().collect();
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        let prev_ident = i > 0 && is_ident(c[i - 1]);
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0usize;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if ch == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() {
                match c[i] {
                    '\\' => {
                        out.push(' ');
                        i += 1;
                        if i < c.len() {
                            out.push(blank(c[i]));
                            i += 1;
                        }
                    }
                    '"' => {
                        out.push(' ');
                        i += 1;
                        break;
                    }
                    x => {
                        out.push(blank(x));
                        i += 1;
                    }
                }
            }
        } else if ch == 'r'
            && (!prev_ident || (c[i - 1] == 'b' && (i < 2 || !is_ident(c[i - 2]))))
            && matches!(next, Some('"' | '#'))
            && raw_string_end(&c, i).is_some()
        {
            let end = raw_string_end(&c, i).expect("checked");
            out.extend(c[i..end].iter().map(|&x| blank(x)));
            i = end;
        } else if ch == '\'' && next == Some('\\') {
            // An escaped char literal: '\n', '\'', '\u{1F600}'.
            let mut j = i + 3;
            while j < c.len() && c[j] != '\'' && c[j] != '\n' {
                j += 1;
            }
            let end = (j + 1).min(c.len());
            out.extend(c[i..end].iter().map(|&x| blank(x)));
            i = end;
        } else if ch == '\'' && c.get(i + 2) == Some(&'\'') {
            out.push_str("   ");
            i += 3;
        } else {
            // Code, or the quote of a lifetime.
            out.push(ch);
            i += 1;
        }
    }
    out
}

/// The index just past the raw string literal starting with the `r` at `start`
/// (`r"…"`, `r#"…"#`, …), or `None` if none starts there.
fn raw_string_end(c: &[char], start: usize) -> Option<usize> {
    let mut j = start + 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if c.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < c.len() {
        if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(c.len())
}

/// `code` (from [`code_only`]) with every `#[cfg(test)]` inline module (`mod name { … }`,
/// attributes and visibility allowed in between) blanked out, newlines kept.
pub fn without_test_modules(code: &str) -> String {
    const CFG_TEST: &str = "#[cfg(test)]";
    let mut c: Vec<char> = code.chars().collect();
    let text: String = c.iter().collect();
    let mut from = 0;
    while let Some(pos) = text[from..].find(CFG_TEST).map(|p| p + from) {
        from = pos + CFG_TEST.len();
        // Byte offsets equal char offsets only for ASCII; map through char indices.
        let start = text[..pos].chars().count();
        let mut i = start + CFG_TEST.chars().count();
        let skip_ws = |i: &mut usize, c: &[char]| {
            while *i < c.len() && c[*i].is_whitespace() {
                *i += 1;
            }
        };
        // Further attributes.
        loop {
            skip_ws(&mut i, &c);
            if c.get(i) == Some(&'#') && c.get(i + 1) == Some(&'[') {
                while i < c.len() && c[i] != ']' {
                    i += 1;
                }
                i += 1;
            } else {
                break;
            }
        }
        // Visibility: `pub`, `pub(crate)`, `pub(super)`, …
        let rest = |i: usize| c.get(i..).unwrap_or(&[]);
        if rest(i).starts_with(&['p', 'u', 'b']) {
            i += 3;
            skip_ws(&mut i, &c);
            if c.get(i) == Some(&'(') {
                while i < c.len() && c[i] != ')' {
                    i += 1;
                }
                i += 1;
            }
            skip_ws(&mut i, &c);
        }
        if !(rest(i).starts_with(&['m', 'o', 'd'])
            && c.get(i + 3).is_some_and(|x| x.is_whitespace()))
        {
            continue;
        }
        i += 3;
        skip_ws(&mut i, &c);
        while i < c.len() && is_ident(c[i]) {
            i += 1;
        }
        skip_ws(&mut i, &c);
        if c.get(i) != Some(&'{') {
            continue; // `mod tests;`: a file of its own
        }
        let mut depth = 0usize;
        let mut end = i;
        while end < c.len() {
            match c[end] {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end += 1;
                        break;
                    }
                }
                _ => {}
            }
            end += 1;
        }
        for x in &mut c[start..end] {
            if *x != '\n' {
                *x = ' ';
            }
        }
    }
    c.into_iter().collect()
}

/// Every path in `code` (from [`code_only`]) that starts with `crate::`, `super::` or
/// `self::`, grouped `use` forms expanded into one path per leaf.
pub fn path_refs(code: &str) -> Vec<PathRef> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < c.len() {
        if c[i] == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        let starts_word = i == 0 || !(is_ident(c[i - 1]) || c[i - 1] == '$');
        if !starts_word || !is_ident(c[i]) {
            i += 1;
            continue;
        }
        let word_end = (i..c.len()).find(|&j| !is_ident(c[j])).unwrap_or(c.len());
        let word: String = c[i..word_end].iter().collect();
        let after_colons = c[word_end..].starts_with(&[':', ':']);
        // A path that merely continues another (`a::crate`) is not ours.
        let continues = i >= 2 && c[i - 2] == ':' && c[i - 1] == ':';
        let root = match word.as_str() {
            "crate" => Some(Root::Crate),
            "super" => Some(Root::Super(1)),
            "self" => Some(Root::SelfMod),
            _ => None,
        };
        let (Some(mut root), true, false) = (root, after_colons, continues) else {
            i = word_end;
            continue;
        };
        let mut j = word_end + 2;
        if let Root::Super(n) = &mut root {
            while c[j..].starts_with(&['s', 'u', 'p', 'e', 'r', ':', ':']) {
                *n += 1;
                j += 7;
            }
        }
        for segments in parse_tree(&c, &mut j) {
            out.push(PathRef {
                line,
                root,
                segments,
            });
        }
        // Count the newlines of a multi-line group.
        line += c[i..j].iter().filter(|&&x| x == '\n').count();
        i = j.max(word_end);
    }
    out
}

/// Parses a path tree at `c[*i..]` (after a `::`): `a::b`, `a::{b, c::d}`, `*`.
fn parse_tree(c: &[char], i: &mut usize) -> Vec<Vec<String>> {
    let skip_ws = |i: &mut usize| {
        while *i < c.len() && c[*i].is_whitespace() {
            *i += 1;
        }
    };
    skip_ws(i);
    match c.get(*i) {
        Some('{') => {
            *i += 1;
            let mut all = Vec::new();
            loop {
                skip_ws(i);
                match c.get(*i) {
                    None => break,
                    Some('}') => {
                        *i += 1;
                        break;
                    }
                    Some(',') => *i += 1,
                    Some(_) => {
                        let before = *i;
                        all.extend(parse_tree(c, i));
                        // Skip `as name` and anything else up to the next item.
                        while *i < c.len() && !matches!(c[*i], ',' | '}') {
                            if c[*i] == '{' {
                                break;
                            }
                            *i += 1;
                        }
                        if *i == before {
                            *i += 1;
                        }
                    }
                }
            }
            all
        }
        Some('*') => {
            *i += 1;
            vec![Vec::new()]
        }
        Some(&x) if is_ident(x) => {
            let start = *i;
            while *i < c.len() && is_ident(c[*i]) {
                *i += 1;
            }
            let ident: String = c[start..*i].iter().collect();
            if c[*i..].starts_with(&[':', ':']) {
                *i += 2;
                let rest = parse_tree(c, i);
                rest.into_iter()
                    .map(|mut tail| {
                        tail.insert(0, ident.clone());
                        tail
                    })
                    .collect()
            } else if ident == "self" {
                vec![Vec::new()]
            } else {
                vec![vec![ident]]
            }
        }
        _ => vec![Vec::new()],
    }
}

/// 1-based lines of `code` (from [`code_only`]) that use the `clap` crate: the word `clap`
/// not inside another path (`use clap::…`, `clap::Parser`, `#[clap(…)]`).
pub fn clap_lines(code: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    for (n, text) in code.lines().enumerate() {
        let c: Vec<char> = text.chars().collect();
        let found = text.match_indices("clap").any(|(byte, _)| {
            let i = text[..byte].chars().count();
            let before_ok = i == 0 || !(is_ident(c[i - 1]) || matches!(c[i - 1], ':' | '.' | '$'));
            let after_ok = c.get(i + 4).is_none_or(|&x| !is_ident(x));
            before_ok && after_ok
        });
        if found {
            lines.push(n + 1);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(src: &str) -> Vec<(usize, Root, String)> {
        path_refs(&code_only(src))
            .into_iter()
            .map(|r| (r.line, r.root, r.segments.join("::")))
            .collect()
    }

    #[test]
    fn comments_and_literals_are_blanked_but_lines_kept() {
        let src = "use crate::a; // crate::b\n/* crate::c\n /* nested */ crate::d */ let s = \"crate::e\\\"\";\n\
                   //! crate::f\nlet r = r#\"crate::g \"quoted\"\"#; let q = '\"'; let l: &'a str = crate::h::x;\n\
                   let e = '\\''; f(b'x', br\"crate::i\");";
        let code = code_only(src);
        assert_eq!(code.lines().count(), src.lines().count());
        assert_eq!(
            refs(src),
            vec![
                (1, Root::Crate, "a".to_string()),
                (5, Root::Crate, "h::x".to_string())
            ]
        );
    }

    #[test]
    fn grouped_and_nested_uses_expand() {
        let src = "use crate::{a, b::c as d, e::{f, self}, g::*};\nuse crate::{\n    h::i,\n    j,\n};\n\
                   let x = crate::k::l::m(1);\nuse super::super::n::{o, p};\nuse self::q::r;\n\
                   macro_rules! z { () => { $crate::nope::x } }\npub(crate) fn f() { other::crate_like::x(); }";
        assert_eq!(
            refs(src),
            vec![
                (1, Root::Crate, "a".to_string()),
                (1, Root::Crate, "b::c".to_string()),
                (1, Root::Crate, "e::f".to_string()),
                (1, Root::Crate, "e".to_string()),
                (1, Root::Crate, "g".to_string()),
                (2, Root::Crate, "h::i".to_string()),
                (2, Root::Crate, "j".to_string()),
                (6, Root::Crate, "k::l::m".to_string()),
                (7, Root::Super(2), "n::o".to_string()),
                (7, Root::Super(2), "n::p".to_string()),
                (8, Root::SelfMod, "q::r".to_string()),
            ]
        );
    }

    #[test]
    fn absolute_paths_resolve_super_and_self() {
        let module = ["a".to_string(), "b".to_string()];
        let r = |root, seg: &str| PathRef {
            line: 1,
            root,
            segments: vec![seg.to_string()],
        };
        assert_eq!(r(Root::Crate, "x").absolute(&module).unwrap(), ["x"]);
        assert_eq!(
            r(Root::Super(1), "x").absolute(&module).unwrap(),
            ["a", "x"]
        );
        assert_eq!(r(Root::Super(2), "x").absolute(&module).unwrap(), ["x"]);
        assert_eq!(r(Root::Super(3), "x").absolute(&module), None);
        assert_eq!(
            r(Root::SelfMod, "x").absolute(&module).unwrap(),
            ["a", "b", "x"]
        );
    }

    #[test]
    fn test_modules_are_blanked() {
        let src = "use crate::a;\n#[cfg(test)]\n#[allow(unused)]\npub(crate) mod tests {\n    use crate::b;\n    fn f() { if x { crate::c(); } }\n}\nuse crate::d;\n#[cfg(test)]\nmod file_tests;\n#[cfg(test)]\nfn helper() { crate::e(); }\n";
        let code = without_test_modules(&code_only(src));
        assert_eq!(code.lines().count(), src.lines().count());
        let found: Vec<(usize, String)> = path_refs(&code)
            .into_iter()
            .map(|r| (r.line, r.segments.join("::")))
            .collect();
        assert_eq!(
            found,
            vec![
                (1, "a".to_string()),
                (8, "d".to_string()),
                (12, "e".to_string())
            ]
        );
    }

    #[test]
    fn clap_uses_are_found_outside_comments() {
        let src = "use clap::Parser;\n// clap::Args\nlet x = foo::clap::y; let clapper = 1;\n#[clap(long)]\n\
                   let s = \"clap::\";\nfn f() -> clap::Error {}\n";
        assert_eq!(clap_lines(&code_only(src)), vec![1, 4, 6]);
    }
}
