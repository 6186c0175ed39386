//! `sweep gradcheck`: analytic against numeric gradients on a random small network (the report's Table I).

use std::process::ExitCode;

use anyhow::{bail, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Regularization strength used in the loss.
    #[arg(long, default_value_t = 0.05)]
    pub reg: f64,
}

pub fn exec(args: &Args) -> Result<ExitCode> {
    let (net, x, y) = sweep_core::gradcheck::random_problem(args.seed, 5, 4, 10, 3);
    let r = sweep_core::gradcheck::grad_check(&net, x.view(), &y, args.reg, 1e-5);
    println!(
        "Gradient check (N=5, D=4, H=10, C=3, reg={}, f64, centered differences h=1e-5)",
        args.reg
    );
    println!("{:<10} {:>20}", "Parameter", "Max Relative Error");
    for (name, err) in r.rows() {
        println!("{name:<10} {err:>20.6e}");
    }
    if r.max() >= 1e-7 {
        bail!("max relative error {:.3e} is above 1e-7: the analytic gradients are wrong", r.max());
    }
    Ok(ExitCode::SUCCESS)
}
