//! The Rust side of the LCBench benchmark (issue 34): the YAHPO Gym LCBench surrogate evaluated in process
//! ([`surrogate`], with tract), sweep's own scheduler replayed on it with simulated workers ([`sim`]), and the
//! surrogate as a command trial for a real `sweep run` (`yahpo-trial`). `yahpo-bench` runs sweep's searches over
//! the development tasks and seeds and writes the same `curves.csv` as `optuna_side.py`, for `report.py`.

pub mod grid;
pub mod sim;
pub mod surrogate;
