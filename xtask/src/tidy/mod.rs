//! `cargo xtask tidy`: enforces the architecture invariants.
//!
//! - `bmff-boxes` and `mp4-track` never do I/O and never read the clock: no async runtime,
//!   network, clock or terminal crate in their normal dependency trees, and no `std::fs`,
//!   `std::net`, `SystemTime`, ... in their sources.
//! - Only `rtsp-ingest` imports retina.
//! - No source file over 600 lines, outside `tests/`, `benches/` and `examples/` folders
//!   ([`size`]).
//! - `recorder-cli/src`'s folders are layers that only refer downwards, and only the top
//!   ones use clap ([`layers`]).
//! - No import circle between the files of any crate ([`cycles`]).
//!
//! The structural rules read the sources with a small hand scan ([`scan`]): comments and
//! literals are blanked, then `crate::`/`super::`/`self::` paths are collected.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

mod cycles;
mod layers;
mod scan;
mod size;

use crate::util::{cargo, output, project_root};

/// Crates that must stay pure (no I/O, no clock).
pub const PURE_CRATES: &[&str] = &["bmff-boxes", "mp4-track", "audio-pcm", "mp4-export"];

/// The only crate allowed to depend on retina.
pub const RETINA_OWNER: &str = "rtsp-ingest";

/// The crate whose `src` folders are layers (see [`layers`]).
const LAYERED_CRATE: &str = "crates/recorder-cli";

/// Dependency names (exact) that mean I/O, a clock, or a dependency pointing the wrong way.
const DENIED_CRATES: &[&str] = &[
    "retina",
    "mio",
    "socket2",
    "hyper",
    "reqwest",
    "smol",
    "chrono",
    "time",
    "tracing-subscriber",
    "rtsp-ingest",
    "recorder-cli",
];

/// Dependency name prefixes that mean I/O.
const DENIED_PREFIXES: &[&str] = &["tokio", "async-", "futures"];

/// Source fragments that mean I/O or reading the clock.
const DENIED_SOURCE: &[&str] = &[
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "std::thread",
    "SystemTime",
    "Instant::now",
    "File::",
    "stdout()",
    "stderr()",
    "println!",
    "eprintln!",
];

/// Crate names in `cargo tree --prefix none` output (first word of each line).
pub fn tree_names(tree: &str) -> Vec<&str> {
    tree.lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}

/// The names in a pure crate's tree that break the invariant.
pub fn denied_in_tree(tree: &str) -> Vec<&str> {
    let mut bad: Vec<&str> = tree_names(tree)
        .into_iter()
        .filter(|name| {
            DENIED_CRATES.contains(name) || DENIED_PREFIXES.iter().any(|p| name.starts_with(p))
        })
        .collect();
    bad.sort_unstable();
    bad.dedup();
    bad
}

/// Lines of `source` (not comments) that use a denied API, as `(line number, text)`.
pub fn denied_in_source(source: &str) -> Vec<(usize, String)> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.trim_start();
            !code.starts_with("//") && DENIED_SOURCE.iter().any(|d| code.contains(d))
        })
        .map(|(i, line)| (i + 1, line.trim().to_string()))
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let hidden_or_target = path
            .file_name()
            .is_some_and(|n| n == "target" || n.to_string_lossy().starts_with('.'));
        if path.is_dir() && !hidden_or_target {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The folders of the workspace's crates: `crates/*`, `xtask` and `tests`.
fn crate_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let crates = root.join("crates");
    let mut dirs = Vec::new();
    for entry in
        std::fs::read_dir(&crates).with_context(|| format!("cannot read {}", crates.display()))?
    {
        let path = entry?.path();
        if path.join("Cargo.toml").is_file() {
            dirs.push(path);
        }
    }
    dirs.sort();
    dirs.extend(["xtask", "tests"].map(|d| root.join(d)));
    Ok(dirs)
}

/// The structural rules over every crate: file sizes, import circles, and
/// `recorder-cli`'s layers.
fn structure_problems(root: &Path) -> Result<Vec<String>> {
    let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let mut problems = Vec::new();
    for dir in crate_dirs(root)? {
        let mut files = Vec::new();
        rust_files(&dir, &mut files)?;
        files.sort();
        let src = dir.join("src");
        let mut sources = Vec::new();
        for file in files {
            let source = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let in_crate = file.strip_prefix(&dir).unwrap_or(&file);
            problems.extend(size::check(
                &shown(&file),
                in_crate,
                size::line_count(&source),
            ));
            if let Ok(in_src) = file.strip_prefix(&src) {
                sources.push((in_src.to_path_buf(), source));
            }
        }
        for cycle in cycles::import_cycles(&sources) {
            let files: Vec<String> = cycle.iter().map(|p| shown(&src.join(p))).collect();
            problems.push(format!("import circle: {}", files.join(" -> ")));
        }
        if dir.ends_with(LAYERED_CRATE) {
            for (in_src, source) in &sources {
                problems.extend(layers::check_file(
                    &shown(&src.join(in_src)),
                    in_src,
                    source,
                ));
            }
        }
    }
    Ok(problems)
}

/// Runs every tidy check and fails listing all violations.
pub fn tidy() -> Result<()> {
    let mut problems = structure_problems(&project_root())?;
    for krate in PURE_CRATES {
        let tree = output(cargo().args(["tree", "-p", krate, "-e", "normal", "--prefix", "none"]))?;
        for name in denied_in_tree(&tree) {
            problems.push(format!(
                "{krate} depends on {name} (cargo tree -p {krate} -e normal)"
            ));
        }
        let mut files = Vec::new();
        rust_files(
            &project_root().join("crates").join(krate).join("src"),
            &mut files,
        )?;
        files.sort();
        for file in files {
            let source = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            for (line, text) in denied_in_source(&source) {
                problems.push(format!(
                    "{}:{line}: I/O or clock in a pure crate: {text}",
                    file.strip_prefix(project_root()).unwrap_or(&file).display()
                ));
            }
        }
    }

    let mut inverted = cargo();
    inverted.args([
        "tree",
        "--workspace",
        "-i",
        "retina",
        "-e",
        "normal,build,dev",
        "--depth",
        "1",
        "--prefix",
        "none",
    ]);
    match output(&mut inverted) {
        Ok(tree) => {
            for name in tree_names(&tree).into_iter().skip(1) {
                if name != RETINA_OWNER {
                    problems.push(format!(
                        "{name} depends on retina; only {RETINA_OWNER} may (cargo tree -i retina)"
                    ));
                }
            }
        }
        // Nothing depends on retina at all: nothing to enforce.
        Err(e) if format!("{e:#}").contains("did not match any packages") => {}
        Err(e) => return Err(e),
    }

    if !problems.is_empty() {
        bail!(
            "tidy: {} violation(s) of the architecture invariants:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    println!(
        "tidy: {} have no I/O, clock or retina dependencies; only {RETINA_OWNER} uses retina; \
         no source file over {} lines; {LAYERED_CRATE}'s layers only refer downwards; no \
         import circle",
        PURE_CRATES.join(", "),
        size::MAX_LINES
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_tree_passes() {
        let tree = "mp4-track v0.1.0 (/w/crates/mp4-track)\nbmff-boxes v0.1.0 (/w/crates/bmff-boxes)\n\
                    bytes v1.12.2\nthiserror v2.0.21\ntracing v0.1.41\n";
        assert_eq!(denied_in_tree(tree), Vec::<&str>::new());
    }

    #[test]
    fn io_crates_are_reported_once() {
        let tree = "mp4-track v0.1.0 (/w)\ntokio v1.45.0\nmio v1.0.4\ntokio v1.45.0 (*)\n\
                    futures-util v0.3.31\nretina v0.4.21\ntime v0.3.41\n";
        assert_eq!(
            denied_in_tree(tree),
            vec!["futures-util", "mio", "retina", "time", "tokio"]
        );
    }

    #[test]
    fn source_scan_skips_comments_and_finds_clock_reads() {
        let src = "//! Never uses std::fs.\nuse bytes::Bytes;\n    // std::net is not for us\n\
                   let t = std::time::Instant::now();\nlet f = std::fs::read(p);\n";
        assert_eq!(
            denied_in_source(src),
            vec![
                (4, "let t = std::time::Instant::now();".to_string()),
                (5, "let f = std::fs::read(p);".to_string()),
            ]
        );
    }
}
