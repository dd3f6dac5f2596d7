//! The upstream client: asking the configured nameservers, hedged, over UDP
//! with TCP for truncated answers, synchronously and within a deadline.

mod hedge;
pub mod health;
mod message;
mod transport;

pub use hedge::{ask, Answer, Counters, Plan, Unavailable};
pub use health::{HealthTable, ServerHealth};
pub use message::{decode_reply, encode_query, Chain, Mismatch, QType, Reply, EDNS_PAYLOAD};
