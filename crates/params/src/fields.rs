//! Where each hyperparameter lives in core's `TrainConfig`: the one place that knows each field's Rust type, so that
//! [`crate::params::Param::get`] and [`crate::params::Param::set`] read and write it exactly.

use serde::de::value::{Error as DeError, StrDeserializer};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value as Json;
use sweep_core::linalg::Precision;
use sweep_core::{Init, LrSchedule, Optimizer, TrainConfig};

use crate::params::Kind;

/// Where a parameter lives in core's `TrainConfig`: the one place that knows each field's Rust type.
pub(crate) enum Slot<'a> {
    Real(&'a mut f64),
    Whole(&'a mut usize),
    Init(&'a mut Init),
    Optimizer(&'a mut Optimizer),
    Schedule(&'a mut LrSchedule),
    Precision(&'a mut Precision),
}

/// The field called `field` (its serde name), or `None` if `TrainConfig` has no such hyperparameter.
pub(crate) fn slot<'a>(c: &'a mut TrainConfig, field: &str) -> Option<Slot<'a>> {
    Some(match field {
        "learning_rate" => Slot::Real(&mut c.learning_rate),
        "reg" => Slot::Real(&mut c.reg),
        "hidden_size" => Slot::Whole(&mut c.hidden_size),
        "lr_decay" => Slot::Real(&mut c.lr_decay),
        "epochs" => Slot::Whole(&mut c.epochs),
        "batch_size" => Slot::Whole(&mut c.batch_size),
        "init" => Slot::Init(&mut c.init),
        "optimizer" => Slot::Optimizer(&mut c.optimizer),
        "momentum" => Slot::Real(&mut c.momentum),
        "beta1" => Slot::Real(&mut c.beta1),
        "beta2" => Slot::Real(&mut c.beta2),
        "eps" => Slot::Real(&mut c.eps),
        "dropout" => Slot::Real(&mut c.dropout),
        "lr_schedule" => Slot::Schedule(&mut c.lr_schedule),
        "warmup_epochs" => Slot::Whole(&mut c.warmup_epochs),
        "flip" => Slot::Real(&mut c.flip),
        "crop" => Slot::Whole(&mut c.crop),
        "precision" => Slot::Precision(&mut c.precision),
        _ => return None,
    })
}

/// A unit variant's serde name (`Optimizer::AdamW` -> `"adamw"`).
pub(crate) fn variant_name<T: Serialize>(v: &T) -> Option<String> {
    match serde_json::to_value(v) {
        Ok(Json::String(s)) => Some(s),
        _ => None,
    }
}

/// The unit variant of serde name `name`.
pub(crate) fn variant<T: DeserializeOwned>(name: &str) -> Option<T> {
    T::deserialize(StrDeserializer::<DeError>::new(name)).ok()
}

/// The table's kind agrees with the field's type, and every choice is a variant of it.
pub(crate) fn check_slot(name: &str, field: &str, kind: &Kind) -> Result<(), String> {
    let mut c = TrainConfig::default();
    let ok = match (slot(&mut c, field), kind) {
        (Some(Slot::Real(_)), Kind::Float) | (Some(Slot::Whole(_)), Kind::Int) | (Some(Slot::Init(_)), Kind::Init) => true,
        (Some(Slot::Optimizer(_)), Kind::Choice(n)) => n.iter().all(|n| variant::<Optimizer>(n).is_some()),
        (Some(Slot::Schedule(_)), Kind::Choice(n)) => n.iter().all(|n| variant::<LrSchedule>(n).is_some()),
        (Some(Slot::Precision(_)), Kind::Choice(n)) => n.iter().all(|n| variant::<Precision>(n).is_some()),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{name}: TrainConfig has no field `{field}` of kind {kind:?}"))
    }
}
