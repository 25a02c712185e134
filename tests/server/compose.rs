//! docker-compose.yml, read as Compose reads it. No Docker engine runs here, so these tests
//! check what can go wrong without one: every source in the compose configuration names a
//! service that exists and listens on that port, the seed job seeds every one of them after
//! its server is healthy, and the `quarry` service is built here, configured with them, and
//! published on the one URL the README gives.

use crate::common;

use std::collections::BTreeSet;

use common::repo_root;
use quarry_sources::Backend;
use quarry_sources::config::Config;
use serde_yaml::Value;

fn compose() -> Value {
    let text = std::fs::read_to_string(repo_root().join("docker-compose.yml")).unwrap();
    let mut compose: Value = serde_yaml::from_str(&text).unwrap();
    compose.apply_merge().unwrap();
    compose
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("no service `{name}` in docker-compose.yml"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| s.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// The configuration file mounted into the `quarry` service, parsed as Quarry parses it.
fn mounted_config(quarry: &Value) -> Config {
    let path = quarry["environment"]["QUARRY_CONFIG"].as_str().unwrap();
    let volume = strings(&quarry["volumes"])
        .into_iter()
        .find(|v| v.split(':').nth(1) == Some(path))
        .unwrap_or_else(|| panic!("nothing is mounted at QUARRY_CONFIG ({path})"));
    let host_path = volume.split(':').next().unwrap();
    let text = std::fs::read_to_string(repo_root().join(host_path)).unwrap();
    Config::parse(&text).unwrap()
}

/// (host, port) a source connects to.
fn address(source: &quarry_sources::config::SourceConfig) -> (String, u16) {
    let hostport = match source.backend {
        Backend::Scylla => source.contact_points.as_ref().unwrap()[0].clone(),
        _ => {
            let url = source.url.as_deref().unwrap();
            let rest = url.split("://").nth(1).unwrap();
            let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
            rest.split(['/', '?']).next().unwrap().to_owned()
        }
    };
    let (host, port) = hostport.rsplit_once(':').unwrap();
    (host.to_owned(), port.parse().unwrap())
}

/// The port each image's server listens on inside its container.
fn container_port(image: &str) -> u16 {
    let name = image.split(':').next().unwrap();
    match name {
        "postgres" => 5432,
        "cockroachdb/cockroach" => 26257,
        "scylladb/scylla" => 9042,
        "mongo" => 27017,
        other => panic!("unexpected image {other}"),
    }
}

#[test]
fn every_configured_source_is_a_service_of_the_compose_file() {
    let compose = compose();
    let config = mounted_config(service(&compose, "quarry"));
    let backends: BTreeSet<&str> = config
        .sources
        .iter()
        .map(|s| match s.backend {
            Backend::Postgres => "postgres",
            Backend::Cockroach => "cockroach",
            Backend::Scylla => "scylla",
            Backend::Mongo => "mongo",
            Backend::Sqlite => "sqlite",
        })
        .collect();
    assert_eq!(
        backends,
        BTreeSet::from(["cockroach", "mongo", "postgres", "scylla"]),
        "one source per server backend, beside the embedded demo"
    );
    for source in &config.sources {
        let (host, port) = address(source);
        let server = service(&compose, &host);
        let image = server["image"].as_str().unwrap();
        assert_eq!(
            container_port(image),
            port,
            "source `{}` connects to {host}:{port}, where {image} does not listen",
            source.name
        );
        assert!(
            server.get("healthcheck").is_some(),
            "service `{host}` has no health check for the seed job to wait on"
        );
        if let Some(var) = &source.password_env {
            let env = &service(&compose, "quarry")["environment"];
            assert!(env.get(var.as_str()).is_some(), "{var} is not set");
        }
    }
}

#[test]
fn the_seed_job_seeds_every_source_once_its_server_is_healthy() {
    let compose = compose();
    let config = mounted_config(service(&compose, "quarry"));
    let seed = service(&compose, "seed");
    let command = strings(&seed["command"]);
    assert_eq!(command[..2], ["quarry", "seed"]);
    let seeded: BTreeSet<&str> = command
        .windows(2)
        .filter(|w| w[0] == "--source")
        .map(|w| w[1].as_str())
        .collect();
    let configured: BTreeSet<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(seeded, configured);
    for source in &config.sources {
        let (host, _) = address(source);
        // A server is ready when it is healthy, or (CockroachDB) when its database exists.
        let ready = [
            (host.clone(), "service_healthy"),
            (format!("{host}-init"), "service_completed_successfully"),
        ];
        assert!(
            ready.iter().any(|(name, condition)| {
                seed["depends_on"]
                    .get(name.as_str())
                    .is_some_and(|d| d["condition"].as_str() == Some(*condition))
            }),
            "the seed job does not wait for `{host}`"
        );
    }
    let init = service(&compose, "cockroach-init");
    assert_eq!(
        init["depends_on"]["cockroach"]["condition"].as_str(),
        Some("service_healthy")
    );
    assert!(
        strings(&init["command"])
            .join(" ")
            .contains("CREATE DATABASE IF NOT EXISTS nycflights13")
    );
}

#[test]
fn the_quarry_service_is_built_here_and_serves_one_url() {
    let compose = compose();
    let quarry = service(&compose, "quarry");
    assert_eq!(quarry["build"]["context"].as_str(), Some("."));
    let dockerfile = quarry["build"]["dockerfile"].as_str().unwrap();
    let dockerfile = std::fs::read_to_string(repo_root().join(dockerfile)).unwrap();
    assert!(dockerfile.contains("cargo build --release --locked -p quarry"));
    assert!(dockerfile.contains("/usr/local/bin/quarry"));
    // Scripts need the runner, built with clang for QuickJS, and the server told where it is.
    assert!(dockerfile.contains("clang-19 llvm-19 wasi-libc"));
    assert!(dockerfile.contains("QUARRY_SCRIPT_RUNNER=/usr/share/quarry/script_runner.wasm"));
    assert_eq!(
        strings(&quarry["command"]),
        [
            "quarry",
            "serve",
            "--bind",
            "0.0.0.0:8080",
            "--auth",
            "none"
        ]
    );
    // Open without tokens, so reachable from this machine only.
    assert_eq!(strings(&quarry["ports"]), ["127.0.0.1:8080:8080"]);
    assert_eq!(
        quarry["depends_on"]["seed"]["condition"].as_str(),
        Some("service_completed_successfully")
    );
    // No other service takes the playground's port on the host.
    for (name, s) in compose["services"].as_mapping().unwrap() {
        if name.as_str() != Some("quarry") {
            assert!(
                !strings(&s["ports"])
                    .iter()
                    .any(|p| p.starts_with("8080:") || p.starts_with("127.0.0.1:8080:")),
                "{name:?} publishes 8080"
            );
        }
    }
}

#[test]
fn images_are_pinned_to_a_release_line() {
    let compose = compose();
    for (name, s) in compose["services"].as_mapping().unwrap() {
        let image = s["image"].as_str().unwrap();
        let tag = image.split_once(':').map(|(_, t)| t);
        assert!(
            tag.is_some_and(|t| t != "latest"),
            "{name:?}: {image} floats; pin a version"
        );
    }
}
