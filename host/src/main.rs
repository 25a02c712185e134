use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = quarry::cli::Cli::parse();
    match quarry::cli::main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
