//! Rule: no source file over [`MAX_LINES`] lines.
//!
//! Every `*.rs` file of a crate counts (all of its lines, tests included), except those in
//! the crate's `tests/` (integration tests), `benches/` and `examples/` folders: those are
//! test code, a scenario per file, and may grow with the cases they hold.

use std::path::{Component, Path};

/// The most lines a source file may have.
pub const MAX_LINES: usize = 600;

/// Folders of a crate (directly under its `Cargo.toml`) whose files are exempt.
pub const EXEMPT_DIRS: &[&str] = &["tests", "benches", "examples"];

/// Whether a file at `in_crate` (relative to its crate's folder) is exempt.
pub fn is_exempt(in_crate: &Path) -> bool {
    match in_crate.components().next() {
        Some(Component::Normal(first)) => {
            in_crate.components().count() > 1
                && EXEMPT_DIRS.iter().any(|d| first == std::ffi::OsStr::new(d))
        }
        _ => false,
    }
}

/// Lines of a file as `wc -l` counts them for text ending with a newline.
pub fn line_count(source: &str) -> usize {
    source.lines().count()
}

/// The problem with a file of `lines` lines at `in_crate` (relative to its crate's folder),
/// shown as `shown`, if any.
pub fn check(shown: &str, in_crate: &Path, lines: usize) -> Option<String> {
    (lines > MAX_LINES && !is_exempt(in_crate))
        .then(|| format!("{shown}: {lines} lines, more than {MAX_LINES}; split it along its seams"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_source_files_are_reported_unless_exempt() {
        let long = "fn f() {}\n".repeat(601);
        assert_eq!(line_count(&long), 601);
        assert_eq!(line_count(&"x\n".repeat(600)), 600);
        assert_eq!(line_count("a\nb"), 2);
        let at = |p: &str, n| check(p, Path::new(p), n);
        assert_eq!(at("src/lib.rs", 600), None);
        assert_eq!(
            at("src/lib.rs", 601).as_deref(),
            Some("src/lib.rs: 601 lines, more than 600; split it along its seams")
        );
        assert!(
            at("src/tests/helpers.rs", 601).is_some(),
            "a module named tests"
        );
        assert!(at("build.rs", 601).is_some());
        assert_eq!(at("tests/e2e.rs", 5000), None);
        assert_eq!(at("benches/mux.rs", 5000), None);
        assert_eq!(at("examples/demo.rs", 5000), None);
        assert_eq!(at("tests/support/mod.rs", 5000), None);
    }
}
