//! `sweep k8s GRID --tasks N --image IMAGE --pvc CLAIM`: the Indexed Job running the sweep as N shards and the
//! Job finishing it, as one YAML stream (two JSON documents, which are YAML).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::Result;
use crate::cluster::k8s::{finish_job, indexed_job, K8sOptions};
use sweep_grid::grid::Grid;

#[derive(Debug, Clone)]
pub struct K8sArgs {
    /// The grid file (TOML); checked here, and read in the pods at --grid-path.
    pub grid: PathBuf,
    /// Completions (shards).
    pub tasks: usize,
    /// Container image holding the sweep binary.
    pub image: String,
    /// PersistentVolumeClaim (ReadWriteMany) holding the results directory.
    pub pvc: String,
    /// Where the claim is mounted in the pods.
    pub mount: String,
    /// Results directory in the pods [default: <mount>/<name from the grid>].
    pub out: Option<String>,
    /// The grid file in the pods [default: <mount>/<grid file name>: copy it onto the claim].
    pub grid_path: Option<String>,
    /// Data path in the pods, when the grid's does not hold there.
    pub data: Option<String>,
    /// Pods at once [default: all tasks].
    pub parallelism: Option<usize>,
    /// Retries per index.
    pub backoff_limit_per_index: u32,
    /// CPU request and limit per pod (a whole number also sets --workers).
    pub cpu: Option<String>,
    /// Memory request and limit per pod (e.g. 8Gi).
    pub memory: Option<String>,
    /// Job name [default: sweep-<grid name>].
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// The sweep command in the image.
    pub sweep_exe: String,
    /// GPUs per pod (`nvidia.com/gpu` in its limits) [default: one trial's, when `[command] gpus` is set].
    pub gpus_per_pod: Option<usize>,
}

/// `sweep k8s`.
pub fn k8s(args: &K8sArgs) -> Result<ExitCode> {
    let grid = Grid::load(&args.grid)?;
    let gpus = super::gpus::per_task(&grid, "--gpus-per-pod", args.gpus_per_pod)?;
    let mount = args.mount.trim_end_matches('/').to_string();
    let file_name = args
        .grid
        .file_name()
        .map_or("grid.toml".into(), |n| n.to_string_lossy().into_owned());
    let name = args.name.clone().unwrap_or_else(|| {
        let n: String = format!("sweep-{}", grid.name)
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        n.trim_matches('-')
            .chars()
            .take(56)
            .collect::<String>()
            .trim_end_matches('-')
            .to_string()
    });
    let opts = K8sOptions {
        name,
        namespace: args.namespace.clone(),
        tasks: args.tasks,
        parallelism: args.parallelism,
        backoff_limit_per_index: args.backoff_limit_per_index,
        image: args.image.clone(),
        sweep_exe: args.sweep_exe.clone(),
        pvc: args.pvc.clone(),
        results_mount: if mount.is_empty() { "/".into() } else { mount.clone() },
        out: args.out.clone().unwrap_or_else(|| format!("{mount}/{}", grid.name)),
        grid_path: args.grid_path.clone().unwrap_or_else(|| format!("{mount}/{file_name}")),
        data_path: args.data.clone(),
        cpu: args.cpu.clone(),
        memory: args.memory.clone(),
        gpus,
        ..K8sOptions::default()
    };
    let job = indexed_job(&opts)?;
    let finish = finish_job(&opts)?;
    print!("# sweep {}: {} shards. kubectl apply -f this file's first document, wait for it\n# (kubectl wait --for=condition=complete --timeout=-1s job/{}), then apply the second.\n", grid.name, opts.tasks, opts.name);
    print!("---\n{job}---\n{finish}");
    if !Path::new(&args.grid).is_absolute() && args.grid_path.is_none() {
        eprintln!("(copy {} onto the claim as {})", args.grid.display(), opts.grid_path);
    }
    Ok(ExitCode::SUCCESS)
}
