//! One file per figure of the report. Each says only what is its own (data, scales, series, colours); the frame, fonts
//! and legend box come from [`super::style`].

mod accuracy;
mod axis;
mod front;
mod heatmap;
mod hypervolume;
mod importance;
mod loss;
mod rungs;
mod weights;

pub(super) use accuracy::AccuracyChart;
pub(super) use axis::AxisPlot;
pub(super) use front::FrontChart;
pub(super) use heatmap::Heatmap;
pub(super) use hypervolume::{Against, HypervolumeChart};
pub(super) use importance::ImportanceChart;
pub(super) use loss::LossChart;
pub(super) use rungs::{Curve, RungCurves};
pub(super) use weights::WeightTiles;
