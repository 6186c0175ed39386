//! Claims under races: threads, processes and takeovers.

use super::*;
use std::collections::HashSet;
use std::time::Instant;

fn owner(shard: Option<&str>) -> Owner {
    Owner::current(shard.map(String::from))
}

fn held_by(a: Attempt) -> ClaimRecord {
    match a {
        Attempt::Held(r) => r,
        other => panic!("expected Held, got {other:?}"),
    }
}

/// Makes a claim file look as if its owner stopped refreshing it `age` ago.
fn age(path: &Path, age: Duration) {
    let f = OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

/// Simulates a crashed owner: stop its heartbeat without releasing (the claim file stays `running`).
fn crash(claims: Claims, claim: Claim) {
    std::mem::forget(claim);
    drop(claims);
}

#[test]
fn one_of_two_claimers_wins() {
    let dir = tempfile::tempdir().unwrap();
    let a = Claims::open(dir.path(), owner(None), DEFAULT_LEASE).unwrap();
    let b = Claims::open(dir.path(), owner(None), DEFAULT_LEASE).unwrap();
    let won = a.try_claim("0123456789ab").unwrap().won().expect("first claim wins");
    assert_eq!((won.id(), won.generation()), ("0123456789ab", 0));
    assert!(won.path().ends_with("claims/0123456789ab.0"));
    let r = held_by(b.try_claim("0123456789ab").unwrap());
    assert_eq!(r.owner, *a.owner());
    assert_eq!(r.state, ClaimState::Running);
    // The holder itself does not win again either.
    assert!(matches!(a.try_claim("0123456789ab").unwrap(), Attempt::Held(_)));
    assert!(!won.is_lost());
}

#[test]
fn released_is_done_for_everyone_and_abandoned_is_free() {
    let dir = tempfile::tempdir().unwrap();
    let a = Claims::open(dir.path(), owner(None), DEFAULT_LEASE).unwrap();
    let b = Claims::open(dir.path(), owner(None), DEFAULT_LEASE).unwrap();
    let c = a.try_claim("job1").unwrap().won().unwrap();
    a.release(c).unwrap();
    assert!(matches!(b.try_claim("job1").unwrap(), Attempt::Done(r) if r.owner == *a.owner()));
    assert!(b.is_done("job1").unwrap());
    assert!(!b.is_done("job2").unwrap());
    assert_eq!(b.current("job2").unwrap(), None);

    let c = a.try_claim("job2").unwrap().won().unwrap();
    a.abandon(c).unwrap();
    let c = b.try_claim("job2").unwrap().won().expect("an abandoned claim is free at once");
    assert_eq!(c.generation(), 1);
    assert_eq!(c.took_over().unwrap().state, ClaimState::Released);
    // Dropping a claim abandons it too.
    drop(c);
    let c = a.try_claim("job2").unwrap().won().unwrap();
    assert_eq!(c.generation(), 2);
    assert_eq!(a.current("job2").unwrap().unwrap().owner, *a.owner());
}

#[test]
fn stale_claim_is_taken_over_after_the_lease() {
    let dir = tempfile::tempdir().unwrap();
    let lease = Duration::from_millis(300);
    let a = Claims::open(dir.path(), owner(None), lease).unwrap();
    let claim = a.try_claim("job").unwrap().won().unwrap();
    let a_owner = a.owner().clone();
    crash(a, claim);
    let b = Claims::open(dir.path(), owner(None), lease).unwrap();
    // Same machine and pid, which is alive: only the lease lets b in.
    assert!(matches!(b.try_claim("job").unwrap(), Attempt::Held(_)));
    std::thread::sleep(lease + Duration::from_millis(100));
    let c = b.try_claim("job").unwrap().won().expect("stale after the lease");
    assert_eq!(c.generation(), 1);
    assert_eq!(c.took_over().unwrap().owner, a_owner);
    let third = Claims::open(dir.path(), owner(None), lease).unwrap();
    assert_eq!(held_by(third.try_claim("job").unwrap()).owner, *b.owner());
}

#[test]
fn live_heartbeat_prevents_takeover() {
    let dir = tempfile::tempdir().unwrap();
    // Generous against a loaded machine: a 100 ms heartbeat must stall for 600 ms to lose the claim.
    let lease = Duration::from_millis(600);
    let a = Claims::open(dir.path(), owner(None), lease).unwrap();
    let b = Claims::open(dir.path(), owner(None), lease).unwrap();
    let claim = a.try_claim("job").unwrap().won().unwrap();
    let start = Instant::now();
    while start.elapsed() < lease * 3 {
        assert_eq!(
            held_by(b.try_claim("job").unwrap()).owner,
            *a.owner(),
            "after {:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!claim.is_lost());
    // Once the heartbeat stops, the claim goes stale.
    crash(a, claim);
    std::thread::sleep(lease + Duration::from_millis(100));
    assert!(b.try_claim("job").unwrap().won().is_some());
}

#[test]
fn same_shard_restart_takes_its_claims_back_at_once_and_the_old_owner_learns_it() {
    let dir = tempfile::tempdir().unwrap();
    let old = Claims::open(dir.path(), owner(Some("slurm 77 shard 1/4")), DEFAULT_LEASE).unwrap();
    let old_claim = old.try_claim("job").unwrap().won().unwrap();
    let other = Claims::open(dir.path(), owner(Some("slurm 77 shard 2/4")), DEFAULT_LEASE).unwrap();
    assert!(matches!(other.try_claim("job").unwrap(), Attempt::Held(_)));
    let restarted =
        Claims::open_with_heartbeat(dir.path(), owner(Some("slurm 77 shard 1/4")), DEFAULT_LEASE, Duration::from_secs(6)).unwrap();
    let c = restarted
        .try_claim("job")
        .unwrap()
        .won()
        .expect("same shard identity: reclaimable at once");
    assert_eq!(c.generation(), 1);
    // The old owner's heartbeat (every 6 s by default here, so call it directly) marks its claim lost.
    old.inner.beat();
    assert!(old_claim.is_lost());
    // Releasing a lost claim does not touch the new owner's generation.
    old.abandon(old_claim).unwrap();
    assert_eq!(held_by(other.try_claim("job").unwrap()).owner, *restarted.owner());
}

#[test]
fn claim_of_an_exited_process_on_this_machine_is_taken_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let mut dead = owner(None);
    dead.pid = dead_pid;
    let ghost = Claims::open(dir.path(), dead.clone(), DEFAULT_LEASE).unwrap();
    let claim = ghost.try_claim("job").unwrap().won().unwrap();
    crash(ghost, claim);
    let b = Claims::open(dir.path(), owner(None), DEFAULT_LEASE).unwrap();
    let c = b.try_claim("job").unwrap().won();
    if dead.machine.is_some() {
        assert_eq!(c.expect("pid exited: reclaimable").took_over().unwrap().owner.pid, dead_pid);
    }
    // Another machine's claim with the same pid is not (the lease applies).
    let mut far = owner(None);
    far.pid = dead_pid;
    far.machine = Some("another boot".into());
    let f = Claims::open(dir.path(), far, DEFAULT_LEASE).unwrap();
    let claim = f.try_claim("job2").unwrap().won().unwrap();
    crash(f, claim);
    assert!(matches!(b.try_claim("job2").unwrap(), Attempt::Held(_)));
}

#[test]
fn unreadable_claim_goes_stale_after_the_lease() {
    let dir = tempfile::tempdir().unwrap();
    let lease = Duration::from_millis(200);
    let b = Claims::open(dir.path(), owner(None), lease).unwrap();
    let p = dir.path().join(CLAIMS_DIR).join("job.0");
    fs::write(&p, b"").unwrap();
    assert_eq!(held_by(b.try_claim("job").unwrap()).owner.host, "?");
    age(&p, lease * 2);
    assert_eq!(b.try_claim("job").unwrap().won().unwrap().generation(), 1);
}

#[test]
fn bad_ids_and_leases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = Claims::open(dir.path(), owner(None), DEFAULT_LEASE).unwrap();
    for id in ["", "a.b", "../x", "a/b", "x y"] {
        let e = a.try_claim(id).unwrap_err();
        assert!(matches!(e, ClaimError::BadId { .. }), "{id}: {e}");
    }
    let e = Claims::open(dir.path(), owner(None), Duration::from_millis(1)).unwrap_err();
    assert!(e.to_string().contains("at least 50ms"), "{e}");
    let file = dir.path().join("not-a-dir");
    fs::write(&file, "").unwrap();
    let e = Claims::open(&file, owner(None), DEFAULT_LEASE).unwrap_err();
    assert!(e.to_string().contains("not-a-dir/claims"), "{e}");
}

/// Many claimers race over the same ids: each id is won exactly once, first claims and takeovers alike.
fn race(pre_stale: bool) {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..200).map(|i| format!("{i:012x}")).collect();
    if pre_stale {
        // Every job claimed by a crashed owner long ago.
        let ghost = Claims::open(dir.path(), owner(None), DEFAULT_LEASE).unwrap();
        for id in &ids {
            std::mem::forget(ghost.try_claim(id).unwrap().won().unwrap());
        }
        drop(ghost);
        for id in &ids {
            age(&dir.path().join(CLAIMS_DIR).join(format!("{id}.0")), DEFAULT_LEASE * 2);
        }
    }
    let threads = 8;
    let won: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (dir, ids) = (dir.path(), &ids);
                s.spawn(move || {
                    let claims = Claims::open(dir, owner(None), DEFAULT_LEASE).unwrap();
                    let mut mine = Vec::new();
                    // Each thread walks the ids from a different start, so they collide everywhere.
                    for k in 0..ids.len() {
                        let id = &ids[(k * 7 + t * 25) % ids.len()];
                        if let Some(c) = claims.try_claim(id).unwrap().won() {
                            mine.push(c.id().to_string());
                            std::mem::forget(c); // keep it held
                        }
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<&String> = won.iter().flatten().collect();
    let unique: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        ids.len(),
        "some id was won twice or never: per thread {:?}",
        won.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert_eq!(unique.len(), ids.len());
}

#[test]
fn racing_threads_win_each_id_exactly_once() {
    race(false);
}

#[test]
fn racing_takeovers_win_each_stale_id_exactly_once() {
    race(true);
}

const CHILD_DIR: &str = "SWEEP_CLAIMS_TEST_CHILD_DIR";

/// Not a test on its own (ignored, so it never passes for nothing): the body of the processes that
/// `racing_processes_win_each_id_exactly_once` starts with `--ignored`.
#[test]
#[ignore = "the child process of racing_processes_win_each_id_exactly_once"]
fn child_claimer() {
    let dir = std::env::var_os(CHILD_DIR).expect("started by racing_processes_win_each_id_exactly_once");
    let dir = PathBuf::from(dir);
    let claims = Claims::open(&dir, owner(None), DEFAULT_LEASE).unwrap();
    let mut won = String::new();
    let start = std::process::id() as usize;
    for k in 0..200 {
        let id = format!("{:012x}", (k + start) % 200);
        if let Some(c) = claims.try_claim(&id).unwrap().won() {
            won.push_str(&id);
            won.push('\n');
            claims.release(c).unwrap();
        }
    }
    fs::write(dir.join(format!("won-{}", std::process::id())), won).unwrap();
}

#[test]
fn racing_processes_win_each_id_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // The test's full name: the module path without the crate.
    let child = format!("{}::child_claimer", module_path!().split_once("::").unwrap().1);
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--ignored", "--exact", &child, "--test-threads=1", "-q"])
                .env(CHILD_DIR, dir.path())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut all = Vec::new();
    for mut c in children {
        let pid = c.id();
        assert!(c.wait().unwrap().success());
        let text = fs::read_to_string(dir.path().join(format!("won-{pid}"))).unwrap();
        all.extend(text.lines().map(String::from));
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (200, 200));
    // Each released claim is `done` for everyone.
    let check = Claims::open(dir.path(), owner(None), DEFAULT_LEASE).unwrap();
    assert!(all.iter().all(|id| check.is_done(id).unwrap()));
}
