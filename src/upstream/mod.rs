//! The upstream client: asking the configured nameservers, hedged, over UDP
//! with TCP for truncated answers, synchronously and within a deadline.

pub mod health;
mod hedge;
mod message;
pub mod provenance;
mod transport;
mod wire;

pub use health::{HealthTable, ServerHealth, Snapshot};
pub use hedge::{ask, Answer, Counters, Plan, Unavailable};
pub use message::{decode_reply, encode_query, Chain, Mismatch, QType, Reply, EDNS_PAYLOAD};
