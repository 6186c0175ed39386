//! Finding the sweeps under the served directories, and keeping every read inside them: a results directory is
//! served only when it is inside a served root (after symbolic links are resolved), and a file of a sweep is read
//! only when it is inside that sweep's directory (a symbolic link pointing out is refused, never followed).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use sweep_results::format::{CANDIDATES_DIR, HISTORY_DIR, MANIFEST, PROGRESS_DIR, RESULTS_CSV, RUNGS_DIR, STATE_DIR, WRITERS_DIR};

/// How deep below a root the search for results directories goes.
pub const MAX_DEPTH: usize = 4;
/// At most this many directories are looked at per scan (a root that is a whole disk stays cheap).
pub const MAX_DIRS: usize = 20_000;

/// A results directory found under a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Canonical path.
    pub dir: PathBuf,
    /// Its path relative to its root, for display (`.` for the root itself).
    pub rel: String,
}

/// Whether `dir` holds a sweep: a results.csv, or the sweep.json a run writes before its first row.
fn is_sweep(dir: &Path) -> bool {
    [RESULTS_CSV, MANIFEST].iter().any(|f| dir.join(f).is_file())
}

/// Folders a sweep writes inside its directory: never results directories themselves.
fn is_sweep_part(name: &str) -> bool {
    [
        HISTORY_DIR,
        WRITERS_DIR,
        RUNGS_DIR,
        PROGRESS_DIR,
        STATE_DIR,
        CANDIDATES_DIR,
        "claims",
        "report",
        "slurm",
    ]
    .contains(&name)
}

/// The results directories under `roots` (canonical paths), each once, in path order.
pub fn find(roots: &[PathBuf]) -> Vec<Found> {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut visited = 0;
    for root in roots {
        let mut stack = vec![(root.clone(), 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            visited += 1;
            if visited > MAX_DIRS || !seen.insert(dir.clone()) {
                continue;
            }
            if is_sweep(&dir) {
                let rel = dir
                    .strip_prefix(root)
                    .map_or_else(|_| dir.display().to_string(), |p| p.display().to_string());
                found.push(Found {
                    dir,
                    rel: if rel.is_empty() { ".".into() } else { rel },
                });
                continue;
            }
            if depth >= MAX_DEPTH {
                continue;
            }
            let Ok(entries) = fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || is_sweep_part(&name) {
                    continue;
                }
                let Ok(kind) = e.file_type() else { continue };
                let path = e.path();
                let sub = if kind.is_dir() {
                    path
                } else if kind.is_symlink() {
                    // A linked folder is followed only when it resolves inside a served root.
                    match path.canonicalize() {
                        Ok(c) if c.is_dir() && roots.iter().any(|r| c.starts_with(r)) => c,
                        _ => continue,
                    }
                } else {
                    continue;
                };
                stack.push((sub, depth + 1));
            }
        }
    }
    found.sort_by(|a, b| a.dir.cmp(&b.dir));
    found
}

/// Whether `path`, a file or folder inside the sweep directory `dir` (canonical), may be read: it is missing, is
/// not a symbolic link, or is one that resolves inside `dir`. Parent folders are checked by [`check_sweep`].
pub fn confined(dir: &Path, path: &Path) -> bool {
    match fs::symlink_metadata(path) {
        Err(_) => true,
        Ok(m) if m.file_type().is_symlink() => path.canonicalize().is_ok_and(|c| c.starts_with(dir)),
        Ok(_) => true,
    }
}

/// Checks what the server reads in the sweep directory `dir` (canonical): the top-level files and folders, and
/// every entry of the folders whose files the library's readers list themselves (writers/, rungs/, progress/).
/// Returns the first path that points out of `dir`. History files and claims are checked as they are read.
pub fn check_sweep(dir: &Path) -> Result<(), PathBuf> {
    let top = [
        RESULTS_CSV,
        MANIFEST,
        sweep_results::format::BEST_JSON,
        sweep_results::format::GRID_COPY,
        HISTORY_DIR,
        WRITERS_DIR,
        RUNGS_DIR,
        PROGRESS_DIR,
        "claims",
    ];
    for name in top {
        let p = dir.join(name);
        if !confined(dir, &p) {
            return Err(p);
        }
    }
    for sub in [WRITERS_DIR, RUNGS_DIR, PROGRESS_DIR] {
        let Ok(entries) = fs::read_dir(dir.join(sub)) else { continue };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_symlink()) && !confined(dir, &e.path()) {
                return Err(e.path());
            }
        }
    }
    Ok(())
}

/// A name usable in a URL path segment: letters, digits, `.`, `_` and `-`; anything else becomes `-`.
pub fn url_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' })
        .collect();
    let s = s.trim_matches('.').to_string();
    if s.is_empty() {
        "sweep".into()
    } else {
        s
    }
}

/// Whether `s` can be a sweep key or a job id: what [`url_name`] and job ids are made of, 1 to 128 characters.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) && !s.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_are_found_below_roots_and_links_out_are_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("results");
        let outside = tmp.path().join("outside");
        for d in ["a", "group/b", "a/history"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::create_dir_all(&outside).unwrap();
        fs::write(root.join("a/results.csv"), "id\n").unwrap();
        fs::write(root.join("group/b/sweep.json"), "{}").unwrap();
        fs::write(outside.join("results.csv"), "id\n").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("again")).unwrap();
        let roots = vec![root.canonicalize().unwrap()];
        let found: Vec<String> = find(&roots).into_iter().map(|f| f.rel).collect();
        assert_eq!(
            found,
            ["a", "group/b"],
            "the link out is skipped and the link in is the same sweep once"
        );
        let single = find(&[root.join("a").canonicalize().unwrap()]);
        assert_eq!(single[0].rel, ".");
    }

    #[test]
    fn files_linking_out_of_a_sweep_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        fs::create_dir_all(dir.join("writers")).unwrap();
        fs::write(tmp.path().join("secret.csv"), "id\n").unwrap();
        let dir = dir.canonicalize().unwrap();
        assert!(check_sweep(&dir).is_ok());
        std::os::unix::fs::symlink(tmp.path().join("secret.csv"), dir.join("writers/w.csv")).unwrap();
        assert_eq!(check_sweep(&dir), Err(dir.join("writers/w.csv")));
        fs::remove_file(dir.join("writers/w.csv")).unwrap();
        fs::write(dir.join("inside.csv"), "id\n").unwrap();
        std::os::unix::fs::symlink(dir.join("inside.csv"), dir.join("results.csv")).unwrap();
        assert!(check_sweep(&dir).is_ok(), "a link inside the sweep is fine");
        assert!(!confined(&dir, &{
            let p = dir.join("grid.toml");
            std::os::unix::fs::symlink("/etc/hostname", &p).unwrap();
            p
        }));
    }

    #[test]
    fn names_for_urls() {
        assert_eq!(url_name("cifar best/2"), "cifar-best-2");
        assert_eq!(url_name(".."), "sweep");
        assert!(valid_name("a1b2-c_3.d") && !valid_name("..") && !valid_name("a/b") && !valid_name("") && !valid_name("%2e"));
    }
}
