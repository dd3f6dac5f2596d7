//! The scenarios: what each measures, for which systems, and the checks under its
//! table. [`Scenario`] lists them; each module implements a family of them.

mod catalog;
mod dead_first;
mod facts;
pub mod fresh;
pub mod hit;
mod loading;
mod memory;
mod miss;
mod servers;
mod shared;
mod steady;

pub use catalog::Scenario;
