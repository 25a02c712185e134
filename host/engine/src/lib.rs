//! A run: one query on one source, streamed through an optional plugin into an output.
//! Both the command line and the server run queries through this crate.
//!
//! # Layout
//!
//! - [`run`]: the pipeline from a source through a plugin into a [`run::Sink`].
//! - [`output`]: table, JSON, NDJSON and CSV sinks.
//! - [`compare`]: compare mode, the same run on several sources.

#![warn(missing_docs)]

pub mod compare;
pub mod output;
mod parallel;
pub mod run;
