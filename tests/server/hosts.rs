//! Several `quarry serve` processes on one store: three hosts on one PostgreSQL store
//! behind nginx with 64 clients (uploads on one host, runs and snippets on the others),
//! a host killed mid-run, a cancel sent to another host, PostgreSQL restarted under
//! load, and two hosts plus `quarry users` writing one SQLite file at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// A `quarry serve` process.
struct Host {
    child: Child,
    address: SocketAddr,
    /// What it wrote to stderr, for failure messages.
    log: Arc<Mutex<Vec<String>>>,
}

impl Host {
    /// Starts a host on `store`; does not wait for it (see [`Host::ready`]), so that hosts
    /// started together migrate the store together.
    fn spawn(store: &str) -> Child {
        Host::spawn_with(store, &[])
    }

    fn spawn_with(store: &str, args: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_quarry"))
            .args(["serve", "--bind", "127.0.0.1:0", "--store", store])
            .args(args)
            .args(["--max-runs-per-caller", "1000"])
            .args(["--max-runs-per-minute", "1000000"])
            .env("QUARRY_DATA", data_dir())
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Waits until `child` says where it serves.
    fn ready(mut child: Child) -> Host {
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        let address = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(a) = line.strip_prefix("Quarry is serving on http://") {
                        break a.parse().unwrap();
                    }
                    seen.push(line);
                }
                _ => panic!("the host did not start: {}", seen.join("\n")),
            }
        };
        let log = Arc::new(Mutex::new(seen));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Host {
            child,
            address,
            log,
        }
    }

    fn start(store: &str) -> Host {
        Host::ready(Host::spawn(store))
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP/1.0 exchange (the answer is delimited by the connection's end, so no chunks).
fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP answer"))?;
    let status = std::str::from_utf8(&answer[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    Ok((status, answer[split + 4..].to_vec()))
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn post(address: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let (status, bytes) = http(address, "POST", path, &[JSON], body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("POST {path} to {address}: {e}"));
    (status, parse(&bytes))
}

fn get(address: SocketAddr, path: &str) -> (u16, Value) {
    let (status, bytes) = http(address, "GET", path, &[], b"")
        .unwrap_or_else(|e| panic!("GET {path} from {address}: {e}"));
    (status, parse(&bytes))
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| json!({"not json": String::from_utf8_lossy(bytes)}))
}

fn upload(address: SocketAddr, name: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let wasm = std::fs::read(plugin_path(name)).unwrap();
    let mut all = vec![("Content-Type", "application/wasm")];
    all.extend_from_slice(headers);
    let (status, bytes) = http(address, "POST", "/api/plugins", &all, &wasm).unwrap();
    (status, parse(&bytes))
}

/// A fresh schema `name` in the test PostgreSQL database, and the store URL that uses it;
/// `None` (the test is skipped) without a test PostgreSQL outside CI.
fn postgres_store(name: &str) -> Option<String> {
    let url = live_server(
        &["QUARRY_TEST_POSTGRES_URL"],
        "a PostgreSQL the hosts share as their store (scripts/postgres.sh)",
    )?;
    Some(fresh_schema(&url, name))
}

/// `url` with its search path set to a new, empty schema `name`.
fn fresh_schema(url: &str, name: &str) -> String {
    tokio().block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name};"
            ))
            .await
            .unwrap();
    });
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{name}")
}

/// nginx in front of `upstreams`, from a config of its own in a temporary directory.
struct Nginx {
    child: Child,
    address: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(upstreams: &[SocketAddr]) -> Option<Nginx> {
        let program = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(program) = program else {
            live_server(
                &["QUARRY_TEST_NGINX"],
                "nginx (apt-get install nginx) as the hosts' load balancer",
            )?;
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        // nginx's workers run as `nobody` when started as root: they write their temporary
        // files here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path().display();
        let servers: String = upstreams
            .iter()
            .map(|a| format!("server {a} max_fails=1 fail_timeout=60s;\n"))
            .collect();
        let config = format!(
            "daemon off;
             worker_processes 1;
             pid {d}/nginx.pid;
             error_log {d}/error.log warn;
             events {{ worker_connections 1024; }}
             http {{
                 access_log off;
                 client_body_temp_path {d}/body;
                 proxy_temp_path {d}/proxy;
                 fastcgi_temp_path {d}/fastcgi;
                 uwsgi_temp_path {d}/uwsgi;
                 scgi_temp_path {d}/scgi;
                 upstream quarry {{ {servers} keepalive 32; }}
                 server {{
                     listen 127.0.0.1:{port};
                     client_max_body_size 64m;
                     location / {{
                         proxy_pass http://quarry;
                         proxy_http_version 1.1;
                         proxy_set_header Connection \"\";
                         proxy_set_header Host $http_host;
                         proxy_buffering off;
                         proxy_read_timeout 120s;
                     }}
                 }}
             }}"
        );
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, config).unwrap();
        let child = Command::new(program)
            .arg("-c")
            .arg(&file)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(address).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Nginx {
            child,
            address,
            _dir: dir,
        })
    }
}

impl Drop for Nginx {
    /// A fast shutdown: the master stops its workers, then itself.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// What a load of `clients` × `runs` gave: answers by status, and each run's latency.
#[derive(Default)]
struct Tally {
    statuses: std::collections::BTreeMap<u16, usize>,
    latencies: Vec<Duration>,
    snippets: Vec<(String, Value)>,
    elapsed: Duration,
}

impl Tally {
    fn ok(&self) -> usize {
        self.statuses.get(&200).copied().unwrap_or(0)
    }

    fn p99(&mut self) -> Duration {
        self.latencies.sort();
        let i = (self.latencies.len() * 99 / 100).min(self.latencies.len().saturating_sub(1));
        self.latencies.get(i).copied().unwrap_or_default()
    }

    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// `clients` threads, each running the plugin `runs` times against `address` (and, with
/// `share`, saving a snippet of its own before each run); a run that gets no HTTP answer
/// counts as status 0.
fn load(address: SocketAddr, clients: usize, runs: usize, plugin: &str, share: bool) -> Tally {
    // Each load's snippets differ from every other load's.
    static LOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let load = LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let plugin = plugin.to_owned();
            std::thread::spawn(move || {
                let mut tally = Tally::default();
                for i in 0..runs {
                    let params = json!({"origin": "JFK", "dest": "LAX", "load": load,
                                        "client": client, "i": i});
                    if share {
                        let snippet = json!({"source": "demo", "plugin": plugin,
                                             "params": params, "query": null});
                        let (status, answer) = post(address, "/api/snippets", &snippet);
                        assert!(status == 201 || status == 200, "{status} {answer}");
                        let id = answer["id"].as_str().unwrap().to_owned();
                        tally.snippets.push((id, snippet));
                    }
                    let run = json!({"source": "demo", "plugin": plugin,
                                     "params": {"origin": "JFK", "dest": "LAX"}, "limit": 5});
                    let start = Instant::now();
                    let status = match http(
                        address,
                        "POST",
                        "/api/runs",
                        &[JSON],
                        run.to_string().as_bytes(),
                    ) {
                        Ok((200, body)) => {
                            let answer = parse(&body);
                            assert_eq!(
                                answer["rows"].as_array().map(Vec::len),
                                Some(5),
                                "{answer}"
                            );
                            200
                        }
                        Ok((status, _)) => status,
                        Err(_) => 0,
                    };
                    tally.latencies.push(start.elapsed());
                    *tally.statuses.entry(status).or_default() += 1;
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for thread in threads {
        let tally = thread.join().unwrap();
        for (status, n) in tally.statuses {
            *all.statuses.entry(status).or_default() += n;
        }
        all.latencies.extend(tally.latencies);
        all.snippets.extend(tally.snippets);
    }
    all.elapsed = started.elapsed();
    all
}

/// Checks that every one of `snippets` (saved on any host) opens whole on each of `hosts`.
fn every_snippet_opens_whole(hosts: &[SocketAddr], snippets: &[(String, Value)]) {
    for host in hosts {
        for (id, snippet) in snippets {
            let (status, answer) = get(*host, &format!("/api/snippets/{id}"));
            assert_eq!(status, 200, "{answer}");
            assert_eq!(&answer["snippet"], snippet, "snippet {id} on {host}");
        }
    }
}

/// Starts a run of the hostile plugin that sleeps a minute per batch, on `address`, as an
/// event stream; returns the stream (past the headers) and the run's id.
fn slow_run(address: SocketAddr, hostile: &str) -> (BufReader<TcpStream>, String) {
    let body = json!({"source": "demo", "plugin": hostile,
                      "params": {"attack": "slow", "ms": 60_000},
                      "query": "SELECT * FROM flights"})
    .to_string();
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "POST /api/runs?format=events HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    // The headers, then the first event: `started`, with the run's id.
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        assert!(!line.is_empty(), "no answer to the slow run");
    }
    line.clear();
    reader.read_line(&mut line).unwrap();
    let started: Value = serde_json::from_str(&line).unwrap();
    let id = started["run"].as_str().unwrap_or_else(|| panic!("{line}"));
    (reader, id.to_owned())
}

#[test]
fn three_hosts_on_one_postgresql_store_behind_nginx_share_everything_under_load() {
    let _postgres = shared(&POSTGRES);
    let Some(store) = postgres_store("quarry_hosts") else {
        return;
    };
    // Started together: they migrate the empty store at the same moment.
    let children: Vec<Child> = (0..3).map(|_| Host::spawn(&store)).collect();
    let hosts: Vec<Host> = children.into_iter().map(Host::ready).collect();
    let [a, b, c] = [hosts[0].address, hosts[1].address, hosts[2].address];

    // A plugin uploaded on A is listed on B and runs on C, which compiles it itself.
    let (status, uploaded) = upload(a, "flights_between", &[]);
    assert_eq!(status, 201, "{uploaded}");
    let between = uploaded["plugin"]["sha256"].as_str().unwrap().to_owned();
    let (_, listed) = get(b, "/api/plugins");
    assert_eq!(listed["plugins"][0]["sha256"], json!(between), "{listed}");
    let run = json!({"source": "demo", "plugin": between,
                     "params": {"origin": "JFK", "dest": "LAX"}, "limit": 3});
    let (status, answer) = post(c, "/api/runs", &run);
    assert_eq!(status, 200, "{answer}\n{}", hosts[2].log());
    assert_eq!(answer["rows"].as_array().unwrap().len(), 3);

    // An upload compiled in the background on A is followed on B.
    let (status, compiling) = upload(a, "hostile", &[("Prefer", "respond-async")]);
    assert!(status == 202 || status == 201, "{status} {compiling}");
    let hostile = compiling["sha256"]
        .as_str()
        .or(compiling["plugin"]["sha256"].as_str())
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let (status, state) = get(b, &format!("/api/uploads/{hostile}"));
        assert!(status == 200 || status == 201, "{status} {state}");
        if state["status"] == json!("done") {
            break state;
        }
        assert!(
            Instant::now() < deadline,
            "the upload never finished: {state}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(done["plugin"]["sha256"], json!(hostile));

    // A cancel sent to B stops the run on A.
    let (mut events, id) = slow_run(a, &hostile);
    let asked = Instant::now();
    let (status, bytes) = http(b, "POST", &format!("/api/runs/{id}/cancel"), &[], b"").unwrap();
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&bytes));
    let mut rest = String::new();
    events.read_to_string(&mut rest).unwrap();
    let last: Value = serde_json::from_str(rest.lines().last().unwrap()).unwrap();
    assert_eq!(last["error"]["kind"], json!("cancelled"), "{rest}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "the cancel took {:?}",
        asked.elapsed()
    );
    // Once its host has forgotten it (just after its last event), a cancel of the ended
    // run finds nothing on any host.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _) = http(c, "POST", &format!("/api/runs/{id}/cancel"), &[], b"").unwrap();
        if status == 404 {
            break;
        }
        assert_eq!(status, 204);
        assert!(Instant::now() < deadline, "the ended run is still listed");
        std::thread::sleep(Duration::from_millis(50));
    }

    let Some(nginx) = Nginx::start(&[a, b, c]) else {
        return;
    };
    // One host alone, then three behind nginx: the same 64 clients, the same runs.
    let mut one = load(a, 64, 5, &between, false);
    assert_eq!(one.ok(), 320, "{:?}", one.statuses);
    // 64 clients through nginx save snippets and run the plugin on all three hosts.
    let mut three = load(nginx.address, 64, 5, &between, true);
    assert_eq!(three.ok(), 320, "{:?}", three.statuses);
    eprintln!(
        "load, 64 clients × 5 runs: one host {:.0} runs/s, p99 {:?}; three hosts behind nginx {:.0} runs/s, p99 {:?}",
        one.per_second(),
        one.p99(),
        three.per_second(),
        three.p99()
    );
    every_snippet_opens_whole(&[a, b, c], &three.snippets);
    // The history has every host's runs; the admin (everyone, without tokens) sees them.
    let (_, history) = get(b, "/api/history?limit=500");
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 500, "{history}");

    // A host killed mid-run loses that run; the others keep answering through nginx.
    let (mut doomed, _) = slow_run(c, &hostile);
    let killer = {
        let pid = hosts[2].child.id();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            let killed = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .unwrap();
            assert!(killed.success());
        })
    };
    let during = load(nginx.address, 64, 5, &between, false);
    killer.join().unwrap();
    let mut rest = String::new();
    let _ = doomed.read_to_string(&mut rest);
    assert!(
        !rest.contains("\"done\""),
        "the killed host's run cannot have finished: {rest}"
    );
    // Requests that C had in hand when it died get nginx's 502 (one per client, and one
    // per keep-alive connection nginx held to C); nothing else fails.
    let failed: usize = during
        .statuses
        .iter()
        .filter(|(status, _)| **status != 200)
        .map(|(_, n)| n)
        .sum();
    assert!(
        during.statuses.keys().all(|s| *s == 200 || *s == 502) && failed <= 64 + 32,
        "{:?}",
        during.statuses
    );
    eprintln!("answers while host C was killed: {:?}", during.statuses);
    // nginx learns that C is gone only by trying it, once per worker: a keep-alive
    // connection it still held to C may give one more 502 here when C had nothing in hand
    // as it died (each worker then leaves C out for a minute).
    let after = load(nginx.address, 8, 5, &between, false);
    let late: usize = after
        .statuses
        .iter()
        .filter(|(status, _)| **status != 200)
        .map(|(_, n)| n)
        .sum();
    assert!(
        after.statuses.keys().all(|s| *s == 200 || *s == 502) && failed + late <= 64 + 32,
        "{:?}",
        after.statuses
    );
    // From then on, everything succeeds.
    let settled = load(nginx.address, 8, 5, &between, false);
    assert_eq!(settled.ok(), 40, "{:?}", settled.statuses);
    for host in [a, b] {
        let (_, listed) = get(host, "/api/plugins");
        assert_eq!(listed["plugins"].as_array().unwrap().len(), 2, "{listed}");
    }
}

#[test]
fn hosts_answer_503_while_the_postgresql_store_restarts_and_recover_by_themselves() {
    let _postgres = exclusive(&POSTGRES);
    let Some(store) = postgres_store("quarry_restart") else {
        return;
    };
    let Some(restart) = server_control("QUARRY_TEST_POSTGRES_RESTART") else {
        return;
    };
    let hosts = [Host::start(&store), Host::start(&store)];
    let (status, uploaded) = upload(hosts[0].address, "flights_between", &[]);
    assert_eq!(status, 201, "{uploaded}");
    let between = uploaded["plugin"]["sha256"].as_str().unwrap().to_owned();
    let addresses: Vec<SocketAddr> = hosts.iter().map(|h| h.address).collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let (address, stop, plugin) = (addresses[i % 2], stop.clone(), between.clone());
            std::thread::spawn(move || {
                let mut seen = std::collections::BTreeMap::<String, usize>::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let run = json!({"source": "demo", "plugin": plugin,
                                     "params": {"origin": "JFK", "dest": "LAX"}, "limit": 2});
                    let (status, answer) = post(address, "/api/runs", &run);
                    let kind = answer["error"]["kind"].as_str().unwrap_or("ok");
                    *seen.entry(format!("{status} {kind}")).or_default() += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    control_server(&restart, "");
    // Both hosts answer again by themselves, reads and writes.
    let deadline = Instant::now() + Duration::from_secs(30);
    for address in &addresses {
        loop {
            let (status, _) = post(
                *address,
                "/api/snippets",
                &json!({"source": "demo", "plugin": between, "params": {}, "query": null}),
            );
            if status == 200 || status == 201 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{address} did not recover: {status}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for client in clients {
        for (answer, n) in client.join().unwrap() {
            *seen.entry(answer).or_default() += n;
        }
    }
    eprintln!("answers while the store restarted: {seen:?}");
    assert!(
        seen.keys()
            .all(|a| a == "200 ok" || a == "503 store_unavailable"),
        "{seen:?}"
    );
    assert!(seen.contains_key("503 store_unavailable"), "{seen:?}");
    for address in &addresses {
        let (status, ready) = get(*address, "/readyz");
        assert_eq!(status, 200, "{ready}");
    }
}

#[test]
fn two_hosts_and_the_users_command_write_one_sqlite_store_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("shared.db").display());
    let hosts = [Host::start(&store), Host::start(&store)];
    let (status, uploaded) = upload(hosts[0].address, "flights_between", &[]);
    assert_eq!(status, 201, "{uploaded}");
    let between = uploaded["plugin"]["sha256"].as_str().unwrap().to_owned();
    let adders: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                Command::new(env!("CARGO_BIN_EXE_quarry"))
                    .args(["users", "add", &format!("user{i}"), "--role", "viewer"])
                    .args(["--store", &store])
                    .output()
                    .unwrap()
            })
        })
        .collect();
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let (address, plugin) = (hosts[i % 2].address, between.clone());
            std::thread::spawn(move || {
                let tally = load(address, 1, 10, &plugin, true);
                assert_eq!(tally.ok(), 10, "{:?}", tally.statuses);
                tally.snippets
            })
        })
        .collect();
    let snippets: Vec<(String, Value)> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    for adder in adders {
        let output = adder.join().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(snippets.len(), 160);
    every_snippet_opens_whole(&[hosts[0].address, hosts[1].address], &snippets);
    let listed = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["users", "list", "--store", &store])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(listed.lines().count(), 4, "{listed}");
    let (_, history) = get(hosts[1].address, "/api/history?limit=500");
    assert_eq!(history["runs"].as_array().unwrap().len(), 160, "{history}");
}

#[test]
fn users_and_sessions_live_in_a_postgresql_store_for_every_host() {
    let _postgres = shared(&POSTGRES);
    let Some(store) = postgres_store("quarry_users") else {
        return;
    };
    let quarry = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_quarry"))
            .args(args)
            .args(["--store", &store])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let token = quarry(&["users", "add", "ada", "--role", "author"]);
    let token = token.lines().last().unwrap().to_owned();
    quarry(&["users", "add", "grace", "--role", "viewer"]);
    let hosts = [
        Host::ready(Host::spawn_with(&store, &["--auth", "token"])),
        Host::ready(Host::spawn_with(&store, &["--auth", "token"])),
    ];
    let bearer = format!("Bearer {token}");
    for host in &hosts {
        let (status, _) = http(host.address, "GET", "/api/sources", &[], b"").unwrap();
        assert_eq!(status, 401);
        let (status, body) = http(
            host.address,
            "GET",
            "/api/sources",
            &[("Authorization", &bearer)],
            b"",
        )
        .unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    // A session made on one host is good on the other.
    let form = format!("token={token}");
    let (status, _) = http(
        hosts[0].address,
        "POST",
        "/signin",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 303);
    let mut stream = TcpStream::connect(hosts[0].address).unwrap();
    write!(
        stream,
        "POST /signin HTTP/1.0\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        hosts[0].address,
        form.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let cookie = answer
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned();
    let (status, _) = http(
        hosts[1].address,
        "GET",
        "/api/sources",
        &[("Cookie", &cookie)],
        b"",
    )
    .unwrap();
    assert_eq!(status, 200);
    // Removed on the command line: refused on every host at once.
    quarry(&["users", "remove", "ada"]);
    for host in &hosts {
        let (status, _) = http(
            host.address,
            "GET",
            "/api/sources",
            &[("Authorization", &bearer)],
            b"",
        )
        .unwrap();
        assert_eq!(status, 401);
    }
    let listed = quarry(&["users", "list"]);
    assert!(listed.starts_with("grace\tviewer"), "{listed}");
}

/// CockroachDB cannot run here (no Docker): this runs when QUARRY_TEST_COCKROACH_URL names
/// one (`docker compose up cockroach`: postgresql://root@127.0.0.1:26257/defaultdb).
#[test]
fn two_hosts_share_a_cockroachdb_store() {
    let Ok(url) = std::env::var("QUARRY_TEST_COCKROACH_URL") else {
        eprintln!(
            "skipped: set QUARRY_TEST_COCKROACH_URL to run the CockroachDB store test (docker compose up cockroach)"
        );
        return;
    };
    let store = fresh_schema(&url, "quarry_hosts");
    let children: Vec<Child> = (0..2).map(|_| Host::spawn(&store)).collect();
    let hosts: Vec<Host> = children.into_iter().map(Host::ready).collect();
    let (status, uploaded) = upload(hosts[0].address, "flights_between", &[]);
    assert_eq!(status, 201, "{uploaded}");
    let between = uploaded["plugin"]["sha256"].as_str().unwrap().to_owned();
    let tally = load(hosts[1].address, 8, 5, &between, true);
    assert_eq!(tally.ok(), 40, "{:?}", tally.statuses);
    every_snippet_opens_whole(&[hosts[0].address], &tally.snippets);
    let (_, history) = get(hosts[0].address, "/api/history?limit=100");
    assert_eq!(history["runs"].as_array().unwrap().len(), 40, "{history}");
}
