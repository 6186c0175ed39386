//! Keeping every read inside the served directories: a results directory is served only when it is inside a served
//! root (after symbolic links are resolved; the walk that finds them is the results crate's [`find`]), and a file of
//! a sweep is read only when it is inside that sweep's directory (a symbolic link pointing out is refused, never
//! followed).

use std::fs;
use std::path::{Path, PathBuf};

use sweep_results::format::{HISTORY_DIR, MANIFEST, PROGRESS_DIR, RESULTS_CSV, RUNGS_DIR, WRITERS_DIR};

pub use sweep_results::discover::{find, Found, MAX_DEPTH, MAX_DIRS};

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
