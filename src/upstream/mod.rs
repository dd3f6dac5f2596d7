//! The upstream client: asking the configured nameservers, hedged, over UDP
//! with TCP for truncated answers, synchronously and within a deadline.

mod hedge;
mod message;
pub mod provenance;
mod transport;
mod wire;

// Server health and the record types live with the cache file's layout,
// which holds them; they are re-exported here where the client uses them.
pub use crate::cache::health::{self, HealthTable, ServerHealth, Snapshot};
pub use crate::cache::QType;
pub use hedge::{ask, Answer, Counters, Plan, Unavailable};
pub use message::{decode_reply, encode_query, Chain, Mismatch, Query, Reply, EDNS_PAYLOAD};
