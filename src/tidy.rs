//! Tidy checks of the workspace's layout, as ordinary tests (in the spirit of rust-analyzer's
//! `tidy.rs`): the root crate's top-level modules import each other without cycles, no stage
//! imports `config`, and no `.rs` file grows past [`MAX_LINES`] lines.
//!
//! The module graph is read from the source text: every `crate::x` path (in `use` lines and
//! inline, grouped `use crate::{a, b::c}` included) in a file under `src/x/` or `src/x.rs` is an
//! edge from `x`, and so is a `super::super::x` that climbs to the crate root; in the binary
//! (`main.rs`, `cli/`), `cloudmirror::x` is one too. Comments are skipped, so an intra-doc link
//! is not a dependency; strings are kept, since `#[serde(deserialize_with = "crate::...")]` is one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Longest `.rs` file allowed (lines), except for [`LONG_FILES`].
const MAX_LINES: usize = 600;

/// Files allowed past [`MAX_LINES`], each with the reason.
const LONG_FILES: &[(&str, &str)] = &[(
    "crates/cloudmirror-contract/src/testkit.rs",
    "the contract suite's case list: one public async fn per case, read as one table",
)];

/// Modules of the root library that are not stages: they may import `config` (the crate root
/// declares it; `config` itself is the one assembling the stages' settings).
const MAY_IMPORT_CONFIG: &[&str] = &["config"];

/// A module that imports `config`, with where it first does.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edge {
    from: String,
    at: String,
}

/// The top-level module graph: module → modules it refers to (first place each is referred to).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, skipping build output and hidden folders.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') && name != "node_modules" {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments (line and block); string literals are kept.
fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if b[i] == b'\n' {
                            out.push('\n');
                        }
                        i += 1;
                    }
                }
            }
            b'r' if matches!(b.get(i + 1), Some(b'#' | b'"'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                // Raw string: r#"..."#, copied as is.
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let body = i + 2 + hashes;
                let end = src[body..]
                    .find(&close)
                    .map_or(b.len(), |e| body + e + close.len());
                out.push_str(&src[i..end]);
                i = end;
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(b.len());
                out.push_str(&src[start..i]);
            }
            b'\'' if b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\') => {
                // A char literal ('"', '\''): copied without looking inside.
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(b.len());
                out.push_str(&src[start..i]);
            }
            _ => {
                let c = src[i..].chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first segment of every path that follows `prefix::` (e.g. `crate`), with its line;
/// `prefix::{a, b::c}` gives `a` and `b`.
fn first_segments(src: &str, prefix: &str) -> Vec<(String, usize)> {
    let needle = format!("{prefix}::");
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = src[from..].find(&needle) {
        let at = from + pos;
        from = at + needle.len();
        let before = src[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == ':') {
            continue;
        }
        let line = src[..at].matches('\n').count() + 1;
        let rest = src[from..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => item_start = true,
                    c if depth == 1 && item_start && !c.is_whitespace() => {
                        item_start = false;
                        let id = ident_at(&group[i..]);
                        if !id.is_empty() {
                            found.push((id.to_owned(), line));
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let id = ident_at(rest);
            if !id.is_empty() {
                found.push((id.to_owned(), line));
            }
        }
    }
    found
}

/// How deep the file's module is below the crate root: `src/x.rs` and `src/x/mod.rs` are 1,
/// `src/x/y.rs` is 2.
fn module_depth(rel: &Path) -> usize {
    let parts: Vec<_> = rel.components().collect();
    let last_is_mod = rel.file_stem().is_some_and(|s| s == "mod");
    parts.len() - usize::from(last_is_mod)
}

/// The first segment of every `super::super::x` path that climbs to the crate root from a module
/// `depth` levels down (so `x` is a top-level module), with its line. Inline modules (`mod tests
/// { ... }`) are not counted, so inside one a path may be seen one level too high; the caller only
/// keeps segments that name a top-level module.
fn segments_above_root(src: &str, depth: usize) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = src[from..].find("super::") {
        let at = from + pos;
        let before = src[..at].chars().next_back();
        let mut rest = &src[at..];
        let mut ups = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            ups += 1;
            rest = r.trim_start();
        }
        from = src.len() - rest.len();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if ups == depth {
            let line = src[..at].matches('\n').count() + 1;
            // The path (or `{group}`) right here: occurrences further down are on later lines.
            let here = first_segments(&format!("x::{rest}"), "x");
            found.extend(
                here.into_iter()
                    .filter(|(_, l)| *l == 1)
                    .map(|(s, _)| (s, line)),
            );
        }
    }
    found
}

/// `mod x;` / `pub mod x;` declarations of a crate root, and the names its `pub use x::{...}`
/// re-exports (name → module).
fn root_modules(src: &str) -> (BTreeSet<String>, BTreeMap<String, String>) {
    let mut modules = BTreeSet::new();
    let mut reexports = BTreeMap::new();
    for line in src.lines().map(str::trim) {
        let line = line.trim_start_matches("#[cfg(test)]").trim();
        let decl = line
            .strip_prefix("pub ")
            .or_else(|| line.strip_prefix("pub(crate) "))
            .unwrap_or(line);
        if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            modules.insert(name.trim().to_owned());
        } else if let Some(path) = decl.strip_prefix("use ") {
            let module = ident_at(path).to_owned();
            for (name, _) in first_segments(&format!("x::{}", &path[module.len()..]), "x") {
                reexports.insert(name, module.clone());
            }
        }
    }
    (modules, reexports)
}

/// The top-level module a file under `src/` belongs to (`None` for the crate roots).
fn top_module(rel: &Path) -> Option<String> {
    let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy());
    let first = parts.next()?;
    if parts.next().is_some() {
        return Some(first.into_owned());
    }
    match first.strip_suffix(".rs")? {
        "lib" | "main" => None,
        m => Some(m.to_owned()),
    }
}

/// Builds the module graph of the root crate (library and binary) from `src/`.
fn module_graph(src_dir: &Path) -> Graph {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let (lib_mods, lib_reexports) = root_modules(&strip_comments(&read(&src_dir.join("lib.rs"))));
    let (bin_mods, _) = root_modules(&strip_comments(&read(&src_dir.join("main.rs"))));
    let mut files = Vec::new();
    rust_files(src_dir, &mut files);
    files.sort();
    let mut graph = Graph::new();
    for file in files {
        let rel = file.strip_prefix(src_dir).unwrap_or(&file).to_path_buf();
        let Some(from) = top_module(&rel) else {
            continue;
        };
        if from == "tidy" {
            continue;
        }
        let in_bin = bin_mods.contains(&from);
        let text = strip_comments(&read(&file));
        let mut refs: Vec<(String, usize)> = Vec::new();
        let mut found = first_segments(&text, "crate");
        found.extend(segments_above_root(&text, module_depth(&rel)));
        for (seg, line) in found {
            let to = if in_bin {
                bin_mods.get(&seg).cloned()
            } else {
                lib_mods
                    .get(&seg)
                    .cloned()
                    .or_else(|| lib_reexports.get(&seg).cloned())
            };
            refs.extend(to.map(|t| (t, line)));
        }
        if in_bin {
            for (seg, line) in first_segments(&text, "cloudmirror") {
                if let Some(t) = lib_mods.get(&seg).or_else(|| lib_reexports.get(&seg)) {
                    refs.push((t.clone(), line));
                }
            }
        }
        let node = graph.entry(from.clone()).or_default();
        for (to, line) in refs {
            if to != from {
                node.entry(to)
                    .or_insert_with(|| format!("src/{}:{line}", rel.display()));
            }
        }
    }
    graph
}

/// A cycle in `graph`, named `a -> b -> a`, with where each step is written; `None` when there is
/// none. Modules and their imports are visited in name order, so the answer is stable.
fn find_cycle(graph: &Graph) -> Option<(String, Vec<String>)> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(BTreeMap::keys) {
            if let Some(c) = visit(next, graph, done, path) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for start in graph.keys() {
        if let Some(cycle) = visit(start, graph, &mut done, &mut Vec::new()) {
            let places = cycle
                .windows(2)
                .map(|w| {
                    let at = graph.get(&w[0]).and_then(|m| m.get(&w[1]));
                    format!("{} -> {} at {}", w[0], w[1], at.map_or("?", String::as_str))
                })
                .collect();
            return Some((cycle.join(" -> "), places));
        }
    }
    None
}

/// Stages (every library module but those in [`MAY_IMPORT_CONFIG`] and the binary's) that import
/// `config`, with where.
fn config_imports(graph: &Graph, bin_modules: &BTreeSet<String>) -> Vec<Edge> {
    graph
        .iter()
        .filter(|(m, _)| !MAY_IMPORT_CONFIG.contains(&m.as_str()) && !bin_modules.contains(*m))
        .filter_map(|(m, deps)| {
            deps.get("config").map(|at| Edge {
                from: m.clone(),
                at: at.clone(),
            })
        })
        .collect()
}

#[test]
fn root_crate_modules_have_no_import_cycles() {
    let graph = module_graph(&root().join("src"));
    assert!(
        graph.len() >= 8 && graph.values().any(|d| !d.is_empty()),
        "the module graph looks empty, the parser is broken: {graph:?}"
    );
    if let Some((cycle, places)) = find_cycle(&graph) {
        panic!(
            "import cycle between modules: {cycle}\n  {}",
            places.join("\n  ")
        );
    }
}

#[test]
fn no_stage_imports_config() {
    let src = root().join("src");
    let graph = module_graph(&src);
    let (bin_modules, _) = root_modules(&strip_comments(
        &std::fs::read_to_string(src.join("main.rs")).unwrap_or_default(),
    ));
    let bad = config_imports(&graph, &bin_modules);
    let mut msg = String::new();
    for e in &bad {
        let _ = writeln!(msg, "  {} imports config at {}", e.from, e.at);
    }
    assert!(
        bad.is_empty(),
        "stages own their settings types; only `config` assembles them (build plans in config::plan):\n{msg}"
    );
}

#[test]
fn no_rust_file_is_longer_than_600_lines() {
    let root = root();
    let mut files = Vec::new();
    for dir in [
        "src", "tests", "crates", "xtask", "fuzz", "benches", "examples",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} .rs files", files.len());
    let mut long = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&root).unwrap_or(&file);
        let rel = rel.to_string_lossy().replace('\\', "/");
        let lines = std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .count();
        if lines > MAX_LINES && !LONG_FILES.iter().any(|(f, _)| *f == rel) {
            long.push(format!("{rel}: {lines} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split by concern, move tests to foo/tests.rs, or add to \
         LONG_FILES with a reason):\n  {}",
        long.join("\n  ")
    );
}

#[test]
fn the_parser_sees_grouped_inline_and_string_paths_but_not_comments() {
    let src = "use crate::{backup::{a, b}, Error};\n// use crate::restore;\n/// [`crate::schedule`]\n\
               #[serde(deserialize_with = \"crate::config::x\")]\nlet c = '\"'; crate::lifecycle::f();\n\
               macro_rules! m { () => { $crate::catalog::x } }\n";
    let segs: Vec<String> = first_segments(&strip_comments(src), "crate")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(segs, ["backup", "Error", "config", "lifecycle"]);
}

#[test]
fn super_paths_that_reach_the_crate_root_count() {
    let src = "use super::super::config::Config;\nuse super::spool;\nuse super::super::{catalog, backup::x};\n";
    let depth = module_depth(Path::new("backup/archive.rs"));
    assert_eq!(depth, 2);
    assert_eq!(module_depth(Path::new("backup/mod.rs")), 1);
    let segs: Vec<String> = segments_above_root(src, depth)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(segs, ["config", "catalog", "backup"]);
}

#[test]
fn a_cycle_is_found_and_named() {
    fn add(graph: &mut Graph, from: &str, to: &str) {
        graph
            .entry(from.to_owned())
            .or_default()
            .insert(to.to_owned(), format!("src/{from}/mod.rs:1"));
    }
    let mut graph = Graph::new();
    add(&mut graph, "backup", "destination");
    add(&mut graph, "catalog", "backup");
    add(&mut graph, "config", "backup");
    add(&mut graph, "restore", "catalog");
    assert_eq!(find_cycle(&graph), None);
    add(&mut graph, "backup", "config");
    let (name, places) = find_cycle(&graph).expect("a cycle");
    assert_eq!(name, "backup -> config -> backup");
    assert_eq!(places[0], "backup -> config at src/backup/mod.rs:1");
}
