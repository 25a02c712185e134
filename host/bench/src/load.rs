//! Load on a playground server over loopback HTTP: many clients running the same request
//! in turn, optionally with one hostile client among them. `quarry bench --isolation` and
//! the load test use it. It refuses any address that is not loopback.

use std::net::SocketAddr;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How much load.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Clients running at once, the hostile one included.
    pub clients: usize,
    /// Runs each well-behaved client makes, one after another.
    pub runs_per_client: usize,
}

/// What a load produced.
#[derive(Debug, Default)]
pub struct Report {
    /// Latencies of the well-behaved runs that succeeded, sorted.
    pub latencies: Vec<Duration>,
    /// Well-behaved runs that failed, and why.
    pub failures: Vec<String>,
    /// The hostile run's status and error kind.
    pub hostile: Option<(u16, String)>,
    /// From the start of the load to its last answer.
    pub wall: Duration,
}

impl Report {
    /// The `p`-th percentile latency (0 < p ≤ 100), nearest rank.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

/// Checks one well-behaved answer.
pub type Check = dyn Fn(&Value) -> Result<(), Mismatch> + Send + Sync;

/// A well-behaved answer that is not what its [`Check`] expects.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// Why a load could not run, or one of its requests failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Load is only ever put on loopback.
    #[error("load is only ever put on loopback, not {0}")]
    NotLoopback(SocketAddr),
    /// The request did not get an HTTP answer.
    #[error("{0}")]
    Http(#[from] ureq::Error),
    /// An answer that is not JSON.
    #[error("status {status}, not JSON: {message}")]
    NotJson {
        /// The answer's status.
        status: u16,
        /// The parser's words.
        message: String,
    },
    /// A well-behaved run that did not succeed.
    #[error("status {status}: {body}")]
    Failed {
        /// The answer's status.
        status: u16,
        /// Its body.
        body: Value,
    },
    /// A well-behaved run whose answer is wrong.
    #[error(transparent)]
    Mismatch(#[from] Mismatch),
    /// A client thread panicked.
    #[error("a load client panicked")]
    ClientPanicked,
}

/// Runs `load` against the server at `address`: every client but one posts `normal` to
/// `/api/runs` again and again; that one posts `hostile` once when given (otherwise it
/// behaves too). All start together.
pub fn run(
    address: SocketAddr,
    load: Load,
    normal: &str,
    check: Arc<Check>,
    hostile: Option<&str>,
) -> Result<Report, LoadError> {
    if !address.ip().is_loopback() {
        return Err(LoadError::NotLoopback(address));
    }
    let clients = load.clients.max(1);
    let start = Arc::new(Barrier::new(clients));
    let began = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let start = start.clone();
            let check = check.clone();
            let normal = normal.to_owned();
            let hostile = hostile.filter(|_| client == 0).map(str::to_owned);
            std::thread::spawn(move || {
                start.wait();
                let mut mine = Report::default();
                if let Some(body) = hostile {
                    mine.hostile = Some(match post(address, "/api/runs", &body) {
                        Ok((status, answer)) => (status, error_kind(&answer)),
                        Err(e) => (0, e.to_string()),
                    });
                    return mine;
                }
                for _ in 0..load.runs_per_client {
                    let sent = Instant::now();
                    let outcome =
                        post(address, "/api/runs", &normal).and_then(|(status, answer)| {
                            let value: Value = serde_json::from_slice(&answer).map_err(|e| {
                                LoadError::NotJson {
                                    status,
                                    message: e.to_string(),
                                }
                            })?;
                            if status != 200 {
                                return Err(LoadError::Failed {
                                    status,
                                    body: value,
                                });
                            }
                            Ok(check(&value)?)
                        });
                    match outcome {
                        Ok(()) => mine.latencies.push(sent.elapsed()),
                        Err(e) => mine.failures.push(e.to_string()),
                    }
                }
                mine
            })
        })
        .collect();
    let mut report = Report::default();
    for thread in threads {
        let mine = thread.join().map_err(|_| LoadError::ClientPanicked)?;
        report.latencies.extend(mine.latencies);
        report.failures.extend(mine.failures);
        report.hostile = report.hostile.or(mine.hostile);
    }
    report.wall = began.elapsed();
    report.latencies.sort();
    Ok(report)
}

fn error_kind(answer: &[u8]) -> String {
    serde_json::from_slice::<Value>(answer)
        .ok()
        .and_then(|v| v["error"]["kind"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(answer).chars().take(200).collect())
}

/// One HTTP POST of a JSON body on a fresh connection, the way a page's fetch without
/// keep-alive goes: (status, body).
pub fn post(address: SocketAddr, path: &str, body: &str) -> Result<(u16, Vec<u8>), LoadError> {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    let agent = AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            // Every status is an answer to read, not an error.
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .max_idle_connections(0)
            // Loopback only: never a proxy from the environment.
            .proxy(None)
            .build()
            .into()
    });
    let mut answer = agent
        .post(format!("http://{address}{path}"))
        .content_type("application/json")
        .send(body)?;
    let status = answer.status().as_u16();
    let body = answer
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()?;
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let report = Report {
            latencies: (1..=100).map(Duration::from_millis).collect(),
            ..Report::default()
        };
        assert_eq!(report.percentile(50.0), Duration::from_millis(50));
        assert_eq!(report.percentile(99.0), Duration::from_millis(99));
        assert_eq!(report.percentile(100.0), Duration::from_millis(100));
    }

    #[test]
    fn only_loopback_is_ever_loaded() {
        let load = Load {
            clients: 1,
            runs_per_client: 1,
        };
        let error = run(
            "192.0.2.1:80".parse().unwrap(),
            load,
            "{}",
            Arc::new(|_: &Value| Ok(())),
            None,
        )
        .unwrap_err();
        assert!(matches!(error, LoadError::NotLoopback(_)), "{error}");
    }
}

/// The isolation scenario: the same load three times — all well-behaved, then with one
/// client whose plugin loops forever, then with one whose plugin eats memory.
#[derive(Debug)]
pub struct Isolation {
    /// Every client well-behaved.
    pub baseline: Report,
    /// One client's plugin loops forever.
    pub looping: Report,
    /// One client's plugin eats memory.
    pub hoarding: Report,
}

/// Runs the isolation scenario against a server whose library holds the `units` and
/// `hostile` plugins (by SHA-256). A well-behaved run converts units on 5,000 flights.
pub fn isolation(
    address: SocketAddr,
    load: Load,
    units: &str,
    hostile: &str,
) -> Result<Isolation, LoadError> {
    let normal = serde_json::json!({
        "source": "demo", "plugin": units, "limit": 5000,
        "query": "SELECT carrier, distance, air_time FROM flights LIMIT 5000",
    })
    .to_string();
    let check: Arc<Check> = Arc::new(|answer: &Value| {
        let rows = answer["rows"].as_array().map_or(0, Vec::len);
        let converted = answer["columns"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["name"] == "speed_kmh"));
        if rows == 5000 && converted {
            Ok(())
        } else {
            Err(Mismatch(format!("{rows} rows, converted: {converted}")))
        }
    });
    let attack = |kind: &str| {
        serde_json::json!({
            "source": "demo", "plugin": hostile, "params": {"attack": kind},
            "query": "SELECT carrier FROM flights LIMIT 10",
        })
        .to_string()
    };
    Ok(Isolation {
        baseline: run(address, load, &normal, check.clone(), None)?,
        looping: run(address, load, &normal, check.clone(), Some(&attack("loop")))?,
        hoarding: run(address, load, &normal, check, Some(&attack("alloc")))?,
    })
}
