//! `sweep k8s GRID --tasks N --image IMAGE --pvc CLAIM`: the Indexed Job running the sweep as N shards and the
//! Job finishing it, as one YAML stream (two JSON documents, which are YAML).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sweep_runner::ops::k8s::K8sArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The grid file (TOML); checked here, and read in the pods at --grid-path.
    pub grid: PathBuf,
    /// Completions (shards).
    #[arg(long)]
    pub tasks: usize,
    /// Container image holding the sweep binary.
    #[arg(long)]
    pub image: String,
    /// PersistentVolumeClaim (ReadWriteMany) holding the results directory.
    #[arg(long)]
    pub pvc: String,
    /// Where the claim is mounted in the pods.
    #[arg(long, default_value = "/results")]
    pub mount: String,
    /// Results directory in the pods [default: <mount>/<name from the grid>].
    #[arg(long)]
    pub out: Option<String>,
    /// The grid file in the pods [default: <mount>/<grid file name>: copy it onto the claim].
    #[arg(long)]
    pub grid_path: Option<String>,
    /// Data path in the pods, when the grid's does not hold there.
    #[arg(long)]
    pub data: Option<String>,
    /// Pods at once [default: all tasks].
    #[arg(long)]
    pub parallelism: Option<usize>,
    /// Retries per index.
    #[arg(long, default_value_t = 3)]
    pub backoff_limit_per_index: u32,
    /// CPU request and limit per pod (a whole number also sets --workers).
    #[arg(long)]
    pub cpu: Option<String>,
    /// Memory request and limit per pod (e.g. 8Gi).
    #[arg(long)]
    pub memory: Option<String>,
    /// Job name [default: sweep-<grid name>].
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub namespace: Option<String>,
    /// The sweep command in the image.
    #[arg(long, default_value = "sweep")]
    pub sweep_exe: String,
    /// GPUs per pod, as `nvidia.com/gpu` in its limits [default: what one trial asks for, when the grid's [command]
    /// sets `gpus`]. Each pod runs as many trials at once as its devices allow.
    #[arg(long, value_name = "N")]
    pub gpus_per_pod: Option<usize>,
}

pub fn exec(args: &Args) -> Result<ExitCode> {
    Ok(sweep_runner::ops::k8s::k8s(&K8sArgs {
        grid: args.grid.clone(),
        tasks: args.tasks,
        image: args.image.clone(),
        pvc: args.pvc.clone(),
        mount: args.mount.clone(),
        out: args.out.clone(),
        grid_path: args.grid_path.clone(),
        data: args.data.clone(),
        parallelism: args.parallelism,
        backoff_limit_per_index: args.backoff_limit_per_index,
        cpu: args.cpu.clone(),
        memory: args.memory.clone(),
        name: args.name.clone(),
        namespace: args.namespace.clone(),
        sweep_exe: args.sweep_exe.clone(),
        gpus_per_pod: args.gpus_per_pod,
    })?)
}
