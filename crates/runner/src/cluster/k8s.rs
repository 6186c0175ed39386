//! Kubernetes: an Indexed Job running a sweep as N pods (one shard each, `--shard auto` from the pod's
//! `JOB_COMPLETION_INDEX`), and a one-pod Job running `sweep finish` afterwards, both writing to one results
//! directory on a PersistentVolumeClaim.
//!
//! The manifests are written as JSON: built as `serde_json::Value`s, so every string is quoted correctly whatever
//! it holds (YAML written by hand gets `on`, `0755`, `: ` and the like wrong), and JSON is YAML 1.2, so `kubectl
//! apply -f sweep-job.yaml` takes the file under either name (the tests read it back with a YAML parser).
//!
//! Kubernetes has no dependency between Jobs; run the finishing Job once the Indexed Job is complete:
//!
//! ```text
//! kubectl apply -f sweep-job.json
//! kubectl wait --for=condition=complete --timeout=-1s job/NAME
//! kubectl apply -f sweep-finish.json
//! ```
//!
//! Needs Kubernetes 1.28+ for `backoffLimitPerIndex` (beta, on by default from 1.29). Pods of one sweep may run on
//! different nodes, so the claim must be `ReadWriteMany` (NFS, CephFS, EFS, Filestore, …); the jobs' claims
//! ([`sweep_results::claims`]) keep two pods from running the same job.

pub use crate::error::K8sError;
use serde_json::{json, Value};

/// What to run and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sOptions {
    /// Job name (a DNS label: lowercase letters, digits, `-`; at most 56 characters, so that `<name>-finish` fits
    /// the 63-character limit).
    pub name: String,
    pub namespace: Option<String>,
    /// Completions = shards (N).
    pub tasks: usize,
    /// Pods at once; all N when `None`.
    pub parallelism: Option<usize>,
    /// Retries of each index before it counts as failed (each index is retried on its own).
    pub backoff_limit_per_index: u32,
    pub image: String,
    /// The `sweep` command in the image.
    pub sweep_exe: String,
    /// PersistentVolumeClaim holding the results (ReadWriteMany).
    pub pvc: String,
    /// Where the claim is mounted in the containers.
    pub results_mount: String,
    /// The sweep's results directory (`--out`), normally under `results_mount`.
    pub out: String,
    /// The grid file, as seen inside the container (in the image, or on the claim).
    pub grid_path: String,
    /// `--data`, as seen inside the container, when the grid's data path does not hold there.
    pub data_path: Option<String>,
    /// CPU request and limit (e.g. `"4"`); a whole number also sets `--workers`.
    pub cpu: Option<String>,
    /// Memory request and limit (e.g. `"8Gi"`).
    pub memory: Option<String>,
    /// GPUs per pod of the Indexed Job (`nvidia.com/gpu` in its limits), for a command sweep whose trials get
    /// devices; the finishing Job gets none.
    pub gpus: Option<usize>,
    /// Seconds a deleted or preempted pod gets between SIGTERM and SIGKILL to stop its jobs cleanly.
    pub termination_grace_seconds: u32,
    /// Delete finished Jobs (and their pods) this long after they end; kept when `None`.
    pub ttl_seconds_after_finished: Option<u32>,
}

impl Default for K8sOptions {
    fn default() -> Self {
        K8sOptions {
            name: "sweep".into(),
            namespace: None,
            tasks: 1,
            parallelism: None,
            backoff_limit_per_index: 3,
            image: String::new(),
            sweep_exe: "sweep".into(),
            pvc: String::new(),
            results_mount: "/results".into(),
            out: "/results/sweep".into(),
            grid_path: String::new(),
            data_path: None,
            cpu: None,
            memory: None,
            gpus: None,
            termination_grace_seconds: 60,
            ttl_seconds_after_finished: None,
        }
    }
}

const MAX_NAME: usize = 63 - "-finish".len();

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn check(opts: &K8sOptions) -> Result<(), K8sError> {
    if !dns_label(&opts.name) || opts.name.len() > MAX_NAME {
        return Err(K8sError(format!(
            "Job name {:?}: use at most {MAX_NAME} lowercase letters, digits and `-`, starting and ending with a letter \
             or digit (e.g. {:?})",
            opts.name,
            suggest_name(&opts.name)
        )));
    }
    if let Some(ns) = &opts.namespace {
        if !dns_label(ns) {
            return Err(K8sError(format!(
                "namespace {ns:?} is not a DNS label (lowercase letters, digits and `-`)"
            )));
        }
    }
    if opts.tasks == 0 {
        return Err(K8sError("tasks 0: an Indexed Job needs at least 1 completion".into()));
    }
    if opts.parallelism == Some(0) {
        return Err(K8sError(
            "parallelism 0 would start no pod; give at least 1, or leave it out for all tasks at once".into(),
        ));
    }
    for (what, v) in [
        ("image", &opts.image),
        ("pvc (the PersistentVolumeClaim holding the results)", &opts.pvc),
        ("grid_path", &opts.grid_path),
        ("out", &opts.out),
    ] {
        if v.trim().is_empty() {
            return Err(K8sError(format!("{what} is empty; the Job cannot run without it")));
        }
    }
    if !opts.results_mount.starts_with('/') {
        return Err(K8sError(format!(
            "results_mount {:?} must be an absolute path (e.g. /results)",
            opts.results_mount
        )));
    }
    if !std::path::Path::new(&opts.out).starts_with(&opts.results_mount) {
        return Err(K8sError(format!(
            "out {:?} is not under the claim's mount {:?}: results written there would be lost with the pod",
            opts.out, opts.results_mount
        )));
    }
    Ok(())
}

fn suggest_name(s: &str) -> String {
    let mut n: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    n.truncate(MAX_NAME);
    let n = n.trim_matches('-');
    if n.is_empty() {
        "sweep".into()
    } else {
        n.to_string()
    }
}

fn metadata(opts: &K8sOptions, name: &str, component: &str) -> Value {
    let mut m = json!({
        "name": name,
        "labels": {
            "app.kubernetes.io/name": "sweep",
            "app.kubernetes.io/instance": opts.name,
            "app.kubernetes.io/component": component,
        },
    });
    if let Some(ns) = &opts.namespace {
        m["namespace"] = json!(ns);
    }
    m
}

/// CPU and memory as requests and limits; GPUs (`nvidia.com/gpu`, an extended resource: its request is its limit)
/// in the limits only.
fn resources(opts: &K8sOptions, gpus: Option<usize>) -> Value {
    let mut r = serde_json::Map::new();
    if let Some(c) = &opts.cpu {
        r.insert("cpu".into(), json!(c));
    }
    if let Some(m) = &opts.memory {
        r.insert("memory".into(), json!(m));
    }
    let mut limits = r.clone();
    if let Some(g) = gpus {
        limits.insert("nvidia.com/gpu".into(), json!(g.to_string()));
    }
    let mut out = serde_json::Map::new();
    if !r.is_empty() {
        out.insert("requests".into(), Value::Object(r));
    }
    if !limits.is_empty() {
        out.insert("limits".into(), Value::Object(limits));
    }
    Value::Object(out)
}

/// The pod template shared by both Jobs.
fn pod(opts: &K8sOptions, component: &str, container: &str, args: Vec<String>, env: Value) -> Value {
    json!({
        "metadata": { "labels": { "app.kubernetes.io/name": "sweep", "app.kubernetes.io/instance": opts.name, "app.kubernetes.io/component": component } },
        "spec": {
            // Each index is retried by the Job controller (backoffLimitPerIndex requires Never).
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": opts.termination_grace_seconds,
            "containers": [{
                "name": container,
                "image": opts.image,
                "command": [opts.sweep_exe],
                "args": args,
                "env": env,
                // Only the shards run trials: the finishing Job needs no GPU.
                "resources": resources(opts, opts.gpus.filter(|_| component == "shard")),
                "volumeMounts": [{ "name": "results", "mountPath": opts.results_mount }],
            }],
            "volumes": [{ "name": "results", "persistentVolumeClaim": { "claimName": opts.pvc } }],
        },
    })
}

fn data_args(opts: &K8sOptions, args: &mut Vec<String>) {
    if let Some(d) = &opts.data_path {
        args.extend(["--data".to_string(), d.clone()]);
    }
}

fn job(opts: &K8sOptions, name: &str, component: &str, spec: Value) -> Value {
    let mut spec = spec;
    if let Some(ttl) = opts.ttl_seconds_after_finished {
        spec["ttlSecondsAfterFinished"] = json!(ttl);
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(opts, name, component),
        "spec": spec,
    })
}

/// The Indexed Job as a JSON manifest (valid YAML): pod `i` runs `sweep run GRID --out OUT --shard auto` as shard
/// `i` of `tasks`.
pub fn indexed_job(opts: &K8sOptions) -> Result<String, K8sError> {
    check(opts)?;
    let mut args = vec!["run".to_string(), opts.grid_path.clone(), "--out".into(), opts.out.clone()];
    data_args(opts, &mut args);
    args.extend(["--shard".to_string(), "auto".into()]);
    if let Some(w) = opts.cpu.as_deref().and_then(|c| c.trim().parse::<usize>().ok()).filter(|&w| w > 0) {
        args.extend(["--workers".to_string(), w.to_string()]);
    }
    // JOB_COMPLETION_INDEX is set by Kubernetes; the count and the Job's name (for the shard identity that lets a
    // retried pod take back its index's claims at once) are given here.
    let env = json!([
        { "name": crate::cluster::shard::SHARD_COUNT_ENV, "value": opts.tasks.to_string() },
        { "name": crate::cluster::shard::JOB_NAME_ENV, "valueFrom": { "fieldRef": { "fieldPath": "metadata.labels['batch.kubernetes.io/job-name']" } } },
    ]);
    let spec = json!({
        "completionMode": "Indexed",
        "completions": opts.tasks,
        "parallelism": opts.parallelism.unwrap_or(opts.tasks).min(opts.tasks),
        "backoffLimitPerIndex": opts.backoff_limit_per_index,
        // A pod evicted or preempted (it stops its jobs on SIGTERM, unrecorded) is retried without using up the
        // index's retries; only real failures count.
        "podFailurePolicy": { "rules": [{ "action": "Ignore", "onPodConditions": [{ "type": "DisruptionTarget" }] }] },
        "template": pod(opts, "shard", "sweep", args, env),
    });
    Ok(to_text(&job(opts, &opts.name, "shard", spec)))
}

/// The finishing Job (`<name>-finish`): `sweep finish OUT` evaluates the overall best on the test split and
/// writes the report. Apply it once the Indexed Job is complete (see the module docs).
pub fn finish_job(opts: &K8sOptions) -> Result<String, K8sError> {
    check(opts)?;
    let mut args = vec!["finish".to_string(), opts.out.clone()];
    data_args(opts, &mut args);
    let spec = json!({
        "completions": 1,
        "parallelism": 1,
        "backoffLimit": opts.backoff_limit_per_index,
        "template": pod(opts, "finish", "sweep-finish", args, json!([])),
    });
    Ok(to_text(&job(opts, &format!("{}-finish", opts.name), "finish", spec)))
}

fn to_text(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("manifests serialize");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> K8sOptions {
        K8sOptions {
            name: "cifar-sweep".into(),
            namespace: Some("ml".into()),
            tasks: 8,
            parallelism: Some(4),
            backoff_limit_per_index: 2,
            image: "registry.example/sweep:1.0".into(),
            pvc: "sweep-results".into(),
            results_mount: "/results".into(),
            out: "/results/cifar".into(),
            grid_path: "/results/grids/cifar.toml".into(),
            data_path: Some("/results/data/cifar-10-batches-bin".into()),
            cpu: Some("4".into()),
            memory: Some("8Gi".into()),
            ttl_seconds_after_finished: Some(86400),
            ..K8sOptions::default()
        }
    }

    #[test]
    fn gpus_go_in_the_shards_limits_only() {
        let with = K8sOptions { gpus: Some(2), ..opts() };
        let j = yaml(&indexed_job(&with).unwrap());
        let r = &j["spec"]["template"]["spec"]["containers"][0]["resources"];
        assert_eq!(s(&r["limits"]["nvidia.com/gpu"]), "2");
        assert_eq!(s(&r["limits"]["cpu"]), "4");
        assert!(
            r["requests"].get("nvidia.com/gpu").is_none(),
            "an extended resource's request is its limit"
        );
        let f = yaml(&finish_job(&with).unwrap());
        let r = &f["spec"]["template"]["spec"]["containers"][0]["resources"];
        assert!(r["limits"].get("nvidia.com/gpu").is_none(), "the finishing Job runs no trial");
        let only = K8sOptions {
            gpus: Some(1),
            cpu: None,
            memory: None,
            ..opts()
        };
        let j = yaml(&indexed_job(&only).unwrap());
        let r = &j["spec"]["template"]["spec"]["containers"][0]["resources"];
        assert_eq!(s(&r["limits"]["nvidia.com/gpu"]), "1");
        assert!(r.get("requests").is_none());
        let none = yaml(&indexed_job(&opts()).unwrap());
        let r = &none["spec"]["template"]["spec"]["containers"][0]["resources"];
        assert!(r["limits"].get("nvidia.com/gpu").is_none());
    }

    fn yaml(text: &str) -> serde_yaml::Value {
        serde_yaml::from_str(text).expect("the manifest parses as YAML")
    }

    fn s(v: &serde_yaml::Value) -> &str {
        v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
    }

    #[test]
    fn indexed_job_fields() {
        let text = indexed_job(&opts()).unwrap();
        let j = yaml(&text);
        // Also plain JSON, for `kubectl apply -f x.json`.
        serde_json::from_str::<Value>(&text).unwrap();
        assert_eq!(s(&j["apiVersion"]), "batch/v1");
        assert_eq!(s(&j["kind"]), "Job");
        assert_eq!(s(&j["metadata"]["name"]), "cifar-sweep");
        assert_eq!(s(&j["metadata"]["namespace"]), "ml");
        let spec = &j["spec"];
        assert_eq!(s(&spec["completionMode"]), "Indexed");
        assert_eq!(spec["completions"].as_u64(), Some(8));
        assert_eq!(spec["parallelism"].as_u64(), Some(4));
        assert_eq!(spec["backoffLimitPerIndex"].as_u64(), Some(2));
        assert!(spec.get("backoffLimit").is_none(), "backoffLimitPerIndex replaces backoffLimit");
        assert_eq!(spec["ttlSecondsAfterFinished"].as_u64(), Some(86400));
        let pod = &spec["template"]["spec"];
        assert_eq!(s(&pod["restartPolicy"]), "Never");
        assert_eq!(pod["terminationGracePeriodSeconds"].as_u64(), Some(60));
        assert_eq!(s(&pod["volumes"][0]["persistentVolumeClaim"]["claimName"]), "sweep-results");
        let c = &pod["containers"][0];
        assert_eq!(s(&c["image"]), "registry.example/sweep:1.0");
        let cmd: Vec<&str> = c["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .chain(c["args"].as_sequence().unwrap())
            .map(s)
            .collect();
        assert_eq!(
            cmd,
            [
                "sweep",
                "run",
                "/results/grids/cifar.toml",
                "--out",
                "/results/cifar",
                "--data",
                "/results/data/cifar-10-batches-bin",
                "--shard",
                "auto",
                "--workers",
                "4"
            ]
        );
        assert_eq!(s(&c["volumeMounts"][0]["name"]), s(&pod["volumes"][0]["name"]));
        assert_eq!(s(&c["volumeMounts"][0]["mountPath"]), "/results");
        assert_eq!(s(&c["resources"]["requests"]["cpu"]), "4");
        assert_eq!(s(&c["resources"]["limits"]["memory"]), "8Gi");
        let env = c["env"].as_sequence().unwrap();
        let count = env.iter().find(|e| s(&e["name"]) == "SWEEP_SHARD_COUNT").unwrap();
        assert_eq!(s(&count["value"]), "8", "env values must be strings");
        let name = env.iter().find(|e| s(&e["name"]) == "SWEEP_JOB_NAME").unwrap();
        assert_eq!(
            s(&name["valueFrom"]["fieldRef"]["fieldPath"]),
            "metadata.labels['batch.kubernetes.io/job-name']"
        );
    }

    #[test]
    fn defaults_run_every_index_at_once_without_limits() {
        let o = K8sOptions {
            tasks: 3,
            image: "sweep:dev".into(),
            pvc: "r".into(),
            grid_path: "/g.toml".into(),
            parallelism: Some(10),
            ..K8sOptions::default()
        };
        let j = yaml(&indexed_job(&o).unwrap());
        assert_eq!(j["spec"]["parallelism"].as_u64(), Some(3), "never more pods than indices");
        assert!(j["metadata"].get("namespace").is_none());
        assert!(j["spec"].get("ttlSecondsAfterFinished").is_none());
        let c = &j["spec"]["template"]["spec"]["containers"][0];
        let args: Vec<&str> = c["args"].as_sequence().unwrap().iter().map(s).collect();
        assert_eq!(args, ["run", "/g.toml", "--out", "/results/sweep", "--shard", "auto"]);
        assert!(c["resources"].as_mapping().unwrap().is_empty());
    }

    #[test]
    fn finish_job_fields() {
        let j = yaml(&finish_job(&opts()).unwrap());
        assert_eq!(s(&j["metadata"]["name"]), "cifar-sweep-finish");
        assert!(j["spec"].get("completionMode").is_none());
        assert_eq!(j["spec"]["completions"].as_u64(), Some(1));
        let pod = &j["spec"]["template"]["spec"];
        assert_eq!(s(&pod["volumes"][0]["persistentVolumeClaim"]["claimName"]), "sweep-results");
        let c = &pod["containers"][0];
        let args: Vec<&str> = c["args"].as_sequence().unwrap().iter().map(s).collect();
        assert_eq!(args, ["finish", "/results/cifar", "--data", "/results/data/cifar-10-batches-bin"]);
    }

    #[test]
    fn strings_that_yaml_would_misread_stay_strings() {
        let o = K8sOptions {
            grid_path: "/results/on: yes #1.toml".into(),
            out: "/results/0755".into(),
            ..opts()
        };
        let j = yaml(&indexed_job(&o).unwrap());
        let args: Vec<&str> = j["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(s)
            .collect();
        assert_eq!(&args[1..4], ["/results/on: yes #1.toml", "--out", "/results/0755"]);
    }

    #[test]
    fn invalid_options_are_refused_with_the_fix() {
        let e = indexed_job(&K8sOptions {
            name: "Cifar_Sweep".into(),
            ..opts()
        })
        .unwrap_err()
        .0;
        assert!(e.contains("\"cifar-sweep\""), "{e}");
        let e = indexed_job(&K8sOptions {
            name: "a".repeat(60),
            ..opts()
        })
        .unwrap_err()
        .0;
        assert!(e.contains("at most 56"), "{e}");
        let e = indexed_job(&K8sOptions { tasks: 0, ..opts() }).unwrap_err().0;
        assert!(e.contains("at least 1 completion"), "{e}");
        let e = indexed_job(&K8sOptions {
            pvc: String::new(),
            ..opts()
        })
        .unwrap_err()
        .0;
        assert!(e.contains("PersistentVolumeClaim"), "{e}");
        let e = finish_job(&K8sOptions {
            out: "/tmp/out".into(),
            ..opts()
        })
        .unwrap_err()
        .0;
        assert!(e.contains("not under the claim's mount"), "{e}");
        let e = indexed_job(&K8sOptions {
            parallelism: Some(0),
            ..opts()
        })
        .unwrap_err()
        .0;
        assert!(e.contains("parallelism 0"), "{e}");
    }
}
