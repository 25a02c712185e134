//! Quarry: a query playground whose query logic lives in sandboxed WebAssembly plugins.
//!
//! # Layout
//!
//! - [`batch`]: the host's columnar batch (Arrow layout), builders and validation.
//! - [`plugin`]: the wasmtime runtime — contract bindings, sandbox, limits, compile cache.
//! - [`source`]: the [`source::Source`] trait and one module per database backend.
//! - [`run`]: the pipeline that streams a source through a plugin into a [`run::Sink`].
//! - [`output`]: table, JSON, NDJSON and CSV sinks.
//! - [`compare`]: compare mode, the same run on several sources.
//! - [`config`]: `quarry.toml`, the configured sources.
//! - [`cli`]: the `quarry` command line.
//! - [`store`]: the server's plugin library and shared snippets.
//! - [`web`]: `quarry serve`, the playground page and its JSON API.
//! - [`seed`]: `quarry seed`, the demo data copied into a server source.
//! - [`load`]: HTTP load on a playground server (loopback only).
//! - [`bench`]: `quarry bench`, throughput and lifecycle figures.
//! - [`scaffold`]: `quarry plugin new`, a plugin project from `plugins/templates`.
//! - [`datetime`]: calendar arithmetic for timestamps and dates.

pub mod batch;
pub mod bench;
pub mod cli;
pub mod compare;
pub mod config;
pub mod datetime;
pub mod load;
pub mod output;
pub mod plugin;
pub mod run;
pub mod scaffold;
pub mod seed;
pub mod source;
pub mod store;
pub mod web;
