//! `quarry sources`: the configured sources, each checked.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use quarry_sources::config::Config;

pub(crate) fn list_sources(
    data_dir: &Path,
    config: &Config,
    tokio: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let sources = config.sources(data_dir).map_err(anyhow::Error::msg)?;
    let mut all_ok = true;
    for source in sources.iter() {
        let check = tokio.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), source.check()).await
        });
        let status = match check {
            Ok(Ok(server)) => format!("ok: {server}"),
            Ok(Err(e)) => {
                all_ok = false;
                format!("FAILED: {e}")
            }
            Err(_) => {
                all_ok = false;
                "FAILED: no answer within 10 s".to_owned()
            }
        };
        println!(
            "{:<12} {:<10} {}\n{:<23} {status}",
            source.name(),
            source.backend().name(),
            source.address(),
            ""
        );
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
