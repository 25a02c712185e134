//! Who may do what: with `--auth token`, every role against every endpoint (allowed, or
//! refused with 401/403 before anything runs), the viewer's runs, sources restricted to
//! roles, the sign-in form and its cookie, and tokens kept out of logs and answers.

use std::net::SocketAddr;
use std::sync::Arc;

use quarry_server::Settings;
use quarry_server::auth::AuthMode;
use quarry_server::users::Role;
use quarry_sources::config::SourceSettings;
use serde_json::{Value, json};

use crate::common::*;
use crate::cross_origin::{header, send};

/// A token-mode server with one user per role (their tokens by role), the `units`
/// and `flights-between` plugins, and a source `restricted` only admins may use.
struct Team {
    address: SocketAddr,
    tokens: Vec<(Role, String)>,
    units: String,
    between: String,
    _store: tempfile::TempDir,
}

fn team() -> Team {
    let store = tempfile::tempdir().unwrap();
    let settings = Settings {
        auth: AuthMode::Token,
        ..Settings::default()
    };
    let mut sources = quarry_sources::Sources::with_demo(data_dir());
    sources.insert(
        Arc::new(quarry_sources::sqlite::SqliteSource::new(
            "restricted",
            demo_db(),
        )),
        SourceSettings {
            roles: Some(vec!["admin".into()]),
            ..Default::default()
        },
    );
    let runtime = quarry_runtime::Runtime::new(quarry_runtime::RuntimeConfig {
        cache_dir: Some(data_dir().join("cache")),
        ..Default::default()
    })
    .unwrap();
    let app = tokio()
        .block_on(quarry_server::App::new(
            Arc::new(runtime),
            sources,
            store.path(),
            settings,
        ))
        .unwrap();
    let add = |name: &str| store_plugin(&app, name);
    let (units, between) = (add("units"), add("flights_between"));
    let runner = std::fs::read(plugin_path("script_runner")).unwrap();
    tokio().block_on(app.install_runner(&runner)).unwrap();
    let tokens = Role::ALL
        .into_iter()
        .map(|role| {
            let token = tokio().block_on(app.users.add(role.name(), role));
            (role, token.unwrap())
        })
        .collect();
    let address = serve_app(Arc::new(app));
    Team {
        address,
        tokens,
        units,
        between,
        _store: store,
    }
}

impl Team {
    fn token(&self, role: Role) -> &str {
        &self.tokens.iter().find(|(r, _)| *r == role).unwrap().1
    }

    /// `method path` with `body` (JSON unless it starts with `\0asm`) as `role`, or
    /// with no token.
    fn call(&self, role: Option<Role>, method: &str, path: &str, body: &str) -> (u16, String) {
        let bearer = role.map(|r| format!("Bearer {}", self.token(r)));
        let content_type = if body.starts_with("\0asm") {
            "application/wasm"
        } else {
            "application/json"
        };
        let mut headers = vec![("Content-Type", content_type)];
        if let Some(bearer) = &bearer {
            headers.push(("Authorization", bearer));
        }
        send(
            self.address,
            method,
            path,
            &self.address.to_string(),
            &headers,
            body,
        )
    }
}

fn json_of(answer: &str) -> Value {
    serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default()).unwrap_or(Value::Null)
}

#[test]
fn every_role_against_every_endpoint() {
    let team = team();
    let (units, between) = (&team.units, &team.between);
    // A wasm header alone: the role check comes before the upload's.
    let upload = "\0asm\u{1}\0\0\0".to_owned();
    let run_query = json!({"source": "demo", "query": "SELECT 1 AS one"}).to_string();
    let run_stored = json!({"source": "demo", "plugin": between, "params":
        {"origin": "JFK", "dest": "LAX", "from": "2013-03-01", "to": "2013-03-02"}})
    .to_string();
    let run_script = json!({"source": "demo", "script":
        "export function transform(rows) { return rows; }", "query": "SELECT 1 AS one"})
    .to_string();
    let snippet =
        json!({"source": "demo", "plugin": null, "params": {}, "query": "SELECT 2 AS two"})
            .to_string();
    let script =
        json!({"script": "// keep\nexport function transform(rows) { return rows; }"}).to_string();
    let endpoints: Vec<(&str, String, String, Role)> = vec![
        ("GET", "/api/sources".into(), String::new(), Role::Viewer),
        ("GET", "/api/plugins".into(), String::new(), Role::Viewer),
        (
            "GET",
            format!("/api/plugins/{units}"),
            String::new(),
            Role::Viewer,
        ),
        (
            "GET",
            format!("/api/plugins/{units}/wasm"),
            String::new(),
            Role::Viewer,
        ),
        (
            "GET",
            format!("/api/uploads/{units}"),
            String::new(),
            Role::Viewer,
        ),
        (
            "GET",
            "/api/snippets/0123456789abcdef".into(),
            String::new(),
            Role::Viewer,
        ),
        (
            "GET",
            "/api/openapi.json".into(),
            String::new(),
            Role::Viewer,
        ),
        ("POST", "/api/runs".into(), run_stored, Role::Viewer),
        (
            "POST",
            "/api/runs/0123456789abcdef/cancel".into(),
            String::new(),
            Role::Viewer,
        ),
        ("POST", "/api/runs".into(), run_query, Role::Author),
        ("POST", "/api/runs".into(), run_script, Role::Author),
        ("POST", "/api/plugins".into(), upload, Role::Author),
        ("POST", "/api/scripts".into(), script, Role::Author),
        ("POST", "/api/snippets".into(), snippet, Role::Author),
        ("GET", "/api/history".into(), String::new(), Role::Viewer),
        ("GET", "/api/users".into(), String::new(), Role::Admin),
        (
            "POST",
            "/api/users".into(),
            r#"{"name": "new", "role": "viewer"}"#.into(),
            Role::Admin,
        ),
        (
            "DELETE",
            "/api/users/nobody".into(),
            String::new(),
            Role::Admin,
        ),
        (
            "DELETE",
            "/api/snippets/0123456789abcdef".into(),
            String::new(),
            Role::Admin,
        ),
        // Last: the admin's call deletes it.
        (
            "DELETE",
            format!("/api/plugins/{units}"),
            String::new(),
            Role::Admin,
        ),
    ];
    for (method, path, body, least) in &endpoints {
        let (status, answer) = team.call(None, method, path, body);
        assert_eq!(status, 401, "{method} {path} without a token: {answer}");
        assert_eq!(header(&answer, "www-authenticate"), Some("Bearer"));
        for role in Role::ALL {
            let (status, answer) = team.call(Some(role), method, path, body);
            if role >= *least {
                assert!(
                    status != 401 && status != 403,
                    "{method} {path} as {role:?} should be allowed: {answer}"
                );
            } else {
                assert_eq!(status, 403, "{method} {path} as {role:?}: {answer}");
                assert_eq!(json_of(&answer)["error"]["kind"], json!("forbidden"));
            }
        }
    }
    // A wrong token is not the same as none.
    let wrong = [("Authorization", "Bearer qry_not-a-token")];
    let (status, answer) = send(
        team.address,
        "GET",
        "/api/sources",
        &team.address.to_string(),
        &wrong,
        "",
    );
    assert_eq!(
        (status, json_of(&answer)["error"]["kind"].clone()),
        (401, json!("bad_token"))
    );
}

#[test]
fn a_viewer_runs_stored_plugins_and_saved_snippets_only() {
    let team = team();
    let saved = json!({"name": "Two", "source": "demo", "plugin": null, "params": {}, "query": "SELECT 2 AS two"});
    let (status, answer) = team.call(
        Some(Role::Author),
        "POST",
        "/api/snippets",
        &saved.to_string(),
    );
    assert!(status == 201 || status == 200, "{answer}");
    let run_saved = json!({"source": "demo", "query": "SELECT 2 AS two"});
    let (status, answer) = team.call(
        Some(Role::Viewer),
        "POST",
        "/api/runs",
        &run_saved.to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(json_of(&answer)["rows"], json!([[2]]));
    // The same run with its query changed is no longer the saved one.
    let changed = json!({"source": "demo", "query": "SELECT 3 AS two"});
    assert_eq!(
        team.call(
            Some(Role::Viewer),
            "POST",
            "/api/runs",
            &changed.to_string()
        )
        .0,
        403
    );
    // A stored plugin with a query of the viewer's own is a free-form query.
    let own_query =
        json!({"source": "demo", "plugin": team.units, "query": "SELECT * FROM flights LIMIT 1"});
    assert_eq!(
        team.call(
            Some(Role::Viewer),
            "POST",
            "/api/runs",
            &own_query.to_string()
        )
        .0,
        403
    );
    // A pipeline of stored plugins is a viewer's to run; one with a script of its own is not.
    let route = json!({"origin": "JFK", "dest": "LAX"});
    let stored = json!({"source": "demo", "pipeline": [
        {"plugin": team.between, "params": route}, {"plugin": team.units}]});
    let (status, answer) = team.call(Some(Role::Viewer), "POST", "/api/runs", &stored.to_string());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(json_of(&answer)["steps"][1]["name"], json!("units"));
    let scripted = json!({"source": "demo", "pipeline": [
        {"plugin": team.between, "params": route}, {"script": "function transform(rows) {}"}]});
    assert_eq!(
        team.call(
            Some(Role::Viewer),
            "POST",
            "/api/runs",
            &scripted.to_string()
        )
        .0,
        403
    );
}

#[test]
fn a_source_for_admins_is_invisible_to_the_others() {
    let team = team();
    let run =
        json!({"source": "restricted", "query": "SELECT count(*) AS n FROM airlines"}).to_string();
    for role in Role::ALL {
        let (_, answer) = team.call(Some(role), "GET", "/api/sources", "");
        let names: Vec<String> = json_of(&answer)["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect();
        let (status, answer) = team.call(Some(role), "POST", "/api/runs", &run);
        if role == Role::Admin {
            assert_eq!(names, ["demo", "restricted"]);
            assert_eq!(status, 200, "{answer}");
        } else {
            assert_eq!(names, ["demo"], "{role:?}");
            assert_eq!(status, 404, "{answer}");
            assert_eq!(json_of(&answer)["error"]["kind"], json!("unknown_source"));
        }
    }
}

#[test]
fn pages_sign_in_with_a_token_and_out_again() {
    let team = team();
    let host = team.address.to_string();
    let (status, page) = send(team.address, "GET", "/plugins", &host, &[], "");
    assert_eq!(status, 303, "{page}");
    assert_eq!(header(&page, "location"), Some("/signin?next=/plugins"));
    let (status, form) = send(team.address, "GET", "/signin?next=/plugins", &host, &[], "");
    assert_eq!(status, 200);
    assert!(form.contains(r#"name="token""#), "{form}");

    let form_post = ("Content-Type", "application/x-www-form-urlencoded");
    let origin = format!("http://{host}");
    let wrong = send(
        team.address,
        "POST",
        "/signin",
        &host,
        &[form_post, ("Origin", &origin)],
        "token=qry_wrong&next=%2Fplugins",
    );
    assert_eq!(wrong.0, 401, "{}", wrong.1);
    assert_eq!(header(&wrong.1, "set-cookie"), None);

    let body = format!("token={}&next=%2Fplugins", team.token(Role::Author));
    let (status, signed) = send(
        team.address,
        "POST",
        "/signin",
        &host,
        &[form_post, ("Origin", &origin)],
        &body,
    );
    assert_eq!(status, 303, "{signed}");
    assert_eq!(header(&signed, "location"), Some("/plugins"));
    let cookie = header(&signed, "set-cookie").unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains(team.token(Role::Author)),
        "the cookie is a session, not the token"
    );
    let session = cookie.split(';').next().unwrap().to_owned();

    let with_cookie = [("Cookie", session.as_str())];
    let (status, page) = send(team.address, "GET", "/plugins", &host, &with_cookie, "");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("author") && page.contains("Sign out"),
        "{page}"
    );
    // The session works for the page's own API calls too.
    assert_eq!(
        send(team.address, "GET", "/api/sources", &host, &with_cookie, "").0,
        200
    );

    let out = send(
        team.address,
        "POST",
        "/signout",
        &host,
        &[with_cookie[0], ("Origin", &origin)],
        "",
    );
    assert_eq!(out.0, 303);
    assert!(header(&out.1, "set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(
        send(team.address, "GET", "/plugins", &host, &with_cookie, "").0,
        303
    );
    assert_eq!(
        send(team.address, "GET", "/api/sources", &host, &with_cookie, "").0,
        401
    );
    // The operator's checks and the sign-in page's assets need no token.
    for open in ["/healthz", "/readyz", "/metrics", "/static/style.css"] {
        assert_eq!(
            send(team.address, "GET", open, &host, &[], "").0,
            200,
            "{open}"
        );
    }
}

#[test]
fn users_are_managed_from_the_command_line_and_tokens_stay_out_of_logs() {
    let data = tempfile::tempdir().unwrap();
    let quarry = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_quarry"))
            .args(args)
            .env("QUARRY_DATA", data.path())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The store where `--store` says, for `users` and `serve` alike.
    let store = format!("sqlite:{}", data.path().join("team.db").display());
    let (ok, stdout, stderr) =
        quarry(&["users", "add", "ada", "--role", "admin", "--store", &store]);
    assert!(ok, "{stderr}");
    assert!(data.path().join("team.db").is_file());
    // A store that is down, or not a store, is one clear line.
    let down = "postgresql://quarry:secret@127.0.0.1:1/quarry";
    let (ok, _, stderr) = quarry(&["users", "list", "--store", down]);
    assert!(!ok && stderr.contains("cannot be reached"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");
    let (ok, _, stderr) = quarry(&["users", "list", "--store", "mysql://db/quarry"]);
    assert!(
        !ok && stderr.contains("sqlite:PATH or postgresql://"),
        "{stderr}"
    );
    let token = stdout.lines().last().unwrap().to_owned();
    assert!(token.starts_with("qry_"), "{stdout}");
    let (ok, _, stderr) = quarry(&["users", "add", "ada", "--role", "viewer", "--store", &store]);
    assert!(!ok && stderr.contains("exists"), "{stderr}");
    let (ok, _, stderr) = quarry(&["users", "add", "bob", "--role", "owner"]);
    assert!(
        !ok && stderr.contains("viewer, author or admin"),
        "{stderr}"
    );
    quarry(&["users", "add", "bob", "--role", "viewer", "--store", &store]);
    let (_, list, _) = quarry(&["users", "list", "--store", &store]);
    let names: Vec<(&str, &str)> = list
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            (f.next().unwrap(), f.next().unwrap())
        })
        .collect();
    assert_eq!(names, [("ada", "admin"), ("bob", "viewer")]);
    assert!(!list.contains("qry_"));
    let (ok, _, _) = quarry(&["users", "remove", "bob", "--store", &store]);
    assert!(ok);
    let (ok, _, stderr) = quarry(&["users", "remove", "bob", "--store", &store]);
    assert!(!ok && stderr.contains("no user named `bob`"), "{stderr}");

    // A server on a non-loopback address without --auth refuses to start, and says how.
    let (ok, _, stderr) = quarry(&["serve", "--bind", "0.0.0.0:0"]);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("--auth token") && stderr.contains("quarry users add"),
        "{stderr}"
    );

    // With the token: requests are logged with the user's name, never the token.
    let serve = crate::logs::Serve::start_in(
        data.path(),
        &["--auth", "token", "--log-format", "json", "--store", &store],
    );
    let address: SocketAddr = serve.address.parse().unwrap();
    let bearer = format!("Bearer {token}");
    let (status, answer) = send(
        address,
        "POST",
        "/api/runs",
        &serve.address,
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        r#"{"source": "demo", "query": "SELECT nothing FROM nowhere"}"#,
    );
    assert_eq!(status, 400);
    assert!(!answer.contains(&token));
    let wrong = format!("Bearer {token}x");
    let (status, answer) = send(
        address,
        "GET",
        "/api/sources",
        &serve.address,
        &[("Authorization", &wrong)],
        "",
    );
    assert_eq!(status, 401);
    assert!(!answer.contains(&token));
    let mut lines = Vec::new();
    while let Ok(line) = serve.lines.recv_timeout(std::time::Duration::from_secs(2)) {
        lines.push(line);
    }
    let log = lines.join("\n");
    assert!(log.contains(r#""user":"ada""#), "{log}");
    assert!(!log.contains(&token[4..]), "a token in the log:\n{log}");
}

#[test]
fn each_caller_has_a_share_of_the_runs() {
    // Two users, three runs a minute each.
    let store = tempfile::tempdir().unwrap();
    let app = web_app(
        store.path(),
        Settings {
            auth: AuthMode::Token,
            max_runs_per_minute: 3,
            ..Settings::default()
        },
    );
    let ada = tokio()
        .block_on(app.users.add("ada", Role::Author))
        .unwrap();
    let bob = tokio()
        .block_on(app.users.add("bob", Role::Author))
        .unwrap();
    let address = serve_app(app);
    let run = |token: &str| {
        let bearer = format!("Bearer {token}");
        send(
            address,
            "POST",
            "/api/runs",
            &address.to_string(),
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            r#"{"source": "demo", "query": "SELECT 1 AS one"}"#,
        )
    };
    for _ in 0..3 {
        assert_eq!(run(&ada).0, 200);
    }
    let (status, refused) = run(&ada);
    assert_eq!(status, 429, "{refused}");
    assert_eq!(json_of(&refused)["error"]["kind"], json!("too_many_runs"));
    let retry: u64 = header(&refused, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Bob's share is his own.
    assert_eq!(run(&bob).0, 200);
}

#[test]
fn the_history_shows_each_caller_their_runs_and_admins_everyones() {
    let team = team();
    let query = |q: &str| json!({"source": "demo", "query": q}).to_string();
    assert_eq!(
        team.call(
            Some(Role::Author),
            "POST",
            "/api/runs",
            &query("SELECT 1 AS one")
        )
        .0,
        200
    );
    assert_eq!(
        team.call(
            Some(Role::Author),
            "POST",
            "/api/runs",
            &query("SELECT nothing FROM nowhere")
        )
        .0,
        400
    );
    let stored = json!({"source": "demo", "plugin": team.between, "params":
        {"origin": "JFK", "dest": "LAX", "from": "2013-03-01", "to": "2013-03-02"}});
    let (status, answer) = team.call(Some(Role::Viewer), "POST", "/api/runs", &stored.to_string());
    assert_eq!(status, 200, "{answer}");

    let history = |role: Role, path: &str| {
        let (status, answer) = team.call(Some(role), "GET", path, "");
        (status, json_of(&answer))
    };
    let (status, mine) = history(Role::Author, "/api/history");
    assert_eq!(status, 200);
    let runs = mine["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{mine}");
    // Newest first: the failed run, with its error.
    assert_eq!(runs[0]["outcome"], json!("query_error"));
    assert!(runs[0]["error"].as_str().unwrap().contains("nowhere"));
    assert_eq!(runs[0]["query"], json!("SELECT nothing FROM nowhere"));
    assert_eq!(runs[1]["outcome"], json!("ok"));
    assert_eq!(runs[1]["rows_out"], json!(1));
    assert!(runs.iter().all(|r| r["user"] == json!("author")));

    let (_, viewer) = history(Role::Viewer, "/api/history");
    let runs = viewer["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["plugin"], json!(team.between));
    assert_eq!(runs[0]["params"]["origin"], json!("JFK"));
    assert!(
        runs[0]["query"].as_str().unwrap().contains("flights"),
        "the query the plugin built"
    );
    assert_eq!(history(Role::Viewer, "/api/history?user=author").0, 403);

    let (_, all) = history(Role::Admin, "/api/history");
    assert_eq!(all["runs"].as_array().unwrap().len(), 3);
    let (_, authors) = history(Role::Admin, "/api/history?user=author&limit=1");
    assert_eq!(authors["runs"].as_array().unwrap().len(), 1);
    let older = authors["runs"][0]["seq"].as_i64().unwrap();
    let (_, page) = history(
        Role::Admin,
        &format!("/api/history?user=author&before={older}"),
    );
    assert_eq!(page["runs"][0]["outcome"], json!("ok"));
    for (_, token) in &team.tokens {
        assert!(!all.to_string().contains(token.as_str()));
    }
}

#[test]
fn an_admin_deletes_plugins_and_snippets_and_manages_users() {
    let team = team();
    let admin = Some(Role::Admin);
    // A shared run of the units plugin.
    let snippet = json!({"source": "demo", "plugin": team.units, "params": {},
        "query": "SELECT * FROM flights LIMIT 3"});
    let (_, link) = team.call(
        Some(Role::Author),
        "POST",
        "/api/snippets",
        &snippet.to_string(),
    );
    let id = json_of(&link)["id"].as_str().unwrap().to_owned();
    let run =
        json!({"source": "demo", "plugin": team.units, "query": "SELECT * FROM flights LIMIT 3"});
    assert_eq!(
        team.call(Some(Role::Author), "POST", "/api/runs", &run.to_string())
            .0,
        200
    );

    assert_eq!(
        team.call(admin, "DELETE", &format!("/api/plugins/{}", team.units), "")
            .0,
        204
    );
    // Gone from the library and from runs, although the server had it loaded.
    assert_eq!(
        team.call(admin, "GET", &format!("/api/plugins/{}", team.units), "")
            .0,
        404
    );
    let (_, list) = team.call(admin, "GET", "/api/plugins", "");
    assert!(!list.contains(&team.units));
    let (status, answer) = team.call(Some(Role::Author), "POST", "/api/runs", &run.to_string());
    assert_eq!(status, 404, "{answer}");
    assert_eq!(json_of(&answer)["error"]["kind"], json!("unknown_plugin"));
    assert_eq!(
        team.call(admin, "DELETE", &format!("/api/plugins/{}", team.units), "")
            .0,
        404
    );

    assert_eq!(
        team.call(admin, "DELETE", &format!("/api/snippets/{id}"), "")
            .0,
        204
    );
    assert_eq!(
        team.call(admin, "GET", &format!("/api/snippets/{id}"), "")
            .0,
        404
    );

    // Users over the API: the token works at once, and stops when the user is removed.
    let (status, added) = team.call(
        admin,
        "POST",
        "/api/users",
        r#"{"name": "grace", "role": "viewer"}"#,
    );
    assert_eq!(status, 201, "{added}");
    let token = json_of(&added)["token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    let host = team.address.to_string();
    let as_grace = [("Authorization", bearer.as_str())];
    assert_eq!(
        send(team.address, "GET", "/api/sources", &host, &as_grace, "").0,
        200
    );
    assert_eq!(
        team.call(
            admin,
            "POST",
            "/api/users",
            r#"{"name": "grace", "role": "admin"}"#
        )
        .0,
        409
    );
    assert_eq!(
        team.call(
            admin,
            "POST",
            "/api/users",
            r#"{"name": "x", "role": "owner"}"#
        )
        .0,
        400
    );
    let (_, users) = team.call(admin, "GET", "/api/users", "");
    let names: Vec<String> = json_of(&users)["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["admin", "author", "grace", "viewer"]);
    assert!(!users.contains("qry_"), "no tokens in the list: {users}");
    assert_eq!(team.call(admin, "DELETE", "/api/users/grace", "").0, 204);
    assert_eq!(
        send(team.address, "GET", "/api/sources", &host, &as_grace, "").0,
        401
    );
}

/// A plugin's uploader may rename and delete it, and so may an admin; other authors, and
/// viewers, may not. The library searches names and descriptions.
#[test]
fn an_uploader_or_an_admin_renames_and_deletes_a_plugin() {
    let team = team();
    let script =
        json!({"script": "// Keeps every flight.\nfunction transform(rows) { return rows; }"});
    let (status, answer) = team.call(
        Some(Role::Author),
        "POST",
        "/api/scripts",
        &script.to_string(),
    );
    assert!(status == 201 || status == 200, "{answer}");
    let stored = json_of(&answer)["plugin"].clone();
    assert_eq!(
        stored["name"],
        json!("Keeps every flight"),
        "named by its first comment line"
    );
    assert_eq!(stored["uploaded_by"], json!("author"));
    let sha = stored["sha256"].as_str().unwrap().to_owned();
    let path = format!("/api/plugins/{sha}");

    let rename = |role: Role, name: &str| {
        team.call(
            Some(role),
            "PATCH",
            &path,
            &json!({"name": name}).to_string(),
        )
    };
    assert_eq!(rename(Role::Viewer, "Mine").0, 403);
    let (status, answer) = rename(Role::Author, "Every flight");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(json_of(&answer)["plugin"]["label"], json!("Every flight"));
    assert_eq!(rename(Role::Author, "  ").0, 400);
    assert_eq!(rename(Role::Admin, "Every flight, kept").0, 200);

    let (_, found) = team.call(Some(Role::Viewer), "GET", "/api/plugins?q=EVERY%20kept", "");
    let found: Vec<String> = json_of(&found)["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sha256"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(found, [sha.clone()]);

    // The operator's plugin is no author's to delete; the author's own script is.
    let units = format!("/api/plugins/{}", team.units);
    let (status, answer) = team.call(Some(Role::Author), "DELETE", &units, "");
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("only its uploader or an admin"), "{answer}");
    assert_eq!(team.call(Some(Role::Viewer), "DELETE", &path, "").0, 403);
    assert_eq!(team.call(Some(Role::Author), "DELETE", &path, "").0, 204);
    assert_eq!(team.call(Some(Role::Author), "GET", &path, "").0, 404);
}
