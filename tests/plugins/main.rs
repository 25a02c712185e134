//! Plugins: the runtime with real components, the example plugins in Rust, TypeScript and
//! Python, scripts, `quarry plugin new`, and hostile plugins.

#[path = "../common/mod.rs"]
mod common;

mod contract;
mod examples;
mod hostile;
mod new;
mod pipelines;
mod python;
mod runtime;
mod scripts;
mod typescript;
