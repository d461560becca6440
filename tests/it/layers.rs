//! The layering of DESIGN §8, held by reading the source: every path into the crate in every file
//! under `src/` (`use crate::…`, `use super::…`, inline `crate::…` and paths through an imported
//! module name) is resolved to the file it names, and the rules below are checked on that graph.
//!
//! - Handlers live in `pages/` (HTML) or `endpoints/` (JSON) folders, and only `routes.rs` names
//!   them: no other file uses a handler module, except its siblings in the same folder.
//! - `web/`, `state.rs` and `error.rs` use no stage; `error.rs` uses nothing of the crate.
//! - The top-level units (a stage folder, `web/`, `db/`, or a file such as `audit.rs`) form no
//!   cycle; inside one folder, a cycle of files is small (at most 6 files).
//! - No handler body is over 40 lines; no file is over 600 lines, except a pure module (no SQL, no
//!   HTTP) whose code before its unit tests is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const STAGES: [&str; 9] = [
    "prepare", "consult", "followup", "public", "admin", "api", "reports", "demo", "duty",
];
const HANDLER_FOLDERS: [&str; 2] = ["pages", "endpoints"];
const MAX_HANDLER_LINES: usize = 40;
const MAX_FILE_LINES: usize = 600;
const MAX_CYCLE_IN_FOLDER: usize = 6;

struct Source {
    /// Relative to `src/`, with `/`.
    rel: String,
    /// Its module path: `prepare/pages/visits.rs` → [prepare, pages, visits].
    module: Vec<String>,
    /// The code before `#[cfg(test)]`, comments and string literals blanked out.
    code: String,
    /// The whole file as written.
    text: String,
}

fn src_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn sources() -> Vec<Source> {
    let mut files = Vec::new();
    collect(&src_dir(), &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let rel = path
                .strip_prefix(src_dir())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            // The binaries are crate roots of their own; they use the library like any client.
            if rel == "main.rs" || rel.starts_with("bin/") {
                return None;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let before_tests = text.split("#[cfg(test)]").next().unwrap_or("");
            Some(Source {
                module: module_of(&rel),
                code: blank(before_tests),
                text,
                rel,
            })
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Comments, string and char literals become spaces (newlines kept), so that SQL or prose that
/// mentions `crate::` is not read as a path, and line numbers stay right.
fn blank(code: &str) -> String {
    let c: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    let keep_lines = |s: &[char], out: &mut String| {
        s.iter()
            .for_each(|&ch| out.push(if ch == '\n' { '\n' } else { ' ' }))
    };
    while i < c.len() {
        let rest = &c[i..];
        let end = if rest.starts_with(&['/', '/']) {
            rest.iter().position(|&ch| ch == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            (2..rest.len())
                .find(|&k| rest[k - 1] == '*' && rest[k] == '/')
                .map_or(rest.len(), |k| k + 1)
        } else if rest[0] == 'r' && (rest.get(1) == Some(&'"') || rest.get(1) == Some(&'#')) {
            let hashes = rest[1..].iter().take_while(|&&ch| ch == '#').count();
            if rest.get(1 + hashes) != Some(&'"') {
                out.push(rest[0]);
                i += 1;
                continue;
            }
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            (2 + hashes..rest.len())
                .find(|&k| rest[k..].starts_with(&close))
                .map_or(rest.len(), |k| k + close.len())
        } else if rest[0] == '"' {
            let mut k = 1;
            while k < rest.len() && rest[k] != '"' {
                k += if rest[k] == '\\' { 2 } else { 1 };
            }
            (k + 1).min(rest.len())
        } else if rest[0] == '\'' && rest.get(2) == Some(&'\'') {
            3
        } else if rest[0] == '\'' && rest.get(1) == Some(&'\\') {
            rest.iter()
                .skip(2)
                .position(|&ch| ch == '\'')
                .map_or(2, |k| k + 3)
        } else {
            out.push(rest[0]);
            i += 1;
            continue;
        };
        keep_lines(&rest[..end], &mut out);
        i += end;
    }
    out
}

fn is_ident(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// Expand the path tree that starts at `s` (`a::b::{c, d::e}` …) into whole paths; `*` and
/// `self` end a path at their parent.
fn expand(s: &str) -> Vec<Vec<String>> {
    fn tree(s: &[char], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        let mut path = prefix;
        loop {
            while *i < s.len() && s[*i].is_whitespace() {
                *i += 1;
            }
            if *i < s.len() && s[*i] == '{' {
                *i += 1;
                loop {
                    tree(s, i, path.clone(), out);
                    while *i < s.len() && s[*i].is_whitespace() {
                        *i += 1;
                    }
                    match s.get(*i) {
                        Some(',') => *i += 1,
                        Some('}') => {
                            *i += 1;
                            return;
                        }
                        _ => return,
                    }
                    while *i < s.len() && s[*i].is_whitespace() {
                        *i += 1;
                    }
                    if s.get(*i) == Some(&'}') {
                        *i += 1;
                        return;
                    }
                }
            }
            let start = *i;
            while *i < s.len() && (is_ident(s[*i]) || s[*i] == '*') {
                *i += 1;
            }
            let seg: String = s[start..*i].iter().collect();
            if !seg.is_empty() && seg != "*" && seg != "self" {
                path.push(seg);
            }
            if s[*i..].starts_with(&[':', ':']) {
                *i += 2;
                continue;
            }
            // `as alias` and the like end the path.
            out.push(path);
            return;
        }
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    tree(&chars, &mut 0, Vec::new(), &mut out);
    out
}

/// Every crate path a file uses, as module paths from the crate root.
fn references(src: &Source) -> Vec<Vec<String>> {
    let code = &src.code;
    let mut found = Vec::new();
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let starts_word = |at: usize| at == 0 || !is_ident(code[..at].chars().next_back().unwrap());
    for root in ["crate::", "super::", "self::"] {
        for (at, _) in code.match_indices(root).filter(|(at, _)| starts_word(*at)) {
            let in_use = code[..at].trim_end().ends_with("use")
                || code[..at]
                    .rfind("use ")
                    .is_some_and(|u| !code[u..at].contains(';'));
            for rel in expand(&code[at..]) {
                let path = resolve(&src.module, &src.rel, &rel);
                if in_use && let Some(last) = path.last() {
                    aliases.insert(last.clone(), path.clone());
                }
                found.push(path);
            }
        }
    }
    // Paths through an imported module name: `use crate::consult;` … `consult::pages::desk::page`.
    for (name, full) in &aliases {
        let pattern = format!("{name}::");
        for (at, _) in code
            .match_indices(&pattern)
            .filter(|(at, _)| starts_word(*at))
        {
            if code[..at].ends_with("::") {
                continue;
            }
            for rest in expand(&code[at + pattern.len()..]) {
                found.push(full.iter().cloned().chain(rest).collect());
            }
        }
    }
    found
}

fn resolve(module: &[String], rel: &str, path: &[String]) -> Vec<String> {
    let mut base: Vec<String> = module.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        _ => {
            // `super` of a `mod.rs` is the parent of its folder, as for any other file.
            let _ = rel;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
        }
    }
    base.extend(rest.iter().cloned());
    base
}

/// The file a module path names: the deepest prefix that is a file of the crate.
fn file_of(path: &[String], files: &BTreeSet<String>) -> Option<String> {
    (1..=path.len()).rev().find_map(|n| {
        let stem = path[..n].join("/");
        [format!("{stem}.rs"), format!("{stem}/mod.rs")]
            .into_iter()
            .find(|f| files.contains(f))
    })
}

fn folder_of(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn is_handler_module(rel: &str) -> bool {
    rel.split('/').any(|seg| HANDLER_FOLDERS.contains(&seg))
}

/// A top-level unit: a folder under src/, or a file at the top.
fn unit_of(rel: &str) -> &str {
    rel.split_once('/')
        .map_or(rel.trim_end_matches(".rs"), |(top, _)| top)
}

/// Edges between files: (from, to) for every use of another file of the crate.
fn graph(sources: &[Source]) -> BTreeSet<(String, String)> {
    let files: BTreeSet<String> = sources.iter().map(|s| s.rel.clone()).collect();
    let mut edges = BTreeSet::new();
    for src in sources {
        for path in references(src) {
            if let Some(to) = file_of(&path, &files).filter(|to| *to != src.rel) {
                edges.insert((src.rel.clone(), to));
            }
        }
    }
    edges
}

/// Strongly connected components of more than one node (Tarjan's, iteratively simple enough here).
fn cycles(nodes: &BTreeSet<String>, edges: &BTreeSet<(String, String)>) -> Vec<Vec<String>> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::from([from.clone()]);
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for (_, m) in edges.iter().filter(|(a, _)| *a == n) {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in nodes {
        if done.contains(n) {
            continue;
        }
        let component: Vec<String> = reached[n]
            .iter()
            .filter(|m| reached[*m].contains(n))
            .cloned()
            .collect();
        done.extend(component.iter().cloned());
        if component.len() > 1 {
            out.push(component);
        }
    }
    out
}

#[test]
fn only_the_route_table_names_handlers() {
    let sources = sources();
    let mut wrong = Vec::new();
    for (from, to) in graph(&sources) {
        let sibling = folder_of(&from) == folder_of(&to);
        if is_handler_module(&to) && from != "routes.rs" && !sibling && !to.ends_with("/mod.rs") {
            wrong.push(format!("{from} uses the handler module {to}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "only routes.rs may name handlers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn web_state_and_errors_use_no_stage() {
    let sources = sources();
    let mut wrong = Vec::new();
    for (from, to) in graph(&sources) {
        let lower = from.starts_with("web/") || from == "state.rs";
        let to_stage = STAGES.contains(&unit_of(&to)) || to == "routes.rs" || to == "app.rs";
        if (lower && to_stage) || from == "error.rs" {
            wrong.push(format!("{from} uses {to}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "layers below the stages reach up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_cycle_crosses_a_folder_and_cycles_inside_one_are_small() {
    let sources = sources();
    let edges = graph(&sources);
    let units: BTreeSet<String> = sources.iter().map(|s| unit_of(&s.rel).to_owned()).collect();
    let unit_edges: BTreeSet<(String, String)> = edges
        .iter()
        .map(|(a, b)| (unit_of(a).to_owned(), unit_of(b).to_owned()))
        .filter(|(a, b)| a != b && a != "lib")
        .collect();
    let crossing: Vec<String> = cycles(&units, &unit_edges)
        .into_iter()
        .map(|units| {
            let inside = |f: &String| units.iter().any(|u| u == unit_of(f));
            let why: Vec<String> = edges
                .iter()
                .filter(|(a, b)| unit_of(a) != unit_of(b) && inside(a) && inside(b))
                .map(|(a, b)| format!("  {a} -> {b}"))
                .collect();
            format!("{units:?}, through:\n{}", why.join("\n"))
        })
        .collect();
    assert!(
        crossing.is_empty(),
        "import cycles between top-level units: {}",
        crossing.join("\n")
    );
    let files: BTreeSet<String> = sources.iter().map(|s| s.rel.clone()).collect();
    let large: Vec<_> = cycles(&files, &edges)
        .into_iter()
        .filter(|c| c.len() > MAX_CYCLE_IN_FOLDER)
        .collect();
    assert!(
        large.is_empty(),
        "import cycles of more than {MAX_CYCLE_IN_FOLDER} files: {large:?}"
    );
}

/// `stage::pages::file::handler` of every route.
fn handlers(sources: &[Source]) -> Vec<(String, String)> {
    let table = sources
        .iter()
        .find(|s| s.rel == "routes.rs")
        .expect("src/routes.rs");
    let files: BTreeSet<String> = sources.iter().map(|s| s.rel.clone()).collect();
    let imported = references(table);
    table
        .code
        .lines()
        .filter(|l| l.trim_start().starts_with("route("))
        .filter_map(|l| {
            l.trim()
                .trim_end_matches(',')
                .trim_end_matches(')')
                .rsplit(", ")
                .next()
        })
        .map(|handler| {
            let mut path: Vec<String> = handler.trim().split("::").map(String::from).collect();
            // `account::login` through `use crate::web::account;`
            if let Some(full) = imported.iter().find(|p| p.last() == path.first()) {
                path = full
                    .iter()
                    .cloned()
                    .chain(path.into_iter().skip(1))
                    .collect();
            }
            let file = file_of(&path, &files).unwrap_or_else(|| panic!("no file for {handler}"));
            (file, path.last().unwrap().clone())
        })
        .collect()
}

#[test]
fn handlers_live_in_handler_modules_and_stay_short() {
    let sources = sources();
    let mut wrong = Vec::new();
    for (file, name) in handlers(&sources) {
        let src = sources.iter().find(|s| s.rel == file).unwrap();
        if !is_handler_module(&file) && !file.starts_with("web/") {
            wrong.push(format!(
                "{file}: {name} is a handler outside a pages/ or endpoints/ folder"
            ));
        }
        // A handler made by a `macro_rules!` of its file: its arm `name => …` and the template `fn $name`.
        let generated = src
            .code
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{name} =>")));
        let lines = fn_lines(&src.code, &name)
            .or_else(|| generated.then(|| fn_lines(&src.code, "$name")).flatten());
        match lines {
            Some(n) if n > MAX_HANDLER_LINES => wrong.push(format!("{file}: {name} has {n} lines")),
            Some(_) => {}
            None => wrong.push(format!("{file}: no fn {name}")),
        }
    }
    assert!(wrong.is_empty(), "handlers:\n{}", wrong.join("\n"));
}

/// Lines of `fn name`, from its signature to the closing brace at its own indentation.
fn fn_lines(code: &str, name: &str) -> Option<usize> {
    let lines: Vec<&str> = code.lines().collect();
    let start = lines.iter().position(|l| {
        let t = l.trim_start();
        let t = t.strip_prefix("pub ").unwrap_or(t);
        let t = t.strip_prefix("async ").unwrap_or(t);
        t.strip_prefix("fn ").is_some_and(|r| {
            r.starts_with(name) && !r[name.len()..].starts_with(|ch: char| is_ident(ch))
        })
    })?;
    let indent = lines[start].len() - lines[start].trim_start().len();
    let close = format!("{}}}", " ".repeat(indent));
    let end = (start..lines.len()).find(|&i| lines[i].trim_end() == close)?;
    Some(end - start + 1)
}

#[test]
fn files_stay_under_600_lines_unless_pure_with_tests() {
    let mut wrong = Vec::new();
    for src in sources() {
        let lines = src.text.lines().count();
        let code_lines = src.code.lines().count();
        let pure = !["sqlx", "axum", "askama"]
            .iter()
            .any(|d| src.code.contains(&format!("{d}::")));
        let fits = lines <= MAX_FILE_LINES || (pure && code_lines <= MAX_FILE_LINES);
        if !fits {
            wrong.push(format!(
                "{}: {lines} lines ({code_lines} before its tests)",
                src.rel
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "files over {MAX_FILE_LINES} lines:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_reader_finds_what_it_must_refuse() {
    // The checks above are only as good as the path reader: it must see each form of path.
    let src = |rel: &str, code: &str| Source {
        rel: rel.into(),
        module: module_of(rel),
        code: blank(code),
        text: code.into(),
    };
    let files = [
        src("consult/pages/desk.rs", "pub async fn page() {}"),
        src("consult/mod.rs", "pub mod pages;"),
        src("consult/pages/mod.rs", "pub mod desk;"),
        src(
            "prepare/booking.rs",
            "use crate::consult::{board, pages::desk};",
        ),
        src(
            "prepare/triage.rs",
            "fn f() { crate::consult::pages::desk::page(); }",
        ),
        src(
            "prepare/rooms.rs",
            "use crate::consult;\nfn f() { consult::pages::desk::page(); }",
        ),
        src(
            "prepare/pages/x.rs",
            "use super::super::super::consult::pages::desk;",
        ),
        src(
            "prepare/notes.rs",
            "// crate::consult::pages::desk\nconst S: &str = \"crate::consult::pages::desk\";",
        ),
        src(
            "routes.rs",
            "use crate::consult;\nfn r() { consult::pages::desk::page }",
        ),
    ];
    // And it reads the whole tree: a reader that saw nothing would pass every check above.
    let tree = sources();
    assert!(tree.len() > 100, "{} source files", tree.len());
    let (edges, routed) = (graph(&tree).len(), handlers(&tree).len());
    assert!(
        edges > 400 && routed > 120,
        "{edges} paths between files, {routed} handlers"
    );
    let bad: BTreeSet<String> = graph(&files)
        .into_iter()
        .filter(|(from, to)| to == "consult/pages/desk.rs" && from != "routes.rs")
        .filter(|(from, _)| folder_of(from) != "consult/pages")
        .map(|(from, _)| from)
        .collect();
    let expected: BTreeSet<String> = [
        "prepare/booking.rs",
        "prepare/triage.rs",
        "prepare/rooms.rs",
        "prepare/pages/x.rs",
    ]
    .map(String::from)
    .into();
    assert_eq!(bad, expected);
    assert_eq!(
        fn_lines("pub async fn page() {\n    a();\n}\nfn pages() {}", "page"),
        Some(3)
    );
}
