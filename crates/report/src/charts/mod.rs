//! One file per figure of the report. Each says only what is its own (data, scales, series, colours); the frame, fonts
//! and legend box come from [`super::style`].

mod accuracy;
mod axis;
mod heatmap;
mod importance;
mod loss;
mod rungs;
mod weights;

pub(super) use accuracy::AccuracyChart;
pub(super) use axis::AxisPlot;
pub(super) use heatmap::Heatmap;
pub(super) use importance::ImportanceChart;
pub(super) use loss::LossChart;
pub(super) use rungs::{Curve, RungCurves};
pub(super) use weights::WeightTiles;
