//! Integration tests of `sweep_runner::download::fetch_cifar10` against a tiny local HTTP/1.1 server (this machine has no internet).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sweep_core::data::{load, write_binary_batch, DataSpec, RECORD};
use sweep_runner::download::{fetch_cifar10, DownloadError, Expected, FetchOptions};

const MEMBERS: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// Serves `responses` (raw bytes, one per connection, in order) then exits; returns the URL and the request lines seen.
/// Gives up waiting for a connection after 20 s so a failing test never hangs.
use crate::common;

fn serve(responses: Vec<Vec<u8>>) -> (String, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/cifar-10-binary.tar.gz", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for response in responses {
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                    Err(_) => return requests,
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            requests.push(first.trim_end().to_string());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" || line == "\n" {
                    break;
                }
            }
            // The client may close early (e.g. on a size mismatch); ignore write errors.
            let _ = stream.write_all(&response);
            let _ = stream.flush();
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        requests
    });
    (url, handle)
}

fn ok_response(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// A tar.gz of `cifar-10-batches-bin/{data_batch_1..5.bin,test_batch.bin,batches.meta.txt}` with 3 records each, plus
/// `extra` raw (name, data) entries whose names are written into the header unchecked.
fn archive(extra: &[(&[u8], &[u8])]) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let n = 3;
    for (b, name) in MEMBERS.iter().enumerate() {
        let labels: Vec<u8> = (0..n).map(|i| ((i + b) % 3) as u8).collect();
        let pixels: Vec<u8> = (0..n * (RECORD - 1)).map(|i| ((i * 7 + b * 13) % 256) as u8).collect();
        write_binary_batch(&tmp.path().join(name), &labels, &pixels).unwrap();
    }
    fs::write(tmp.path().join("batches.meta.txt"), "cat\ndog\nfrog\n").unwrap();

    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for name in MEMBERS.iter().chain(&["batches.meta.txt"]) {
        tar.append_path_with_name(tmp.path().join(name), format!("cifar-10-batches-bin/{name}"))
            .unwrap();
    }
    for (name, data) in extra {
        let mut header = tar::Header::new_old();
        let field = &mut header.as_old_mut().name;
        field[..name.len()].copy_from_slice(name);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append(&header, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn opts(url: &str, dest: &Path, expected: Expected) -> FetchOptions {
    FetchOptions {
        url: url.to_string(),
        dest: dest.to_path_buf(),
        expected,
        progress: false,
    }
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

#[test]
fn good_archive_is_unpacked_and_loads() {
    let body = archive(&[(b"cifar-10-batches-bin/readme.html", b"<html></html>")]);
    let (url, server) = serve(vec![ok_response(&body)]);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("new").join("cifar10");

    let got = fetch_cifar10(&opts(&url, &dest, Expected::sha256(sha256_hex(&body).to_uppercase()))).unwrap();
    assert_eq!(got, dest);
    let requests = server.join().unwrap();
    assert_eq!(requests, vec!["GET /cifar-10-binary.tar.gz HTTP/1.1".to_string()]);

    for name in MEMBERS.iter().chain(&["batches.meta.txt", "readme.html"]) {
        assert!(dest.join(name).is_file(), "{name} missing in {}", dest.display());
    }
    // Only the data directory is left in the parent: no temporary file or directory.
    assert_eq!(listing(&root.path().join("new")), vec![dest.clone()]);

    let data = load(
        &dest,
        &DataSpec {
            val_size: 2,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(data.y_train.len() + data.y_val.len(), 15);
    assert_eq!(data.y_val.len(), 2);
    assert_eq!(data.y_test.len(), 3);
    assert_eq!(data.class_names, ["cat", "dog", "frog"]);
}

#[test]
fn wrong_checksum_fails_and_leaves_nothing() {
    let body = archive(&[]);
    let (url, server) = serve(vec![ok_response(&body)]);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("cifar10");

    let err = fetch_cifar10(&opts(&url, &dest, Expected::sha256("0".repeat(64)))).unwrap_err();
    server.join().unwrap();
    assert!(matches!(err, DownloadError::Checksum { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("checksum"), "{msg}");
    assert!(
        msg.contains(&"0".repeat(64)) && msg.contains(&sha256_hex(&body)),
        "expected and got: {msg}"
    );
    assert!(msg.contains(&url), "{msg}");
    assert!(!dest.exists());
    assert_eq!(listing(root.path()), Vec::<PathBuf>::new());
}

#[test]
fn wrong_size_fails_before_reading_the_body() {
    let body = archive(&[]);
    let (url, server) = serve(vec![ok_response(&body)]);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("cifar10");
    let expected = Expected {
        size: Some(body.len() as u64 + 1),
        ..Default::default()
    };

    let err = fetch_cifar10(&opts(&url, &dest, expected)).unwrap_err();
    server.join().unwrap();
    assert!(matches!(err, DownloadError::Size { .. }), "{err:?}");
    assert_eq!(listing(root.path()), Vec::<PathBuf>::new());
}

#[test]
fn cut_off_download_fails_and_leaves_nothing() {
    let body = archive(&[]);
    let half = &body[..body.len() / 2];
    let mut response = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    response.extend_from_slice(half);
    let (url, server) = serve(vec![response]);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("cifar10");

    let err = fetch_cifar10(&opts(&url, &dest, Expected::sha256(sha256_hex(&body)))).unwrap_err();
    server.join().unwrap();
    assert!(matches!(err, DownloadError::Truncated { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("cut off") && msg.contains(&url), "{msg}");
    assert!(!dest.exists());
    assert_eq!(listing(root.path()), Vec::<PathBuf>::new());
}

#[test]
fn http_error_names_the_url() {
    let (url, server) = serve(vec![
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
    ]);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("cifar10");

    let err = fetch_cifar10(&opts(&url, &dest, Expected::default())).unwrap_err();
    server.join().unwrap();
    assert!(matches!(err, DownloadError::Status { status: 404, .. }), "{err:?}");
    assert!(err.to_string().contains(&url) && err.to_string().contains("--url"), "{err}");
    assert_eq!(listing(root.path()), Vec::<PathBuf>::new());
}

#[test]
fn path_traversal_member_is_rejected_and_nothing_escapes() {
    let extras: [&[u8]; 3] = [b"cifar-10-batches-bin/../../evil", b"../evil", b"/tmp/sweep-download-test-evil"];
    for evil in extras {
        let body = archive(&[(evil, b"pwned")]);
        let (url, server) = serve(vec![ok_response(&body)]);
        let root = tempfile::tempdir().unwrap();
        let sub = root.path().join("a").join("b");
        let dest = sub.join("cifar10");

        let result = fetch_cifar10(&opts(&url, &dest, Expected::sha256(sha256_hex(&body))));
        server.join().unwrap();
        let name = String::from_utf8_lossy(evil);
        let err = result.expect_err(&name);
        assert!(matches!(err, DownloadError::UnsafeMember { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains(&*name), "{err}");
        for dir in [root.path(), &root.path().join("a"), &sub] {
            assert!(!dir.join("evil").exists(), "{name}: evil written in {}", dir.display());
        }
        assert!(!Path::new("/tmp/sweep-download-test-evil").exists());
        assert!(!dest.exists());
        assert_eq!(listing(&sub), Vec::<PathBuf>::new(), "{name}");
    }
}

#[test]
fn archive_without_required_members_is_rejected() {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "cifar-10-batches-bin/data_batch_1.bin", &b"12345"[..])
        .unwrap();
    let body = tar.into_inner().unwrap().finish().unwrap();
    let (url, server) = serve(vec![ok_response(&body)]);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("cifar10");

    let err = fetch_cifar10(&opts(&url, &dest, Expected::default())).unwrap_err();
    server.join().unwrap();
    let DownloadError::MissingMembers { missing, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(missing.len(), 6, "{missing:?}");
    assert!(err.to_string().contains("test_batch.bin"), "{err}");
    assert_eq!(listing(root.path()), Vec::<PathBuf>::new());
}

#[test]
fn existing_data_is_kept_without_any_request() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/cifar-10-binary.tar.gz", listener.local_addr().unwrap());
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("cifar10");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("data_batch_1.bin"), b"existing").unwrap();

    let got = fetch_cifar10(&opts(&url, &dest, Expected::official())).unwrap();
    assert_eq!(got, dest);
    assert!(listener.accept().is_err(), "the server was contacted");
    assert_eq!(fs::read(dest.join("data_batch_1.bin")).unwrap(), b"existing");
    assert_eq!(listing(root.path()), vec![dest]);
}

#[test]
fn existing_unrelated_dest_is_refused_without_any_request() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/cifar-10-binary.tar.gz", listener.local_addr().unwrap());
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("cifar10");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("notes.txt"), b"mine").unwrap();

    let err = fetch_cifar10(&opts(&url, &dest, Expected::official())).unwrap_err();
    assert!(matches!(err, DownloadError::DestExists { .. }), "{err:?}");
    assert!(listener.accept().is_err(), "the server was contacted");
    assert_eq!(fs::read(dest.join("notes.txt")).unwrap(), b"mine");
}

/// The same download through the binary: `sweep run --download` fetches into the grid's data path, then sweeps it;
/// without `--download` the error says exactly that command.
#[test]
fn sweep_run_download_fetches_from_a_local_server_then_runs() {
    let body = archive(&[]);
    let (url, server) = serve(vec![ok_response(&body)]);
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("g.toml"),
        "name = \"dl\"\n[data]\npath = \"data/cifar-10-batches-bin\"\nval_size = 2\n[train]\nepochs = 1\nbatch_size = 4\nhidden_size = 4\n",
    )
    .unwrap();
    let sweep = || common::sweep();
    sweep()
        .current_dir(tmp.path())
        .args(["run", "g.toml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("sweep run g.toml --download"));
    assert!(!tmp.path().join("data").exists() && !tmp.path().join("results").exists());
    sweep()
        .current_dir(tmp.path())
        .args(["run", "g.toml", "--download", "--url", &url, "--sha256", &sha256_hex(&body)])
        .assert()
        .success();
    assert!(tmp.path().join("data/cifar-10-batches-bin/data_batch_5.bin").is_file());
    assert_eq!(
        fs::read_to_string(tmp.path().join("results/dl/results.csv"))
            .unwrap()
            .lines()
            .count(),
        2
    );
    assert_eq!(server.join().unwrap().len(), 1);
}
