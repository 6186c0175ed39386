//! Writes the data exactly as `sweep run` trains on them, as NumPy `.npy` files, so that another tool (the PyTorch
//! side of `bench/bench-vs-optuna.sh`) trains on the very same images, split and preprocessing.
//!
//! `cargo run --release -p sweep-core --example export_split -- DATA OUTDIR [SEED]`
//!
//! The data are loaded with `sweep_core::data::load` and the `DataSpec` that `sweep run` builds for a grid with
//! `seed = SEED` (default 0) and `val_size = 10000` and no subsets (`commands/run.rs`, `load_data`): 40,000 training,
//! 10,000 validation and 10,000 test images of CIFAR-10, pixels / 255 minus the training split's mean image,
//! flattened channel-major. OUTDIR gets `x_train.npy`, `y_train.npy`, `x_val.npy`, `y_val.npy`, `x_test.npy`,
//! `y_test.npy` (inputs `<f4` of shape (N, 3072), labels `|u1` of shape (N,)) and `meta.json` (the spec, the class
//! names, the description). Everything is written into `OUTDIR.partial` first and renamed at the end, so an OUTDIR
//! that exists is complete.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use ndarray::Array2;
use sweep_core::data::{self, DataSpec, DEFAULT_VAL_SIZE};

/// The `.npy` version 1.0 header for a C-ordered array of `descr` with `shape`, padded to a multiple of 64 bytes.
fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // magic (6) + version (2) + header length (2) + dict + '\n' is a multiple of 64.
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&u16::try_from(dict.len()).expect("short header").to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

fn write_npy(path: &Path, header: &[u8], body: impl FnOnce(&mut BufWriter<fs::File>) -> std::io::Result<()>) -> std::io::Result<()> {
    let mut w = BufWriter::new(fs::File::create(path)?);
    w.write_all(header)?;
    body(&mut w)?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn write_f32(path: &Path, x: &Array2<f32>) -> std::io::Result<()> {
    let header = npy_header("<f4", &[x.nrows(), x.ncols()]);
    write_npy(path, &header, |w| {
        // Row by row in logical order, so the file is C-ordered whatever the array's layout.
        for row in x.rows() {
            for v in row {
                w.write_all(&v.to_le_bytes())?;
            }
        }
        Ok(())
    })
}

fn write_u8(path: &Path, y: &[u8]) -> std::io::Result<()> {
    write_npy(path, &npy_header("|u1", &[y.len()]), |w| w.write_all(y))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(data_path), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: export_split DATA OUTDIR [SEED]   (SEED: the grid's seed, default 0)");
        std::process::exit(2);
    };
    let seed: u64 = match args.get(2) {
        None => 0,
        Some(s) => s.parse().map_err(|_| format!("SEED: `{s}` is not an integer >= 0"))?,
    };
    // What `sweep run` builds for a grid with `seed = SEED`, `val_size = 10000` and no train_size / test_size.
    let spec = DataSpec {
        val_size: DEFAULT_VAL_SIZE,
        train_size: None,
        test_size: None,
        seed,
    };
    let t = std::time::Instant::now();
    let ds = data::load(Path::new(data_path), &spec)?;
    eprintln!("loaded {} in {:.1} s", ds.description, t.elapsed().as_secs_f64());

    let out = PathBuf::from(out);
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    if partial.exists() {
        fs::remove_dir_all(&partial)?;
    }
    fs::create_dir_all(&partial)?;
    for (name, x, y) in [
        ("train", &ds.x_train, &ds.y_train),
        ("val", &ds.x_val, &ds.y_val),
        ("test", &ds.x_test, &ds.y_test),
    ] {
        write_f32(&partial.join(format!("x_{name}.npy")), x)?;
        write_u8(&partial.join(format!("y_{name}.npy")), y)?;
    }
    let meta = serde_json::json!({
        "data": data_path,
        "spec": spec,
        "description": ds.description,
        "class_names": ds.class_names,
        "input_shape": ds.input_shape,
        "preprocessing": "pixels / 255 minus the mean image of the training split, channel-major",
    });
    fs::write(partial.join("meta.json"), serde_json::to_vec_pretty(&meta)?)?;
    if out.exists() {
        fs::remove_dir_all(&out)?;
    }
    fs::rename(&partial, &out)?;
    eprintln!("wrote {} in {:.1} s", out.display(), t.elapsed().as_secs_f64());
    Ok(())
}
