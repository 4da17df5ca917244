//! The server's modules import each other in one direction only: no module reaches itself through
//! `crate::` paths. (A parent and its own submodules, such as `room` and `room/delivery.rs`, count as
//! one module.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module of `server/src` and the other top-level modules its code names.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: BTreeMap<String, Vec<std::path::PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("src") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            let inside = std::fs::read_dir(&path)
                .expect("module folder")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "rs"))
                .collect();
            files.insert(name, inside);
        } else if path.extension().is_some_and(|e| e == "rs") && name != "lib" && name != "main" {
            files.entry(name).or_default().push(path);
        }
    }
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    files
        .iter()
        .map(|(module, paths)| {
            let mut uses = BTreeSet::new();
            for path in paths {
                let text = std::fs::read_to_string(path).expect("source");
                for line in text.lines() {
                    let code = line.split("//").next().unwrap_or_default();
                    for (i, _) in code.match_indices("crate::") {
                        let name: String = code[i + 7..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if modules.contains(&name) && name != *module {
                            uses.insert(name);
                        }
                    }
                }
            }
            (module.clone(), uses)
        })
        .collect()
}

/// A cycle through `start`, if there is one.
fn cycle_through(start: &str, graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    let mut stack = vec![vec![start.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().expect("a path is never empty");
        for next in graph.get(last).into_iter().flatten() {
            if next == start {
                return Some(path.clone());
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn server_modules_have_no_import_cycles() {
    let graph = dependencies();
    assert!(graph.len() > 20, "found the modules: {:?}", graph.keys());
    for module in graph.keys() {
        if let Some(cycle) = cycle_through(module, &graph) {
            panic!("import cycle: {} -> {module}", cycle.join(" -> "));
        }
    }
    // Configuration does not reach into the admin API (the secret type has its own module).
    assert!(!graph["config"].contains("admin"));
}

#[test]
fn the_cycle_check_finds_cycles() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(m, uses)| (m.to_string(), uses.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        cycle_through("a", &graph),
        Some(vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(cycle_through("d", &graph), None);
}
