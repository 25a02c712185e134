//! The vocabulary every other Quarry crate shares, with no runtime, server or driver in it:
//! what a batch of rows is, how dates are counted, what query a plugin builds, and the
//! first checks on untrusted input (a query's text, an uploaded file). The fuzz targets in
//! `fuzz/` build on this crate alone.
//!
//! # Layout
//!
//! - [`batch`]: the host's columnar batch (Arrow layout), builders and validation.
//! - [`contract`]: the query types of the plugin contract: [`Query`], [`Statement`],
//!   [`Value`], [`Backend`].
//! - [`guard`]: the read-only guards for SQL, CQL and MongoDB queries.
//! - [`upload`]: the first look at an uploaded plugin file.
//! - [`size`]: sizes in bytes as people read and type them.
//! - [`datetime`]: calendar arithmetic for timestamps and dates.

#![warn(missing_docs)]

pub mod batch;
pub mod contract;
pub mod datetime;
pub mod guard;
pub mod size;
pub mod upload;

pub use contract::{Backend, MongoAggregate, MongoFind, Query, Statement, Value};
