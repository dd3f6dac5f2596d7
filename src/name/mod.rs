//! Names: which names a lookup may ask for, in which order, and the
//! reverse-lookup names of addresses.

mod candidates;
mod reverse;
pub(crate) mod validate;

pub use candidates::{candidates, Candidate, Candidates, NameBuf};
pub use reverse::{reverse_name, unmap_v4};
pub use validate::{check_body, check_host_name, is_valid_answer_name, InvalidName};
