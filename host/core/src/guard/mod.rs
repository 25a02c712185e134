//! The read-only guards: what a run may send to each database family. Each one is the
//! first look at text a user or a plugin wrote, before any driver sees it.

pub mod cql;
pub mod mongo;
pub mod sql;

/// A query a guard refused: the statement or operator, and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);
