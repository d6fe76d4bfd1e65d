//! Evaluation on the public development sets in `../shared/eval`, with the official protocols.

pub mod calibration;
pub mod coco;
pub mod text;
pub mod widerface;
