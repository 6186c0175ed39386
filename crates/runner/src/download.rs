//! Downloads and safely unpacks the official CIFAR-10 binary archive, so `sweep data fetch cifar10 DIR` gives a ready data directory.
//!
//! The archive is streamed into a temporary file beside the destination while it is hashed, checked (length, size,
//! MD5/SHA-256), then only the expected members are unpacked into a temporary directory that is renamed to the
//! destination. Any failure leaves nothing behind: the temporary file and directory are removed on drop.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use md5::Md5;
use sha2::{Digest, Sha256};

pub use crate::error::DownloadError;
use sweep_params::text::hex;

/// Where the official binary release of CIFAR-10 is published.
pub const OFFICIAL_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/// Size in bytes of the official archive.
pub const OFFICIAL_SIZE: u64 = 170_052_171;
/// MD5 of the official archive, as published on the CIFAR-10 page.
pub const OFFICIAL_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
/// SHA-256 of the official archive.
pub const OFFICIAL_SHA256: &str = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd";

/// The directory every member of the archive lives in.
pub const MEMBER_DIR: &str = "cifar-10-batches-bin";
/// Members that must be in the archive; they end up directly in the destination directory.
pub const REQUIRED_MEMBERS: [&str; 7] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
    "batches.meta.txt",
];
/// Members unpacked when present.
pub const OPTIONAL_MEMBERS: [&str; 1] = ["readme.html"];

/// Largest member accepted (the real batches are 30,730,000 bytes): guards the disk against a hostile archive.
const MAX_MEMBER_SIZE: u64 = 256 * 1024 * 1024;
pub(crate) const HINT_NETWORK: &str = "check the network or pass --url to a mirror";

/// What the downloaded archive must match; `None` fields are not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub size: Option<u64>,
    /// Lowercase or uppercase hex.
    pub md5: Option<String>,
    /// Lowercase or uppercase hex.
    pub sha256: Option<String>,
}

impl Expected {
    /// Size, MD5 and SHA-256 of the official archive.
    pub fn official() -> Self {
        Self {
            size: Some(OFFICIAL_SIZE),
            md5: Some(OFFICIAL_MD5.to_string()),
            sha256: Some(OFFICIAL_SHA256.to_string()),
        }
    }

    /// Only a SHA-256 (hex), e.g. for a mirror or a repackaged archive.
    pub fn sha256(hex: impl Into<String>) -> Self {
        Self {
            size: None,
            md5: None,
            sha256: Some(hex.into()),
        }
    }
}

/// What to download, where to, and what it must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    pub url: String,
    /// Directory to create; the batch files are placed directly in it.
    pub dest: PathBuf,
    pub expected: Expected,
    /// Draw a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
}

/// Decides what to do with an archive member, from its path: `Ok(Some(name))` to unpack it as `name`, `Ok(None)` to skip
/// it, `Err(reason)` if the path is absolute or climbs out with `..` (the whole archive is then rejected).
pub fn member_target(path: &Path) -> Result<Option<&'static str>, String> {
    let mut normal = Vec::new();
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => return Err("is an absolute path".into()),
            Component::ParentDir => return Err("contains `..`".into()),
            Component::CurDir => {}
            Component::Normal(n) => normal.push(n),
        }
    }
    // `Path::components` drops inner `.` only; a literal ".." inside a name such as "a/../b" is caught above, and a
    // Windows-style separator in a Unix name is just part of a name that matches nothing.
    match normal.as_slice() {
        [dir, name] if *dir == MEMBER_DIR => Ok(REQUIRED_MEMBERS.iter().chain(&OPTIONAL_MEMBERS).copied().find(|m| *name == *m)),
        _ => Ok(None),
    }
}

fn check_hex(algo: &'static str, value: &Option<String>, len: usize) -> Result<Option<String>, DownloadError> {
    let Some(v) = value else { return Ok(None) };
    let v = v.trim().to_ascii_lowercase();
    if v.len() != len || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DownloadError::BadChecksum {
            algo,
            value: value.clone().unwrap_or_default(),
            len,
        });
    }
    Ok(Some(v))
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn progress_bar(enabled: bool, len: Option<u64>) -> ProgressBar {
    if !enabled || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match len {
        Some(n) => {
            let bar = ProgressBar::new(n);
            if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}") {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        }
        None => {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}") {
                bar.set_style(style);
            }
            bar
        }
    }
}

/// Downloads the CIFAR-10 binary archive from `opts.url`, checks it against `opts.expected`, and unpacks its batch files
/// directly into the new directory `opts.dest` (readable by `sweep_core::data::load`). Returns `dest`.
///
/// If `dest` already holds `data_batch_1.bin`, returns at once without any request. On failure nothing is left behind.
pub fn fetch_cifar10(opts: &FetchOptions) -> Result<PathBuf, DownloadError> {
    let dest = &opts.dest;
    if dest.join(REQUIRED_MEMBERS[0]).is_file() {
        tracing::info!(dest = %dest.display(), "CIFAR-10 already present; not downloading");
        return Ok(dest.clone());
    }
    if dest.exists() || dest.is_symlink() {
        return Err(DownloadError::DestExists { path: dest.clone() });
    }
    let want_sha = check_hex("SHA-256", &opts.expected.sha256, 64)?;
    let want_md5 = check_hex("MD5", &opts.expected.md5, 32)?;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io_at(&parent))?;

    let mut archive = tempfile::Builder::new()
        .prefix(".cifar10-download-")
        .suffix(".tar.gz.part")
        .tempfile_in(&parent)
        .map_err(io_at(&parent))?;
    let archive_path = archive.path().to_path_buf();
    download(opts, archive.as_file_mut(), &archive_path, want_sha.as_deref(), want_md5.as_deref())?;
    archive.as_file_mut().rewind().map_err(io_at(archive.path()))?;

    let unpack = tempfile::Builder::new()
        .prefix(".cifar10-unpack-")
        .tempdir_in(&parent)
        .map_err(io_at(&parent))?;
    unpack_members(&opts.url, archive.as_file_mut(), unpack.path())?;
    drop(archive);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // TempDir is created private (0700); the data directory is ordinary data.
        fs::set_permissions(unpack.path(), fs::Permissions::from_mode(0o755)).map_err(io_at(unpack.path()))?;
    }
    if dest.exists() || dest.is_symlink() {
        return Err(DownloadError::DestExists { path: dest.clone() });
    }
    fs::rename(unpack.path(), dest).map_err(io_at(dest))?;
    // The directory now lives at `dest`; dropping the TempDir only fails to remove the old (now absent) path.
    drop(unpack);
    tracing::info!(dest = %dest.display(), "CIFAR-10 unpacked");
    Ok(dest.clone())
}

/// Streams `opts.url` into `out`, hashing it, and checks length, size and checksums.
fn download(
    opts: &FetchOptions,
    out: &mut File,
    out_path: &Path,
    want_sha: Option<&str>,
    want_md5: Option<&str>,
) -> Result<(), DownloadError> {
    let url = &opts.url;
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .timeout_write(Duration::from_secs(60))
        .user_agent(concat!("sweep/", env!("CARGO_PKG_VERSION")))
        .build();
    tracing::info!(%url, "downloading CIFAR-10");
    let resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(status, r) => DownloadError::Status {
            url: url.clone(),
            status,
            status_text: r.status_text().to_string(),
        },
        ureq::Error::Transport(t) => DownloadError::Request {
            url: url.clone(),
            reason: t.to_string(),
        },
    })?;
    // With a Content-Encoding the length counts encoded bytes, not what the reader yields.
    let encoded = resp
        .header("Content-Encoding")
        .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
    let content_length = if encoded {
        None
    } else {
        resp.header("Content-Length").and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let (Some(want), Some(len)) = (opts.expected.size, content_length) {
        if want != len {
            return Err(DownloadError::Size {
                url: url.clone(),
                expected: want,
                got: len,
            });
        }
    }

    let bar = progress_bar(opts.progress, content_length.or(opts.expected.size));
    bar.set_message("CIFAR-10");
    let mut reader = resp.into_reader();
    let mut writer = BufWriter::with_capacity(1 << 20, out);
    let (mut sha, mut md5) = (Sha256::new(), Md5::new());
    let mut buf = vec![0u8; 1 << 16];
    let mut got: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && content_length.is_some() => {
                bar.abandon();
                return Err(DownloadError::Truncated {
                    url: url.clone(),
                    got,
                    expected: content_length.unwrap_or_default(),
                });
            }
            Err(source) => {
                bar.abandon();
                return Err(DownloadError::Read {
                    url: url.clone(),
                    got,
                    source,
                });
            }
        };
        sha.update(&buf[..n]);
        md5.update(&buf[..n]);
        writer.write_all(&buf[..n]).map_err(io_at(out_path))?;
        got += n as u64;
        bar.inc(n as u64);
    }
    writer.flush().map_err(io_at(out_path))?;
    bar.finish_and_clear();

    if let Some(len) = content_length {
        if got < len {
            return Err(DownloadError::Truncated {
                url: url.clone(),
                got,
                expected: len,
            });
        }
    }
    if let Some(want) = opts.expected.size {
        if got != want {
            return Err(DownloadError::Size {
                url: url.clone(),
                expected: want,
                got,
            });
        }
    }
    let checks = [("SHA-256", want_sha, hex(&sha.finalize())), ("MD5", want_md5, hex(&md5.finalize()))];
    for (algo, want, got) in checks {
        if let Some(want) = want {
            if want != got {
                return Err(DownloadError::Checksum {
                    url: url.clone(),
                    algo,
                    expected: want.to_string(),
                    got,
                });
            }
        }
    }
    tracing::debug!(%url, bytes = got, "download verified");
    Ok(())
}

/// Unpacks the expected members of the .tar.gz in `file` into `dir` (flat), rejecting unsafe paths.
fn unpack_members(url: &str, file: &mut File, dir: &Path) -> Result<(), DownloadError> {
    let bad = |source: io::Error| DownloadError::Archive {
        url: url.to_string(),
        source,
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(file)));
    let mut seen: HashSet<&'static str> = HashSet::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let unsafe_member = |reason: String| DownloadError::UnsafeMember {
            url: url.to_string(),
            member: raw.clone(),
            reason,
        };
        let path = entry.path().map_err(|e| unsafe_member(format!("has an unreadable path: {e}")))?;
        let Some(name) = member_target(&path).map_err(unsafe_member)? else {
            tracing::debug!(member = %raw, "skipping archive member");
            continue;
        };
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            return Err(unsafe_member(format!("is a {kind:?} entry, not a regular file")));
        }
        if !seen.insert(name) {
            return Err(unsafe_member("appears more than once".into()));
        }
        let size = entry.size();
        if size > MAX_MEMBER_SIZE {
            return Err(unsafe_member(format!("is {size} bytes, more than the {MAX_MEMBER_SIZE} allowed")));
        }
        let target = dir.join(name);
        let out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(io_at(&target))?;
        let mut out = BufWriter::new(out);
        let copied = io::copy(&mut (&mut entry).take(MAX_MEMBER_SIZE + 1), &mut out).map_err(bad)?;
        if copied != size {
            return Err(bad(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("member {raw} holds {copied} bytes, its header says {size}"),
            )));
        }
        out.flush().map_err(io_at(&target))?;
    }
    let missing: Vec<String> = REQUIRED_MEMBERS
        .iter()
        .filter(|m| !seen.contains(*m))
        .map(|m| m.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(DownloadError::MissingMembers {
            url: url.to_string(),
            missing,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(p: &str) -> Result<Option<&'static str>, String> {
        member_target(Path::new(p))
    }

    #[test]
    fn expected_members_are_unpacked_flat() {
        for name in REQUIRED_MEMBERS.iter().chain(&OPTIONAL_MEMBERS) {
            assert_eq!(target(&format!("cifar-10-batches-bin/{name}")), Ok(Some(*name)));
            assert_eq!(target(&format!("./cifar-10-batches-bin/{name}")), Ok(Some(*name)));
        }
    }

    #[test]
    fn absolute_paths_are_rejected() {
        assert!(target("/cifar-10-batches-bin/data_batch_1.bin").is_err());
        assert!(target("/etc/passwd").is_err());
        assert!(target("/").is_err());
    }

    #[test]
    fn parent_components_are_rejected() {
        for p in [
            "../data_batch_1.bin",
            "cifar-10-batches-bin/../data_batch_1.bin",
            "cifar-10-batches-bin/../../evil",
            "cifar-10-batches-bin/../cifar-10-batches-bin/data_batch_1.bin",
            "..",
        ] {
            let err = target(p).unwrap_err();
            assert!(err.contains(".."), "{p}: {err}");
        }
    }

    #[test]
    fn unexpected_names_are_skipped() {
        for p in [
            "cifar-10-batches-bin/",
            "cifar-10-batches-bin",
            "data_batch_1.bin",
            "cifar-10-batches-bin/data_batch_6.bin",
            "cifar-10-batches-bin/evil.sh",
            "cifar-10-batches-bin/sub/data_batch_1.bin",
            "other/data_batch_1.bin",
            "cifar-10-batches-bin/DATA_BATCH_1.BIN",
            "cifar-10-batches-bin\\data_batch_1.bin",
            "",
        ] {
            assert_eq!(target(p), Ok(None), "{p}");
        }
    }

    #[test]
    fn checksums_are_validated_and_normalised() {
        let up = Some(OFFICIAL_SHA256.to_uppercase());
        assert_eq!(check_hex("SHA-256", &up, 64).unwrap().as_deref(), Some(OFFICIAL_SHA256));
        assert!(check_hex("SHA-256", &Some("abc".into()), 64).is_err());
        assert!(check_hex("MD5", &Some("z".repeat(32)), 32).is_err());
        assert_eq!(check_hex("MD5", &None, 32).unwrap(), None);
    }

    #[test]
    fn official_expectation() {
        let e = Expected::official();
        assert_eq!(e.size, Some(OFFICIAL_SIZE));
        assert_eq!(e.md5.as_deref(), Some(OFFICIAL_MD5));
        assert_eq!(Expected::sha256("ab").sha256.as_deref(), Some("ab"));
        assert_eq!(Expected::sha256("ab").size, None);
    }
}

/// Where an archive comes from (`--url`, `--sha256`; shared by `sweep data fetch` and `sweep run --download`).
#[derive(Debug, Clone)]
pub struct Source {
    pub url: String,
    /// Expected SHA-256 of the archive at `url` (`None`: the official archive's size and checksums).
    pub sha256: Option<String>,
}

impl Source {
    /// Download options into `dest`: the given SHA-256, or else the official archive's size and checksums (a mirror
    /// given with --url serves the same file).
    pub fn options(&self, dest: std::path::PathBuf) -> FetchOptions {
        FetchOptions {
            url: self.url.clone(),
            dest,
            expected: self
                .sha256
                .as_ref()
                .map_or_else(Expected::official, |s| Expected::sha256(s.clone())),
            progress: crate::run::stderr_is_terminal(),
        }
    }
}
