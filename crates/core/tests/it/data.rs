//! Data loading on files these tests generate in each supported format, every bad input, and a real CIFAR-10 subset.

use std::fs;
use std::path::{Path, PathBuf};

use sweep_core::data::{self, write_binary_batch, DataSpec, Source, RECORD};
use sweep_core::train::{train, Quiet};
use sweep_core::{DataError, TrainConfig};

const NAMES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Deterministic pixels for record `i`: the label is encoded in pixel 0 so tests can check records stay matched.
fn record(i: usize, label: u8) -> Vec<u8> {
    let mut px: Vec<u8> = (0..RECORD - 1).map(|j| ((i * 31 + j * 7) % 256) as u8).collect();
    px[0] = label * 20;
    px
}

/// Writes a small official-format binary directory: 5 train batches of `per` records and a test batch.
fn write_binary_dir(dir: &Path, per: usize) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("batches.meta.txt"), NAMES.join("\n") + "\n\n").unwrap();
    let mut k = 0;
    for b in 1..=6 {
        let (mut labels, mut px) = (Vec::new(), Vec::new());
        for _ in 0..per {
            let l = (k % 10) as u8;
            labels.push(l);
            px.extend(record(k, l));
            k += 1;
        }
        let name = if b == 6 {
            "test_batch.bin".to_string()
        } else {
            format!("data_batch_{b}.bin")
        };
        write_binary_batch(&dir.join(name), &labels, &px).unwrap();
    }
}

fn spec(val: usize) -> DataSpec {
    DataSpec {
        val_size: val,
        train_size: None,
        test_size: None,
        seed: 1,
    }
}

/// Undo preprocessing of a row to recover the raw pixel 0 (which encodes the label).
fn label_pixel(ds: &data::Dataset, x: &ndarray::Array2<f32>, row: usize) -> u8 {
    ((x[[row, 0]] + ds.mean[0]) * 255.0).round() as u8
}

#[test]
fn binary_directory_loads_splits_and_preprocesses() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar-10-batches-bin");
    write_binary_dir(&dir, 20);
    let ds = data::load(&dir, &spec(30)).unwrap();
    assert_eq!((ds.x_train.nrows(), ds.x_val.nrows(), ds.x_test.nrows()), (70, 30, 20));
    assert_eq!(ds.x_train.ncols(), 3072);
    assert_eq!(ds.class_names, NAMES);
    assert_eq!(ds.input_shape, vec![3, 32, 32]);
    // Mean of the training split is subtracted: the training columns average to ~0.
    let col_mean = ds.x_train.mean_axis(ndarray::Axis(0)).unwrap();
    assert!(col_mean.iter().all(|m| m.abs() < 1e-5));
    // Labels still match their records after the shuffle.
    for (i, &l) in ds.y_train.iter().enumerate() {
        assert_eq!(label_pixel(&ds, &ds.x_train, i), l * 20);
    }
    for (i, &l) in ds.y_val.iter().enumerate() {
        assert_eq!(label_pixel(&ds, &ds.x_val, i), l * 20);
    }
    // The parent directory is recognised too, and the split is seeded.
    let again = data::load(tmp.path(), &spec(30)).unwrap();
    assert_eq!(again.y_val, ds.y_val);
    let other = data::load(&dir, &DataSpec { seed: 2, ..spec(30) }).unwrap();
    assert_ne!(other.y_val, ds.y_val);
}

#[test]
fn tar_gz_archive_is_read_directly_and_equals_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("src/cifar-10-batches-bin");
    write_binary_dir(&dir, 10);
    let archive = tmp.path().join("cifar-10-binary.tar.gz");
    let f = fs::File::create(&archive).unwrap();
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(f, flate2::Compression::fast()));
    b.append_dir_all("cifar-10-batches-bin", &dir).unwrap();
    b.into_inner().unwrap().finish().unwrap();
    assert_eq!(Source::detect(&archive).unwrap(), Source::Archive(archive.clone()));
    let a = data::load(&archive, &spec(10)).unwrap();
    let d = data::load(&dir, &spec(10)).unwrap();
    assert_eq!(a.x_train, d.x_train);
    assert_eq!(a.y_test, d.y_test);
}

fn write_folder(root: &Path, classes: &[&str], per: usize, size: u32) {
    for split in ["train", "test"] {
        for (c, name) in classes.iter().enumerate() {
            let d = root.join(split).join(name);
            fs::create_dir_all(&d).unwrap();
            for i in 0..per {
                let img = image::RgbImage::from_fn(size, size, |x, y| {
                    image::Rgb([(c * 25) as u8, (x * 8) as u8, (y * 8 + i as u32) as u8])
                });
                img.save(d.join(format!("{i:04}.png"))).unwrap();
            }
        }
    }
}

#[test]
fn image_folder_loads_classes_in_sorted_order() {
    let tmp = tempfile::tempdir().unwrap();
    write_folder(tmp.path(), &["cat", "airplane", "dog"], 4, 32);
    fs::write(tmp.path().join("train/cat/notes.txt"), "ignored").unwrap();
    let ds = data::load(tmp.path(), &spec(3)).unwrap();
    assert_eq!(ds.class_names, ["airplane", "cat", "dog"]);
    assert_eq!(ds.x_train.nrows() + ds.x_val.nrows(), 12);
    assert_eq!(ds.x_test.nrows(), 12);
    // Red channel (first 1024 values, channel-major) encodes the class: 25 * label.
    for (i, &l) in ds.y_test.iter().enumerate() {
        let red = ((ds.x_test[[i, 0]] + ds.mean[0]) * 255.0).round() as u8;
        let want = match ds.class_names[l as usize].as_str() {
            "cat" => 0,
            "airplane" => 25,
            _ => 50,
        };
        assert_eq!(red, want);
    }
}

fn err(path: &Path, spec: &DataSpec) -> String {
    data::load(path, spec).unwrap_err().to_string()
}

#[test]
fn every_bad_input_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    // Missing path: says what was looked for and where CIFAR-10 can be had.
    let missing = tmp.path().join("nope");
    let m = err(&missing, &spec(1));
    assert!(
        m.contains("nope") && m.contains("data_batch_1.bin") && m.contains("cifar-10-binary.tar.gz"),
        "{m}"
    );

    // Missing file in a binary dir.
    let dir = tmp.path().join("bin");
    write_binary_dir(&dir, 5);
    fs::remove_file(dir.join("data_batch_3.bin")).unwrap();
    let m = err(&dir, &spec(1));
    assert!(m.contains("data_batch_3.bin"), "{m}");

    // Truncated record.
    write_binary_dir(&dir, 5);
    let p = dir.join("data_batch_2.bin");
    let mut bytes = fs::read(&p).unwrap();
    bytes.truncate(bytes.len() - 100);
    fs::write(&p, &bytes).unwrap();
    let m = err(&dir, &spec(1));
    assert!(m.contains("data_batch_2.bin") && m.contains("truncated"), "{m}");

    // Label out of range.
    write_binary_dir(&dir, 5);
    let p = dir.join("test_batch.bin");
    let mut bytes = fs::read(&p).unwrap();
    bytes[RECORD * 2] = 10;
    fs::write(&p, &bytes).unwrap();
    let m = err(&dir, &spec(1));
    assert!(
        m.contains("test_batch.bin") && m.contains("record 2") && m.contains("label 10"),
        "{m}"
    );

    // val_size too large.
    write_binary_dir(&dir, 5);
    let e = data::load(&dir, &spec(25)).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::Split {
                what: "val_size",
                value: 25,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("0..=24"), "{e}");

    // Image folder: undecodable image, image of another size, empty class folder, missing test/.
    let root = tmp.path().join("folder");
    write_folder(&root, &["a", "b"], 3, 8);
    fs::write(root.join("train/b/0001.png"), b"not a png").unwrap();
    let m = err(&root, &spec(1));
    assert!(m.contains("0001.png") && m.contains("cannot decode"), "{m}");
    write_folder(&root, &["a", "b"], 3, 8);
    image::RgbImage::new(9, 8).save(root.join("test/a/0002.png")).unwrap();
    let m = err(&root, &spec(1));
    assert!(m.contains("0002.png") && m.contains("9x8") && m.contains("8x8"), "{m}");
    write_folder(&root, &["a", "b"], 3, 8);
    fs::create_dir_all(root.join("train/c")).unwrap();
    let m = err(&root, &spec(1));
    assert!(m.contains("train/c") && m.contains("empty"), "{m}");
    fs::remove_dir(root.join("train/c")).unwrap();
    fs::remove_dir_all(root.join("test")).unwrap();
    let m = err(&root, &spec(1));
    assert!(m.contains("test"), "{m}");
}

fn shared_cifar() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/cifar10")
}

/// Real data: a 10,000-image subset of ../shared/cifar10 (8,000 train / 2,000 val) trains clearly above chance.
#[test]
fn real_cifar10_subset_trains_well_above_chance() {
    let path = shared_cifar();
    assert!(
        path.is_dir(),
        "{} is missing: the shared CIFAR-10 image folder is needed",
        path.display()
    );
    let spec = DataSpec {
        val_size: 2000,
        train_size: Some(8000),
        test_size: Some(1000),
        seed: 0,
    };
    let ds = data::load(&path, &spec).unwrap();
    assert_eq!((ds.x_train.nrows(), ds.x_val.nrows(), ds.x_test.nrows()), (8000, 2000, 1000));
    assert_eq!(ds.class_names, NAMES);
    let cfg = TrainConfig {
        learning_rate: 0.1,
        reg: 1e-4,
        hidden_size: 128,
        lr_decay: 0.95,
        epochs: 5,
        batch_size: 200,
        ..Default::default()
    };
    let out = train(&cfg.check().unwrap(), ds.train_data(), &mut Quiet);
    assert!(
        out.best_val_acc > 0.35,
        "best val accuracy {} is not clearly above chance",
        out.best_val_acc
    );
}
