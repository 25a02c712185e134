//! `quarry`: the command line over the Quarry crates.
//!
//! # Layout
//!
//! - `cli`: the arguments and the dispatch.
//! - `shared`: what several commands use (limit flags, the runtime, loading plugins).
//! - one module per command: `run`, `serve`, `seed`, `sources`, `plugin` (`inspect`),
//!   `scaffold` (`plugin new` and its templates), `users`; `quarry bench` is
//!   `quarry-bench`'s.
//! - `logging`: log lines on stderr, text or JSON.

mod cli;
mod logging;
mod plugin;
mod run;
mod scaffold;
mod seed;
mod serve;
mod shared;
mod sources;
mod users;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
