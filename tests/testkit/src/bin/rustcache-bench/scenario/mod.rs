//! The scenarios: what each measures, for which systems, and the checks under its
//! table. [`Scenario`] lists them; each module implements a family of them.

mod catalog;
mod dead_first;
pub mod hit;
mod servers;
mod shared;
mod steady;

pub use catalog::Scenario;
