//! Helpers shared by the PyTorch reference tests: the four parameters as PyTorch scripts write them to JSON.

use ndarray::{Array1, Array2};
use serde::Deserialize;
use sweep_core::Params;

/// W1, b1, W2, b2 (or their gradients) as the fixture scripts write them.
#[derive(Deserialize)]
pub struct TorchParams {
    #[serde(rename = "W1")]
    pub w1: Vec<Vec<f64>>,
    pub b1: Vec<f64>,
    #[serde(rename = "W2")]
    pub w2: Vec<Vec<f64>>,
    pub b2: Vec<f64>,
}

/// A matrix from its rows.
pub fn mat(rows: &[Vec<f64>]) -> Array2<f64> {
    let cols = rows.first().map_or(0, Vec::len);
    Array2::from_shape_vec((rows.len(), cols), rows.concat()).expect("rectangular matrix in fixture")
}

impl TorchParams {
    pub fn to_f64(&self) -> Params<f64> {
        Params {
            w1: mat(&self.w1),
            b1: Array1::from(self.b1.clone()),
            w2: mat(&self.w2),
            b2: Array1::from(self.b2.clone()),
        }
    }

    pub fn to_f32(&self) -> Params<f32> {
        let p = self.to_f64();
        Params {
            w1: p.w1.mapv(|v| v as f32),
            b1: p.b1.mapv(|v| v as f32),
            w2: p.w2.mapv(|v| v as f32),
            b2: p.b2.mapv(|v| v as f32),
        }
    }
}
