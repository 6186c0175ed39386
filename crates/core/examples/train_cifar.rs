//! Trains one two-layer network on CIFAR-10 and prints its curve: the core library used end to end, without the CLI.
//!
//! `cargo run --release -p sweep-core --example train_cifar -- [DATA] [EPOCHS] [HIDDEN]`
//! (DATA defaults to `../shared/cifar10`).

use std::time::Instant;

use sweep_core::train::{train, EpochRecord, Observer};
use sweep_core::{data, DataSpec, TrainConfig};

struct Print;
impl Observer for Print {
    fn on_epoch(&mut self, r: &EpochRecord) -> sweep_core::train::Control {
        println!(
            "epoch {:>2}  lr {:.4}  loss {:.4}  train {:.4}  val {:.4}",
            r.epoch, r.lr, r.loss, r.train_acc, r.val_acc
        );
        sweep_core::train::Control::Continue
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args.first().map_or("../shared/cifar10", String::as_str);
    let epochs = args.get(1).map_or(Ok(10), |s| s.parse())?;
    let hidden = args.get(2).map_or(Ok(512), |s| s.parse())?;
    let t = Instant::now();
    let ds = data::load(path.as_ref(), &DataSpec::default())?;
    println!("loaded {} in {:.2} s", ds.description, t.elapsed().as_secs_f64());
    let cfg = TrainConfig {
        epochs,
        hidden_size: hidden,
        ..TrainConfig::default()
    }
    .check()?;
    let t = Instant::now();
    let out = train(&cfg, ds.train_data(), &mut Print);
    let secs = t.elapsed().as_secs_f64();
    let best = out.best_net.ok_or("no epoch finished")?;
    println!(
        "{}: best val {:.4} at epoch {:?}, test {:.4}, {:.2} s ({:.2} s/epoch)",
        out.status.as_str(),
        out.best_val_acc,
        out.best_epoch,
        best.accuracy(ds.x_test.view(), &ds.y_test),
        secs,
        secs / out.history.epochs.len().max(1) as f64
    );
    Ok(())
}
