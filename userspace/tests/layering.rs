//! The layering docs/ARCHITECTURE.md promises, checked on the source tree: a tool imports the
//! layers and its own modules, never another tool; a layer never imports a tool; main.rs only
//! dispatches.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every .rs file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    out
}

/// The tools named in `crate::tools::NAME` paths of `text`.
fn tools_named(text: &str) -> Vec<String> {
    text.match_indices("crate::tools::")
        .map(|(at, pattern)| {
            text[at + pattern.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

fn tool_names() -> Vec<String> {
    std::fs::read_dir(src().join("tools"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn tools_never_import_each_other() {
    let tools = tool_names();
    assert!(tools.len() >= 11, "{tools:?}");
    for tool in &tools {
        for (path, text) in sources(&src().join("tools").join(tool)) {
            for named in tools_named(&text) {
                assert_eq!(&named, tool, "{} imports the tool {named}", path.display());
            }
            assert!(
                !text.contains("super::super::super"),
                "{} reaches out of its tool by super::",
                path.display()
            );
        }
    }
}

#[test]
fn layers_never_import_tools() {
    for layer in [
        "blktrace", "cgroup", "cli", "host", "kernel", "model", "run",
    ] {
        for (path, text) in sources(&src().join(layer)) {
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                tools_named(&code).is_empty(),
                "the layer file {} imports a tool",
                path.display()
            );
        }
    }
}

#[test]
fn main_only_dispatches() {
    let main = std::fs::read_to_string(src().join("main.rs")).unwrap();
    let lines = main.lines().count();
    assert!(lines < 200, "main.rs has {lines} lines");
    for tool in tool_names() {
        assert!(
            main.contains(&format!("{tool}::")) || main.contains(&format!("{tool},")),
            "main.rs does not dispatch to {tool}"
        );
    }
}
