//! Rule: the folders of `recorder-cli/src` are layers, and a layer only refers to itself
//! and to the layers below it; only the top layers use clap.
//!
//! A file's layer is the first folder of its path under `src` (or `cmd.rs` for `cmd/`);
//! `main.rs` may use anything. Every `crate::X…` path in code (`use` lines, paths in
//! expressions and attributes, grouped `use crate::{a, b::c}` forms) and every `super::`
//! path that climbs to the crate root names a top-level module `X`; when `X` is a layer it
//! must be the file's own layer or rank below it. Comments, doc comments and string
//! literals are ignored; test modules are checked like the rest of the file.

use std::path::{Component, Path};

use super::cycles::module_path;
use super::scan::{clap_lines, code_only, path_refs};

/// The layers of `recorder-cli`, top first, with their ranks.
pub const LAYERS: &[(&str, u8)] = &[
    ("cmd", 8),
    ("options", 7),
    ("archive", 6),
    ("ui", 5),
    ("camera", 4),
    ("session", 3),
    ("output", 2),
    ("mp4", 1),
];

/// The layers that may use clap (besides `main.rs`).
pub const CLAP_LAYERS: &[&str] = &["cmd", "options", "ui"];

fn rank(layer: &str) -> Option<u8> {
    LAYERS.iter().find(|(l, _)| *l == layer).map(|&(_, r)| r)
}

/// The layer of a file at `in_src` (relative to `src`): `Ok(None)` for `main.rs`,
/// `Err(name)` for a top-level module that is not a layer.
pub fn layer_of(in_src: &Path) -> Result<Option<&'static str>, String> {
    let parts: Vec<String> = in_src
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let first = match parts.as_slice() {
        [only] if only == "main.rs" => return Ok(None),
        [only] => only.strip_suffix(".rs").unwrap_or(only).to_string(),
        [dir, ..] => dir.clone(),
        [] => return Err(String::new()),
    };
    LAYERS
        .iter()
        .find(|(l, _)| *l == first)
        .map(|&(l, _)| Some(l))
        .ok_or(first)
}

/// The violations in one file of `recorder-cli/src` at `in_src`, shown as `shown`, as
/// `shown:line: <layer> imports <other layer>` (once per line and layer) and
/// `shown:line: <layer> uses clap`.
pub fn check_file(shown: &str, in_src: &Path, source: &str) -> Vec<String> {
    let layer = match layer_of(in_src) {
        Ok(Some(layer)) => layer,
        Ok(None) => return Vec::new(),
        Err(name) => {
            let names: Vec<&str> = LAYERS.iter().map(|(l, _)| *l).collect();
            return vec![format!(
                "{shown}: module `{name}` is in no layer ({})",
                names.join(", ")
            )];
        }
    };
    let own = rank(layer).expect("a layer");
    let module = module_path(in_src).unwrap_or_default();
    let code = code_only(source);
    let mut problems: Vec<(usize, String)> = Vec::new();
    for r in path_refs(&code) {
        let Some(target) = r.absolute(&module).and_then(|p| p.into_iter().next()) else {
            continue;
        };
        if let Some(other) = rank(&target)
            && target != layer
            && other >= own
        {
            problems.push((
                r.line,
                format!("{shown}:{}: {layer} imports {target}", r.line),
            ));
        }
    }
    if !CLAP_LAYERS.contains(&layer) {
        for line in clap_lines(&code) {
            problems.push((line, format!("{shown}:{line}: {layer} uses clap")));
        }
    }
    problems.sort();
    problems.dedup();
    problems.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, src: &str) -> Vec<String> {
        check_file(path, Path::new(path), src)
    }

    #[test]
    fn files_belong_to_the_folder_they_are_in() {
        assert_eq!(layer_of(Path::new("main.rs")), Ok(None));
        assert_eq!(layer_of(Path::new("cmd/run.rs")), Ok(Some("cmd")));
        assert_eq!(layer_of(Path::new("session/mod.rs")), Ok(Some("session")));
        assert_eq!(layer_of(Path::new("mp4.rs")), Ok(Some("mp4")));
        assert_eq!(layer_of(Path::new("util.rs")), Err("util".to_string()));
        assert_eq!(layer_of(Path::new("misc/a.rs")), Err("misc".to_string()));
    }

    #[test]
    fn lower_layers_and_own_layer_are_allowed() {
        let src = "use crate::session::segment::Segmenter;\nuse crate::{output::writer, mp4::read::Mp4File};\n\
                   use crate::camera::backoff::Backoff;\nfn f() { crate::output::template::parse(); }\n\
                   use super::backoff;\n";
        assert_eq!(check("camera/mod.rs", src), Vec::<String>::new());
        assert_eq!(
            check("main.rs", "use crate::cmd::run;\nuse clap::Parser;\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            check(
                "cmd/run.rs",
                "use crate::options::args::RunArgs;\nuse clap::Args;\n"
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn higher_layers_and_clap_are_reported_with_their_lines() {
        let src = "//! See [`crate::options::args`].\nuse crate::camera::{CameraConfig, Shutdown};\n\
                   use crate::options::args::{FormatArg, RecordArgs};\nuse crate::{ui::status::Board, output::writer, cmd};\n\
                   fn f() {\n    let s = crate::camera::install()?; // crate::cmd\n    let t = \"crate::cmd\";\n\
                   }\nuse clap::ValueEnum;\nuse super::super::ui::exit;\n#[cfg(test)]\nmod tests {\n    use crate::options::file;\n}\n";
        assert_eq!(
            check("session/recording.rs", src),
            vec![
                "session/recording.rs:2: session imports camera",
                "session/recording.rs:3: session imports options",
                "session/recording.rs:4: session imports cmd",
                "session/recording.rs:4: session imports ui",
                "session/recording.rs:6: session imports camera",
                "session/recording.rs:9: session uses clap",
                "session/recording.rs:10: session imports ui",
                "session/recording.rs:13: session imports options",
            ]
        );
        // A layer of equal rank is only the layer itself; the same layer reached by a
        // full path is fine.
        assert_eq!(
            check("mp4/read.rs", "use crate::mp4::check::seconds;\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            check("mp4/read.rs", "use crate::output::PARTIAL_SUFFIX;\n"),
            vec!["mp4/read.rs:1: mp4 imports output"]
        );
    }

    #[test]
    fn modules_outside_the_layers_are_reported() {
        assert_eq!(
            check("util.rs", "pub fn f() {}\n"),
            vec![
                "util.rs: module `util` is in no layer (cmd, options, archive, ui, camera, session, output, mp4)"
            ]
        );
    }
}
