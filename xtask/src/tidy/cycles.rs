//! Rule: no import circle between the files of a crate.
//!
//! Each module file (`lib.rs`/`main.rs`, `a.rs`, `a/mod.rs`, `a/b.rs`, …) is a node. A
//! `crate::a::b::…`, `super::…` or `self::…` path in its code is an edge to the file of the
//! longest module prefix of that path (`a/b.rs` or `a/b/mod.rs`, else the nearest
//! existing ancestor, up to the crate root). Ignored: `#[cfg(test)] mod … { … }` blocks,
//! `mod child;` declarations (they are not paths), edges to the file itself, and edges
//! from a module to its own descendants, so that a `mod.rs` or `lib.rs` that re-exports its
//! children is no circle with them. A circle is reported once per strongly connected
//! group of files, as one shortest cycle through it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Component, Path, PathBuf};

use super::scan::{code_only, path_refs, without_test_modules};

/// The module path of a file at `in_src` (relative to `src`): `[]` for `lib.rs` and
/// `main.rs`, `[a, b]` for `a/b.rs` and `a/b/mod.rs`; `None` for what is not a module of
/// the crate (not `.rs`, or under `src/bin/`).
pub fn module_path(in_src: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = Vec::new();
    for c in in_src.components() {
        let Component::Normal(s) = c else {
            return None;
        };
        parts.push(s.to_str()?.to_string());
    }
    let file = parts.pop()?;
    if parts.first().is_some_and(|d| d == "bin") {
        return None;
    }
    let stem = file.strip_suffix(".rs")?;
    match stem {
        "lib" | "main" if parts.is_empty() => {}
        "mod" if !parts.is_empty() => {}
        _ => parts.push(stem.to_string()),
    }
    Some(parts)
}

/// The edges of the import graph of one crate's `files` (path relative to `src`, source),
/// as indices into `files`.
pub fn edges(files: &[(PathBuf, String)]) -> BTreeMap<usize, BTreeSet<usize>> {
    let modules: Vec<Option<Vec<String>>> = files.iter().map(|(p, _)| module_path(p)).collect();
    let mut index: BTreeMap<&[String], usize> = BTreeMap::new();
    for (i, m) in modules.iter().enumerate() {
        if let Some(m) = m {
            index.entry(m.as_slice()).or_insert(i);
        }
    }
    let mut graph: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (from, (_, source)) in files.iter().enumerate() {
        let Some(module) = &modules[from] else {
            continue;
        };
        let code = without_test_modules(&code_only(source));
        for r in path_refs(&code) {
            let Some(path) = r.absolute(module) else {
                continue;
            };
            let Some(to) = (0..=path.len())
                .rev()
                .find_map(|n| index.get(&path[..n]).copied())
            else {
                continue;
            };
            let target = modules[to].as_deref().expect("indexed modules exist");
            // Itself, or one of its own descendants (re-exports, `self::child`).
            if target.starts_with(module) {
                continue;
            }
            graph.entry(from).or_default().insert(to);
        }
    }
    graph
}

/// The import circles among `files` (path relative to `src`, source): one shortest cycle
/// per strongly connected group, as the files in order with the first repeated at the end.
pub fn import_cycles(files: &[(PathBuf, String)]) -> Vec<Vec<PathBuf>> {
    let graph = edges(files);
    let mut cycles = Vec::new();
    for group in strongly_connected(files.len(), &graph) {
        if group.len() < 2 {
            continue;
        }
        let start = *group.iter().min().expect("not empty");
        let path = shortest_cycle(start, &group, &graph);
        cycles.push(path.into_iter().map(|i| files[i].0.clone()).collect());
    }
    cycles.sort();
    cycles
}

/// Tarjan's strongly connected components of nodes `0..n`.
fn strongly_connected(n: usize, graph: &BTreeMap<usize, BTreeSet<usize>>) -> Vec<BTreeSet<usize>> {
    struct State<'g> {
        graph: &'g BTreeMap<usize, BTreeSet<usize>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        groups: Vec<BTreeSet<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        let targets: Vec<usize> = s.graph.get(&v).into_iter().flatten().copied().collect();
        for w in targets {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut group = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                group.insert(w);
                if w == v {
                    break;
                }
            }
            s.groups.push(group);
        }
    }
    let mut s = State {
        graph,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        groups: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.groups
}

/// A shortest path from `start` back to itself within `group` (breadth first).
fn shortest_cycle(
    start: usize,
    group: &BTreeSet<usize>,
    graph: &BTreeMap<usize, BTreeSet<usize>>,
) -> Vec<usize> {
    let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in graph.get(&v).into_iter().flatten() {
            if !group.contains(&w) {
                continue;
            }
            if w == start {
                // Back from `v` to `start`, then forwards and round to `start` again.
                let mut path = vec![v];
                while let Some(&from) = came_from.get(path.last().expect("not empty")) {
                    path.push(from);
                }
                path.reverse();
                path.push(start);
                return path;
            }
            if !came_from.contains_key(&w) && w != start {
                came_from.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    vec![start]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
        files
            .iter()
            .map(|(p, s)| (PathBuf::from(p), s.to_string()))
            .collect()
    }

    fn shown(cycles: Vec<Vec<PathBuf>>) -> Vec<String> {
        cycles
            .into_iter()
            .map(|c| {
                c.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            })
            .collect()
    }

    #[test]
    fn module_paths_of_files() {
        let m = |p: &str| module_path(Path::new(p));
        assert_eq!(m("lib.rs"), Some(vec![]));
        assert_eq!(m("main.rs"), Some(vec![]));
        assert_eq!(m("a.rs"), Some(vec!["a".to_string()]));
        assert_eq!(m("a/mod.rs"), Some(vec!["a".to_string()]));
        assert_eq!(m("a/b.rs"), Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(
            m("a/lib.rs"),
            Some(vec!["a".to_string(), "lib".to_string()])
        );
        assert_eq!(m("bin/tool.rs"), None);
        assert_eq!(m("a/data.txt"), None);
    }

    #[test]
    fn a_circle_between_two_files_is_found() {
        let files = tree(&[
            (
                "main.rs",
                "mod camera;\nmod record;\nuse crate::camera::run;\n",
            ),
            ("camera.rs", "use crate::record::{Recording, Output};\n"),
            ("record.rs", "use crate::camera::CameraConfig;\n"),
        ]);
        assert_eq!(
            shown(import_cycles(&files)),
            vec!["camera.rs -> record.rs -> camera.rs"]
        );
    }

    #[test]
    fn a_longer_circle_through_nested_modules_and_super() {
        let files = tree(&[
            ("lib.rs", "pub mod a;\npub mod b;\n"),
            ("a/mod.rs", "pub mod x;\npub mod y;\n"),
            ("a/x.rs", "use super::y::f;\n"),
            ("a/y.rs", "pub fn f() { crate::b::g::h(); }\n"),
            ("b/mod.rs", "pub mod g;\n"),
            ("b/g.rs", "pub fn h() { crate::a::x::k(); }\n"),
        ]);
        assert_eq!(
            shown(import_cycles(&files)),
            vec!["a/x.rs -> a/y.rs -> b/g.rs -> a/x.rs"]
        );
    }

    #[test]
    fn re_exports_children_tests_and_comments_are_no_circle() {
        let files = tree(&[
            // The root and a mod.rs re-export their children, which use them back.
            (
                "lib.rs",
                "mod a;\nmod types;\npub use types::{Error, TrackId};\npub use a::Muxer;\n",
            ),
            ("types.rs", "pub struct TrackId;\npub enum Error {}\n"),
            (
                "a/mod.rs",
                "mod inner;\npub use self::inner::Muxer;\nuse crate::Error;\n",
            ),
            (
                "a/inner.rs",
                "use super::super::TrackId;\nuse crate::a::helper;\n",
            ),
            // Test modules and comments may refer anywhere.
            (
                "b.rs",
                "// use crate::c::x;\n#[cfg(test)]\nmod tests {\n    use crate::c::x;\n}\n",
            ),
            ("c.rs", "use crate::b::y;\n"),
        ]);
        assert_eq!(import_cycles(&files), Vec::<Vec<PathBuf>>::new());
        // But a real use from b to c closes the circle.
        let mut files = files;
        files[4].1.push_str("use crate::c::x;\n");
        assert_eq!(shown(import_cycles(&files)), vec!["b.rs -> c.rs -> b.rs"]);
    }

    #[test]
    fn paths_to_items_resolve_to_the_nearest_module_file() {
        let files = tree(&[
            ("lib.rs", ""),
            ("a.rs", "use crate::b::c::Item;\n"),
            ("b/mod.rs", "pub fn f() { crate::a::g(); }\n"),
        ]);
        // b/c.rs does not exist: `crate::b::c::Item` is an edge to b/mod.rs.
        assert_eq!(
            shown(import_cycles(&files)),
            vec!["a.rs -> b/mod.rs -> a.rs"]
        );
    }
}
