//! `quarry serve`: the playground and its JSON API.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use quarry_core::size::parse as parse_bytes;
use quarry_runtime::{Limits, script};
use quarry_sources::config::Config;

use crate::shared::{LimitArgs, runtime, say_compiling};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// The largest plugin upload, e.g. 16MiB.
    #[arg(long, value_parser = parse_bytes, default_value = "16MiB")]
    pub max_upload: u64,
    /// Runs (and plugin compilations) in progress at once [default: two per core].
    #[arg(long)]
    pub max_runs: Option<usize>,
    /// The most streams one run may read at once (a run's `parallel`), and its default
    /// [default: the machine's cores].
    #[arg(long, value_name = "N")]
    pub max_parallel: Option<usize>,
    /// Runs that may wait for a slot; beyond this a run is answered 503 busy.
    #[arg(long, default_value_t = 64)]
    pub max_queue: usize,
    /// Runs one caller (a user; a client address with --auth none) may have at once;
    /// beyond it 429 with Retry-After.
    #[arg(long, default_value_t = 8)]
    pub max_runs_per_caller: usize,
    /// Runs one caller may start in a minute; beyond it 429 with Retry-After.
    #[arg(long, default_value_t = 600)]
    pub max_runs_per_minute: u32,
    /// The most bytes of rows in one JSON answer, e.g. 32MiB; beyond it the answer is
    /// truncated and its `next` page goes on.
    #[arg(long, value_parser = parse_bytes, default_value = "32MiB")]
    pub max_answer_bytes: u64,
    /// The most memory all JSON answers being gathered may hold together, e.g. 2GiB;
    /// beyond it a run is answered 503 busy [default: a quarter of the machine's memory].
    #[arg(long, value_parser = parse_bytes)]
    pub memory_budget: Option<u64>,
    /// Add this .wasm plugin, or every .wasm plugin in this directory, to the library when
    /// starting; repeatable (QUARRY_PLUGINS takes a `:`-separated list).
    #[arg(long, env = "QUARRY_PLUGINS", value_delimiter = ':')]
    pub plugins: Vec<PathBuf>,
    /// The script runner (script_runner.wasm) that runs JavaScript scripts [default:
    /// $QUARRY_SCRIPT_RUNNER, else the one `cargo plugins` built beside this executable].
    #[arg(long)]
    pub script_runner: Option<PathBuf>,
    /// The address people reach this server at, e.g. https://quarry.example.com when it
    /// sits behind a proxy: its host is answered to and pages from it may post.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Also answer to this host name (besides IP addresses, `localhost` and the public
    /// URL's host); repeatable. Requests for any other name are refused, which stops DNS
    /// rebinding.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// Let pages of this one origin (e.g. https://tools.example.com) call the API from
    /// their scripts (CORS). Without it no CORS headers are sent.
    #[arg(long, value_name = "ORIGIN")]
    pub cors_origin: Option<String>,
    /// Seconds a client may take to send a request's headers, or pause while sending its
    /// body, before its connection is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 15.0)]
    pub read_timeout: f64,
    /// `token`: every API call and page needs a token (`quarry users add`) or a signed-in
    /// session. `none`: whoever reaches the port may do anything, for one person on their
    /// own machine. [default: none on a loopback address; other addresses need token]
    #[arg(long, value_parser = ["token", "none"])]
    pub auth: Option<String>,
    /// Where plugins, snippets, users and the run history are kept: sqlite:PATH, or
    /// postgresql://… (PostgreSQL or CockroachDB) for several hosts behind a load balancer
    /// [default: the data directory's quarry.db].
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Serve /metrics, /healthz and /readyz on this address, and not on --bind.
    #[arg(long, value_name = "ADDRESS")]
    pub admin_bind: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub(crate) fn serve(
    data_dir: &Path,
    config: &Config,
    args: ServeArgs,
    tokio: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let limits = args.limits.apply(Limits::default())?;
    let runtime = Arc::new(runtime(data_dir, &limits)?);
    let sources = config.sources(data_dir).map_err(anyhow::Error::msg)?;
    let settings = quarry_server::Settings {
        max_upload: args.max_upload,
        limits,
        max_runs: args
            .max_runs
            .unwrap_or_else(quarry_server::default_max_runs),
        max_parallel: args
            .max_parallel
            .unwrap_or_else(quarry_engine::run::default_parallel)
            .max(1),
        max_queue: args.max_queue,
        max_runs_per_caller: args.max_runs_per_caller,
        max_runs_per_minute: args.max_runs_per_minute,
        max_answer_bytes: args.max_answer_bytes,
        memory_budget: args
            .memory_budget
            .unwrap_or_else(quarry_server::default_memory_budget),
        allowed: quarry_server::browser::Allowed::new(
            args.public_url.as_deref(),
            &args.allow_hosts,
            args.cors_origin.as_deref(),
        )?,
        read_timeout: std::time::Duration::try_from_secs_f64(args.read_timeout)
            .ok()
            .filter(|t| !t.is_zero())
            .context("--read-timeout must be a positive number of seconds")?,
        admin_apart: args.admin_bind.is_some(),
        auth: auth_mode(args.auth.as_deref(), args.bind)?,
        store: Some(quarry_server::StoreUrl::parse(
            data_dir,
            args.store.as_deref(),
        )?),
        ..Default::default()
    };
    let app = tokio
        .block_on(quarry_server::App::new(
            runtime, sources, data_dir, settings,
        ))
        .context("cannot open the store")?;
    match args.script_runner.or_else(script::find_runner) {
        Some(path) => {
            let wasm = std::fs::read(&path)
                .with_context(|| format!("cannot read the script runner {}", path.display()))?;
            tokio.block_on(app.install_runner(&wasm)).map_err(|e| {
                anyhow::anyhow!("the script runner {} was refused: {e}", path.display())
            })?;
        }
        None => eprintln!("warning: {}", script::NO_RUNNER),
    }
    for path in &args.plugins {
        let (added, refused) = tokio
            .block_on(app.preload(path, say_compiling))
            .with_context(|| format!("cannot read plugins from {}", path.display()))?;
        eprintln!("added {added} plugin(s) from {}", path.display());
        for (path, why) in refused {
            eprintln!("warning: {} was refused: {why}", path.display());
        }
    }
    // The first run should not wait for the demo database to be built.
    quarry_sources::demo::ensure(data_dir)?;
    let app = Arc::new(app);
    tokio.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        eprintln!("Quarry is serving on http://{}", listener.local_addr()?);
        // One signal stops both servers.
        let (stop, stopped) = tokio::sync::watch::channel(());
        let stopping = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.changed().await;
            }
        };
        let admin = match args.admin_bind {
            Some(address) => {
                let admin = tokio::net::TcpListener::bind(address)
                    .await
                    .with_context(|| format!("cannot listen on {address} (--admin-bind)"))?;
                eprintln!(
                    "metrics and health checks on http://{}",
                    admin.local_addr()?
                );
                Some(tokio::spawn(quarry_server::serve_router(
                    admin,
                    quarry_server::admin_router(app.clone()),
                    app.settings.read_timeout,
                    stopping(),
                )))
            }
            None => None,
        };
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(());
        });
        quarry_server::serve(listener, app, stopping()).await?;
        if let Some(admin) = admin {
            admin.await??;
        }
        eprintln!("stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `--auth`, or its default: none on loopback. Serving other addresses without tokens
/// would let anyone on the network at every configured database, so that is refused.
fn auth_mode(
    flag: Option<&str>,
    bind: std::net::SocketAddr,
) -> anyhow::Result<quarry_server::auth::AuthMode> {
    use quarry_server::auth::AuthMode;
    match flag {
        Some("token") => Ok(AuthMode::Token),
        Some(_) => Ok(AuthMode::None),
        None if bind.ip().is_loopback() => Ok(AuthMode::None),
        None => anyhow::bail!(
            "serving on {bind}, which is not a loopback address, needs --auth token: anyone \
             who reaches it could otherwise run queries on every configured source. Create \
             the first admin with `quarry users add NAME --role admin` (it prints their token), \
             then start with `quarry serve --bind {bind} --auth token`. (--auth none serves \
             it open, if that is what you mean.)"
        ),
    }
}

/// Ctrl+C, or SIGTERM (what `docker stop` sends).
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    eprintln!("shutting down: finishing the runs in progress…");
}
