//! The repository builds and tests on its own: no source, test, script or build file names a
//! path outside the tree (a clone with nothing beside it must pass `make test`).

use std::path::{Path, PathBuf};

/// Paths that would reach beside the repository, spelled in pieces so this file does not
/// match itself.
fn outside_paths() -> Vec<String> {
    let shared = ["sha", "red"].concat();
    vec![format!("../{shared}"), format!("/work/{shared}")]
}

fn files_under(root: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "target" || name == "results" || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            files_under(&path, found);
        } else if ["rs", "sh", "toml", "sql", "properties", "py"]
            .iter()
            .any(|extension| name.ends_with(&format!(".{extension}")))
            || name == "Makefile"
        {
            found.push(path);
        }
    }
}

#[test]
fn nothing_built_or_tested_reads_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for folder in [
        "src",
        "tests",
        "loadtests",
        "scripts",
        "migrations",
        "config",
    ] {
        files_under(&root.join(folder), &mut files);
    }
    files.push(root.join("Makefile"));
    files.push(root.join("Cargo.toml"));
    assert!(files.len() > 50, "found only {} files", files.len());
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for outside in outside_paths() {
            if text.contains(&outside) {
                offenders.push(format!("{} names {outside}", file.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}
