//! Tests of the crate's structure, read from its source files: the layering rules of
//! `docs/architecture.md` hold, and no two files import each other, however indirectly.
//!
//! The graph has one node per file under `src/` (the binary's `main.rs` aside) and an edge
//! from a file to every file whose module it names through `crate::`, `super::` or `self::`,
//! in a `use` tree or inline, outside `#[cfg(test)]` modules (tests may reach anywhere).
//! `mod` declarations are not edges.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// One source file: its module path (`["auth", "api"]`) and its text without comments,
/// literals and test modules.
struct Source {
    module: Vec<String>,
    code: String,
}

/// Every file of the library, keyed by its path relative to `src/` (`auth/api.rs`).
fn sources() -> BTreeMap<String, Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(&root).expect("under src").to_string_lossy().replace('\\', "/");
            if relative == "main.rs" || relative == "architecture.rs" {
                return None;
            }
            let text = std::fs::read_to_string(&path).expect("source file is readable");
            Some((relative.clone(), Source { module: module_of(&relative), code: without_tests(&blank_out(&text)) }))
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// `auth/repo/mod.rs` → `["auth", "repo"]`; `lib.rs` → `[]`.
fn module_of(relative: &str) -> Vec<String> {
    let trimmed = relative.trim_end_matches(".rs");
    let mut parts: Vec<String> = trimmed.split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The text with comments, string and character literals replaced by spaces (line breaks
/// kept), so braces and paths inside them do not count.
fn blank_out(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('"' | '#')) && !chars[..i].last().is_some_and(|p| is_ident(*p)) {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let closing: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            i += 2 + hashes;
            out.push_str(&" ".repeat(2 + hashes));
            while i < chars.len() && !chars[i..].starts_with(&closing) {
                out.push(blank(chars[i]));
                i += 1;
            }
            out.push_str(&" ".repeat(closing.len()));
            i += closing.len();
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let skip = if chars[i] == '\\' { 2 } else { 1 };
                for _ in 0..skip {
                    if i < chars.len() {
                        out.push(blank(chars[i]));
                        i += 1;
                    }
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\''), not a lifetime.
            let end = (i + 2..chars.len()).find(|&j| chars[j] == '\'' && chars[j - 1] != '\\').unwrap_or(i + 2);
            out.push_str(&" ".repeat(end + 1 - i));
            i = end + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The code without its `#[cfg(test)]` items (a test module may import anything).
fn without_tests(code: &str) -> String {
    let mut out = code.to_owned();
    while let Some(start) = out.find("#[cfg(test)]") {
        let Some(open) = out[start..].find('{').map(|o| start + o) else { break };
        let semicolon = out[start..].find(';').map(|s| start + s);
        if semicolon.is_some_and(|s| s < open) {
            // `#[cfg(test)] mod x;` or a `use`: drop up to the semicolon.
            out.replace_range(start..=semicolon.unwrap_or(start), "");
            continue;
        }
        let mut depth = 0;
        let mut end = out.len();
        for (offset, c) in out[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + offset + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(start..end, "");
    }
    out
}

/// Every path a file names, starting at `crate`, `super` or `self`, `use` trees expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    let tokens = tokenize(code);
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let starts_path = matches!(tokens[i].as_str(), "crate" | "super" | "self")
            && tokens.get(i + 1).is_some_and(|t| t == "::")
            && !(i > 0 && tokens[i - 1] == "::");
        if starts_path {
            let mut prefix = Vec::new();
            i = expand(&tokens, i, &mut prefix, &mut found);
        } else {
            i += 1;
        }
    }
    found
}

/// Identifiers and the punctuation a path can contain.
fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_ident(c) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push("::".to_owned());
            i += 2;
        } else {
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
            i += 1;
        }
    }
    tokens
}

/// Reads one path (or `use` tree) from `tokens[i]`, pushing each complete path onto `found`.
/// Returns the index after it.
fn expand(tokens: &[String], mut i: usize, prefix: &mut Vec<String>, found: &mut Vec<Vec<String>>) -> usize {
    let depth = prefix.len();
    loop {
        match tokens.get(i).map(String::as_str) {
            Some("{") => {
                i += 1;
                loop {
                    i = expand(tokens, i, prefix, found);
                    match tokens.get(i).map(String::as_str) {
                        Some(",") => i += 1,
                        Some("}") => {
                            i += 1;
                            break;
                        }
                        _ => break,
                    }
                    if tokens.get(i).map(String::as_str) == Some("}") {
                        i += 1;
                        break;
                    }
                }
                break;
            }
            Some("*") => {
                i += 1;
                found.push(prefix.clone());
                break;
            }
            Some(token) if token.chars().all(is_ident) => {
                prefix.push(token.to_owned());
                i += 1;
                if tokens.get(i).map(String::as_str) == Some("::") {
                    i += 1;
                    continue;
                }
                found.push(prefix.clone());
                if tokens.get(i).map(String::as_str) == Some("as") {
                    i += 2;
                }
                break;
            }
            _ => break,
        }
    }
    prefix.truncate(depth);
    i
}

/// The file a path lands in: its longest prefix that is a module. `None` for the crate root
/// (macros and `mod` items) and for paths that are not modules of this crate.
fn resolve(path: &[String], from: &[String], modules: &BTreeMap<Vec<String>, String>) -> Option<String> {
    let mut absolute: Vec<String> = Vec::new();
    let mut segments = path.iter().peekable();
    match segments.next().map(String::as_str) {
        Some("crate") => {}
        Some("self") => absolute.extend_from_slice(from),
        Some("super") => {
            absolute.extend_from_slice(&from[..from.len().saturating_sub(1)]);
            while segments.peek().is_some_and(|s| *s == "super") {
                segments.next();
                absolute.pop();
            }
        }
        _ => return None,
    }
    absolute.extend(segments.filter(|s| *s != "self").cloned());
    (1..=absolute.len()).rev().find_map(|n| modules.get(&absolute[..n]).cloned())
}

/// The import graph: file → the files it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let sources = sources();
    let modules: BTreeMap<Vec<String>, String> =
        sources.iter().map(|(file, source)| (source.module.clone(), file.clone())).collect();
    sources
        .iter()
        .map(|(file, source)| {
            let targets = paths(&source.code)
                .iter()
                .filter_map(|path| resolve(path, &source.module, &modules))
                .filter(|target| target != file)
                .collect();
            (file.clone(), targets)
        })
        .collect()
}

/// A cycle through `graph`, if there is one, as the files along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

/// Every edge from a file matching `from` to a file matching `to`, as `from -> to`.
fn edges(
    graph: &BTreeMap<String, BTreeSet<String>>,
    from: impl Fn(&str) -> bool,
    to: impl Fn(&str) -> bool,
) -> Vec<String> {
    graph
        .iter()
        .filter(|(file, _)| from(file))
        .flat_map(|(file, targets)| targets.iter().filter(|t| to(t)).map(move |t| format!("{file} -> {t}")))
        .collect()
}

/// Handlers: the modules holding `#[OpenApi]` operations.
fn is_handler(file: &str) -> bool {
    file.ends_with("api.rs") || file == "health.rs"
}

/// The domain and data layers below the handlers.
fn is_domain_or_data(file: &str) -> bool {
    file.starts_with("auth/repo/")
        || matches!(
            file,
            "auth/accounts.rs"
                | "auth/sessions.rs"
                | "auth/jwt.rs"
                | "auth/audit.rs"
                | "auth/two_factor.rs"
                | "auth/store.rs"
                | "auth/cache.rs"
                | "auth/model.rs"
                | "tasks/service.rs"
                | "tasks/repo.rs"
                | "tasks/model.rs"
        )
}

fn is_repo(file: &str) -> bool {
    file.starts_with("auth/repo/") || file == "tasks/repo.rs"
}

#[test]
fn the_parser_sees_use_trees_inline_paths_and_skips_tests_and_literals() {
    let code = without_tests(&blank_out(
        "use crate::{a::{b, c::D}, e};\nfn f() { crate::g::h(); let _ = \"crate::x::y\"; }\n\
         // crate::comment::z\nuse super::{super::k, self::l as m};\n#[cfg(test)]\nmod tests { use crate::t::u; }",
    ));
    let found: Vec<String> = paths(&code).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        found,
        ["crate::a::b", "crate::a::c::D", "crate::e", "crate::g::h", "super::super::k", "super::self::l"]
    );
    let graph = graph();
    assert!(graph["auth/api.rs"].contains("state.rs"), "a handler's state import is an edge");
    assert!(graph["auth/repo/users.rs"].contains("auth/repo/mod.rs"), "`super::` is resolved");
}

/// No file reaches itself through imports: each module can be read, and tested, by reading
/// only what is below it.
#[test]
fn no_file_imports_itself_through_others() {
    let graph = graph();
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

/// Handlers → domain → repo: a handler never reaches the SQL, the auth store or the session
/// cache, nor the database driver.
#[test]
fn handlers_never_import_a_repository() {
    let graph = graph();
    let bypass =
        edges(&graph, is_handler, |t| is_repo(t) || matches!(t, "auth/store.rs" | "auth/cache.rs" | "db/mod.rs"));
    assert!(bypass.is_empty(), "handlers reaching below the domain: {bypass:?}");
    let sources = sources();
    let drivers: Vec<&String> = sources
        .iter()
        .filter(|(file, source)| is_handler(file) && source.code.contains("sea_orm"))
        .map(|(f, _)| f)
        .collect();
    assert!(drivers.is_empty(), "handlers using the database driver: {drivers:?}");
}

/// The domain and the SQL know nothing of HTTP: no application state, no handler, no DTO.
#[test]
fn the_domain_never_imports_the_http_edge() {
    let graph = graph();
    let up = edges(&graph, is_domain_or_data, |t| {
        is_handler(t)
            || t.starts_with("http/")
            || matches!(
                t,
                "state.rs"
                    | "app.rs"
                    | "auth/dto.rs"
                    | "auth/two_factor_dto.rs"
                    | "tasks/dto.rs"
                    | "auth/guard.rs"
                    | "auth/reply.rs"
            )
    });
    assert!(up.is_empty(), "domain or repository modules importing the HTTP edge: {up:?}");
}

/// Only the auth store touches the auth tables' SQL and the session cache (so every write
/// invalidates the cache), and only the tasks service the task SQL.
#[test]
fn each_repository_has_one_caller() {
    let graph = graph();
    let auth_sql = edges(
        &graph,
        |f| !f.starts_with("auth/repo/") && f != "auth/store.rs",
        |t| t.starts_with("auth/repo/") || t == "auth/cache.rs",
    );
    assert!(auth_sql.is_empty(), "auth SQL or cache used outside auth::store: {auth_sql:?}");
    let task_sql = edges(&graph, |f| f != "tasks/service.rs", |t| t == "tasks/repo.rs");
    assert!(task_sql.is_empty(), "task SQL used outside tasks::service: {task_sql:?}");
}

/// The shared layers know no route and no domain: `http/` and `error.rs` import neither an API
/// nor the state (`error.rs` maps the domains' error enums, its one allowed domain knowledge).
#[test]
fn shared_layers_know_no_api() {
    let graph = graph();
    let shared = |f: &str| f.starts_with("http/") || f == "error.rs";
    let known = edges(&graph, shared, |t| {
        is_handler(t)
            || matches!(t, "state.rs" | "app.rs")
            || (t.starts_with("auth/") && t != "auth/error.rs")
            || (t.starts_with("tasks/") && t != "tasks/model.rs")
    });
    assert!(known.is_empty(), "shared layers importing an API: {known:?}");
    let http_domain = edges(&graph, |f| f.starts_with("http/"), |t| t.starts_with("auth/") || t.starts_with("tasks/"));
    assert!(http_domain.is_empty(), "http/ importing a domain: {http_domain:?}");
}
