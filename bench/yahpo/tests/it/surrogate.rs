use sweep_yahpo::surrogate::{check, targets, Surrogate, DEV_TASKS, MAX_EPOCH};

const CONFIG: [f64; 7] = [64.0, 0.01, 0.9, 0.001, 3.0, 256.0, 0.2];

/// The curve of a known configuration (task 3945) as onnxruntime 1.32 gives it (`surrogate.py`): tract agrees to
/// 2e-4 relative (9e-5 seen, in `time` at epoch 9).
#[test]
fn curve_matches_onnxruntime() {
    let s = Surrogate::open().unwrap();
    let c = s.curve(3945, &CONFIG).unwrap();
    assert_eq!(c.len(), MAX_EPOCH);
    // (epoch, time, val_accuracy) from onnxruntime.
    for (e, time, val) in [
        (1, 20.78333282470703, 40.40731430053711),
        (3, 22.33258819580078, 87.08483123779297),
        (9, 46.14875030517578, 88.69815063476562),
        (52, 155.76808166503906, 90.64686584472656),
    ] {
        let row = c[e - 1];
        assert!(
            (f64::from(row[0]) - time).abs() < 2e-4 * time,
            "epoch {e}: time {} vs {time}",
            row[0]
        );
        assert!((f64::from(row[1]) - val).abs() < 2e-4 * val, "epoch {e}: val {} vs {val}", row[1]);
    }
    // The same query gives the same bits.
    assert_eq!(s.curve(3945, &CONFIG).unwrap(), c);
}

#[test]
fn refuses_values_outside_the_space_and_unknown_tasks() {
    let s = Surrogate::open().unwrap();
    let mut bad = CONFIG;
    bad[0] = 15.0;
    assert!(check(&bad).unwrap_err().to_string().contains("batch_size = 15 is outside"));
    bad = CONFIG;
    bad[4] = 2.5;
    assert!(check(&bad).unwrap_err().to_string().contains("not a whole number"));
    assert!(s.curve(1, &CONFIG).unwrap_err().to_string().contains("not an LCBench task"));
}

#[test]
fn targets_cover_the_development_tasks() {
    let t = targets(&sweep_yahpo::surrogate::data_dir()).unwrap();
    for task in DEV_TASKS {
        assert!(t[&task] > 0.0 && t[&task] <= 100.0, "task {task}: {}", t[&task]);
    }
}
