//! The playground in a real browser: Chromium driven through chromedriver (WebDriver, the
//! `fantoccini` crate) against `quarry serve` on 127.0.0.1:0. Upload an example plugin,
//! fill its params, run it on the demo data, read the grid, share it, open the link in a
//! fresh browser session and see the same rows; then cancel a long run.
//!
//! Needs `chromium` and `chromedriver` (Debian's `chromium` and `chromium-driver`, which
//! scripts/test.sh installs as root). Without them the test says it was skipped, except in
//! CI, where that is a failure. `QUARRY_SCREENSHOT=docs/playground.png` also saves a
//! screenshot of the playground after the run (the one in the README).

use crate::common;

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use quarry_server::{App, Settings};
use serde_json::json;

/// chromedriver on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|p| p.is_file())
}

fn driver() -> Option<Driver> {
    let (Some(chromedriver), Some(_)) = (find("chromedriver"), find("chromium")) else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have chromium and chromedriver (scripts/test.sh installs them)"
        );
        eprintln!("skipped: install chromium and chromedriver to run the browser test");
        return None;
    };
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(driver)
}

async fn browser(driver: &Driver) -> Client {
    browser_with(driver, &[]).await
}

/// A browser session with `extra` Chromium flags (`--force-dark-mode`).
async fn browser_with(driver: &Driver, extra: &[&str]) -> Client {
    let mut args = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ];
    args.extend_from_slice(extra);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), json!({ "args": args }));
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

/// Waits until `f` returns `Some`, up to 30 s.
async fn until<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = f().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text(client: &Client, css: &str) -> String {
    match client.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The result grid's cells, row by row, once a run has finished.
async fn grid_after_run(client: &Client) -> Vec<Vec<String>> {
    until("the run to finish", || async {
        let count = text(client, "#row-count").await;
        let running = client
            .find(Locator::Id("run"))
            .await
            .ok()?
            .attr("disabled")
            .await
            .ok()?
            .is_some();
        (!running && count.contains("row")).then_some(())
    })
    .await;
    // Only the visible rows are in the page: every row, as the grid shows it, comes from
    // the grid itself.
    let rows = client
        .execute("return window.quarry.grid.shownRows()", vec![])
        .await
        .unwrap();
    serde_json::from_value(rows).unwrap()
}

async fn fill(client: &Client, id: &str, value: &str) {
    let field = client.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Clicks the first element `css` finds, again if the page redrew it in between (the
/// grid replaces its rows as they scroll or sort).
async fn click_css(client: &Client, css: &str) {
    until(&format!("a click on {css}"), || async {
        client
            .find(Locator::Css(css))
            .await
            .ok()?
            .click()
            .await
            .ok()
    })
    .await;
}

async fn click(client: &Client, id: &str) {
    client
        .find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Chooses the option with `value` in the select element `id`.
async fn select(client: &Client, id: &str, value: &str) {
    client
        .find(Locator::Id(id))
        .await
        .unwrap()
        .select_by_value(value)
        .await
        .unwrap();
}

/// Clicks Share and returns the permalink once the page shows it.
async fn share(client: &Client) -> String {
    click(client, "share").await;
    until("the share link", || async {
        let href = client
            .find(Locator::Id("share-url"))
            .await
            .ok()?
            .attr("href")
            .await
            .ok()??;
        href.contains("/s/").then_some(href)
    })
    .await
}

async fn serve(app: Arc<App>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(quarry_server::serve(listener, app, std::future::pending()));
    format!("http://{address}")
}

#[test]
fn upload_run_share_and_cancel_in_a_real_browser() {
    let Some(driver) = driver() else { return };
    let store = tempfile::tempdir().unwrap();
    let app = web_app(store.path(), Settings::default());
    tokio().block_on(async {
        let base = serve(app.clone()).await;
        let client = browser(&driver).await;

        // Upload the example plugin through the file input.
        client.goto(&format!("{base}/plugins")).await.unwrap();
        let wasm = plugin_path("flights_between");
        client
            .find(Locator::Id("upload-file"))
            .await
            .unwrap()
            .send_keys(wasm.to_str().unwrap())
            .await
            .unwrap();
        let sha = quarry_runtime::sha256_hex(&std::fs::read(&wasm).unwrap());
        until("the plugin's page", || async {
            let url = client.current_url().await.ok()?;
            url.path().ends_with(&sha).then_some(())
        })
        .await;
        click(&client, "open-in-playground").await;

        // Fill its params and run it on the demo.
        until("the params form", || async {
            client.find(Locator::Id("param-origin")).await.ok()
        })
        .await;
        fill(&client, "param-origin", "EWR").await;
        fill(&client, "param-dest", "IAH").await;
        fill(&client, "param-from", "2013-03-01").await;
        fill(&client, "param-to", "2013-03-07").await;
        click(&client, "run").await;
        let rows = grid_after_run(&client).await;

        // The grid holds what the demo database holds, in the plugin's order.
        let expected: Vec<Vec<String>> = sql(
            "SELECT carrier, CAST(flight AS TEXT), origin, dest FROM flights
             WHERE origin = 'EWR' AND dest = 'IAH'
               AND year = 2013 AND month = 3 AND day BETWEEN 1 AND 7
             ORDER BY time_hour, carrier, flight",
        );
        assert!(expected.len() > 50, "{}", expected.len());
        assert_eq!(rows.len(), expected.len());
        // Columns 9..=13 are carrier, flight, tailnum, origin, dest.
        let got: Vec<Vec<String>> = rows
            .iter()
            .map(|r| vec![r[9].clone(), r[10].clone(), r[12].clone(), r[13].clone()])
            .collect();
        assert_eq!(got, expected);
        assert!(
            text(&client, "#row-count")
                .await
                .contains(&expected.len().to_string())
        );
        assert!(text(&client, "#generated-query").await.contains("SELECT"));
        if let Ok(path) = std::env::var("QUARRY_SCREENSHOT") {
            let png = client.screenshot().await.unwrap();
            std::fs::write(repo_root().join(path), png).unwrap();
        }

        // Share, then open the link in a fresh browser session: the same rows.
        let link = share(&client).await;
        client.close().await.unwrap();
        let fresh = browser(&driver).await;
        fresh.goto(&link).await.unwrap();
        let shared_rows = grid_after_run(&fresh).await;
        assert_eq!(shared_rows, rows);

        // A long run streams and stops on Cancel: the plugin busy-waits a minute per batch.
        let hostile = std::fs::read(plugin_path("hostile")).unwrap();
        let (plugin, _) = app.runtime.load(&hostile).unwrap();
        app.store.put_plugin(&hostile, &plugin).await.unwrap();
        fresh
            .goto(&format!("{base}/?plugin={}", plugin.sha256))
            .await
            .unwrap();
        set_editor(&fresh, "params", r#"{"attack": "slow", "ms": 60000}"#).await;
        set_editor(&fresh, "query", "SELECT * FROM flights").await;
        let started = Instant::now();
        click(&fresh, "run").await;
        let cancel = fresh.find(Locator::Id("cancel")).await.unwrap();
        until("Cancel to be enabled", || async {
            cancel.attr("disabled").await.ok()?.is_none().then_some(())
        })
        .await;
        cancel.click().await.unwrap();
        let error = until("the run to end", || async {
            let shown = fresh.find(Locator::Id("error")).await.ok()?;
            let hidden = shown.attr("hidden").await.ok()?.is_some();
            let text = shown.text().await.ok()?;
            (!hidden && !text.is_empty()).then_some(text)
        })
        .await;
        assert!(error.to_lowercase().contains("cancel"), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "cancel stopped the plugin"
        );
        fresh.close().await.unwrap();
    });
}

/// The `value` property of the element with `id` (a textarea's current text).
/// The text of the page's code editor `name` (`query` or `script`).
async fn editor_text(client: &Client, name: &str) -> String {
    let text = client
        .execute(
            "return window.quarry.editors[arguments[0]].value",
            vec![serde_json::json!(name)],
        )
        .await
        .unwrap();
    text.as_str().unwrap_or_default().to_owned()
}

/// Types `keys` into whatever has the focus, as a keyboard does (sending keys to an
/// element would move the cursor first, which closes an editor's completions).
async fn press(client: &Client, keys: &str) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let mut actions = KeyActions::new("keyboard".into());
    for key in keys.chars() {
        actions = actions
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
    }
    client.perform_actions(actions).await.unwrap();
}

/// Puts `text` in the page's code editor `name`, as pasting would.
async fn set_editor(client: &Client, name: &str, text: &str) {
    client
        .execute(
            "window.quarry.editors[arguments[0]].value = arguments[1]",
            vec![serde_json::json!(name), serde_json::json!(text)],
        )
        .await
        .unwrap();
}

async fn column_names(client: &Client) -> Vec<String> {
    let mut names = Vec::new();
    for th in client
        .find_all(Locator::Css("#grid thead th .col-name"))
        .await
        .unwrap()
    {
        names.push(th.text().await.unwrap());
    }
    names
}

#[test]
fn write_run_and_share_a_script_in_a_real_browser() {
    use fantoccini::key::Key;
    let Some(driver) = driver() else { return };
    let store = tempfile::tempdir().unwrap();
    let app = web_app(store.path(), Settings::default());
    tokio().block_on(async {
        let base = serve(app.clone()).await;
        let client = browser(&driver).await;
        client.goto(&base).await.unwrap();

        // Choosing a script opens the editor on the first starter, with its query.
        select(&client, "plugin", "script").await;
        until("the starter script", || async {
            editor_text(&client, "script")
                .await
                .contains("KM_PER_MILE")
                .then_some(())
        })
        .await;
        assert_eq!(
            editor_text(&client, "query").await,
            "SELECT * FROM flights LIMIT 100"
        );
        let lines = text(&client, "#script .cm-lineNumbers").await;
        assert!(lines.contains("1\n2\n3"), "line numbers: {lines:?}");

        // Ctrl+Enter in the editor runs it.
        let editor = client
            .find(Locator::Css("#script .cm-content"))
            .await
            .unwrap();
        editor.click().await.unwrap();
        editor
            .send_keys(&(Key::Control + Key::Enter.to_string().as_str()))
            .await
            .unwrap();
        let rows = grid_after_run(&client).await;
        assert_eq!(rows.len(), 100);
        let names = column_names(&client).await;
        assert_eq!(
            names[names.len() - 3..],
            ["distance_km", "air_time_h", "speed_kmh"],
            "{names:?}"
        );

        // A syntax error names its line and column and marks the line.
        set_editor(
            &client,
            "script",
            "function transform(rows) {\n  return rows.map(r => r.x +);\n}",
        )
        .await;
        click(&client, "run").await;
        let error = until("the script's error", || async {
            let shown = text(&client, "#error").await;
            (!shown.is_empty()).then_some(shown)
        })
        .await;
        assert!(
            error.contains("SyntaxError") && error.contains("script.js:2:"),
            "{error}"
        );
        // The editor marks the error where it is, on line 2.
        let marked = client
            .execute(
                "const view = window.quarry.editors.script.view;
                 const mark = document.querySelector('#script .cm-lintRange-error');
                 return mark ? view.state.doc.lineAt(view.posAtDOM(mark)).number : null",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(marked, serde_json::json!(2));
        assert!(text(&client, "#script-error-line").await.contains("line 2"));

        // A starter that filters, run and shared; the link opens on the same script and rows.
        select(&client, "starter", "late-arrivals").await;
        let script = editor_text(&client, "script").await;
        assert!(script.contains("arr_delay > 60"), "{script}");
        click(&client, "run").await;
        let rows = grid_after_run(&client).await;
        let expected: Vec<Vec<i64>> = sql(
            "SELECT COUNT(*) FROM (SELECT arr_delay FROM flights LIMIT 5000) WHERE arr_delay > 60",
        );
        assert_eq!(rows.len() as i64, expected[0][0]);
        let link = share(&client).await;
        client.close().await.unwrap();
        let fresh = browser(&driver).await;
        fresh.goto(&link).await.unwrap();
        assert_eq!(grid_after_run(&fresh).await, rows);
        assert_eq!(editor_text(&fresh, "script").await, script);
        let stored = app.store.plugins().await.unwrap();
        assert_eq!(stored.len(), 1, "the shared script is in the library");
        assert_eq!(stored[0].kind, quarry_server::store::PluginKind::Script);
        fresh.close().await.unwrap();
    });
}

/// The query editor: its styles pass the page's policy (by nonce), it completes the
/// source's tables and columns as one types, marks a SQL error where the database says it
/// is, indents on Tab, and lets the keyboard out on Escape then Tab.
#[test]
fn the_query_editor_completes_marks_errors_and_lets_the_keyboard_out() {
    use fantoccini::key::Key;
    let Some(driver) = driver() else { return };
    let store = tempfile::tempdir().unwrap();
    let app = web_app(store.path(), Settings::default());
    tokio().block_on(async {
        let base = serve(app.clone()).await;
        let client = browser(&driver).await;
        client.goto(&base).await.unwrap();
        let content = client
            .find(Locator::Css("#query .cm-content"))
            .await
            .unwrap();

        // CodeMirror's own styles are in force: the page's policy let its <style> in.
        let display = client
            .execute(
                "return getComputedStyle(document.querySelector('#query .cm-editor')).display",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(display, serde_json::json!("flex"));

        // Completion offers the demo's columns and tables as one types.
        let completes = |typed: &'static str, word: &'static str| {
            let (client, content) = (&client, &content);
            async move {
                set_editor(client, "query", "").await;
                content.click().await.unwrap();
                press(client, typed).await;
                until(&format!("{word} among the completions"), || async {
                    let shown = text(client, ".cm-tooltip-autocomplete li[aria-selected]").await;
                    shown.contains(word).then_some(())
                })
                .await
            }
        };
        completes("SELECT dep_d", "dep_delay").await;
        completes("SELECT * FROM fli", "flights").await;
        // Enter takes a completion once its list has been open a moment (75 ms), so that a
        // fast typist's Enter is a new line.
        tokio::time::sleep(Duration::from_millis(200)).await;
        press(&client, &Key::Enter.to_string()).await;
        assert_eq!(editor_text(&client, "query").await, "SELECT * FROM flights");

        // A SQL error is marked at the word the database names.
        set_editor(&client, "query", "SELECT *\nFORM flights").await;
        click(&client, "run").await;
        let error = until("the error", || async {
            let shown = text(&client, "#error").await;
            (!shown.is_empty()).then_some(shown)
        })
        .await;
        assert!(error.contains("near \"FORM\""), "{error}");
        let marked = client
            .execute(
                "const view = window.quarry.editors.query.view;
                 const mark = document.querySelector('#query .cm-lintRange-error');
                 return mark ? [view.state.doc.lineAt(view.posAtDOM(mark)).number, mark.textContent] : null",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(marked, serde_json::json!([2, "F"]));

        // Tab indents; Escape then Tab moves the focus on.
        set_editor(&client, "query", "").await;
        content.click().await.unwrap();
        press(&client, &Key::Tab.to_string()).await;
        assert_eq!(editor_text(&client, "query").await, "  ");
        let inside = || async {
            client
                .execute(
                    "return document.querySelector('#query').contains(document.activeElement)",
                    vec![],
                )
                .await
                .unwrap()
        };
        assert_eq!(inside().await, serde_json::json!(true));
        press(&client, &format!("{}{}", Key::Escape, Key::Tab)).await;
        assert_eq!(inside().await, serde_json::json!(false), "the focus left");
        assert_eq!(editor_text(&client, "query").await, "  ");
        client.close().await.unwrap();
    });
}

/// Every flight streamed into the grid: the page answers clicks throughout (measured
/// here), only the visible rows are in the page, the last row is reached by scrolling,
/// a column sorts, a cell copies; then a long run's Cancel is answered within 100 ms.
#[test]
fn every_flight_streams_into_the_grid_and_the_page_stays_responsive() {
    let Some(driver) = driver() else { return };
    let store = tempfile::tempdir().unwrap();
    let app = web_app(store.path(), Settings::default());
    tokio().block_on(async {
        let base = serve(app.clone()).await;
        let client = browser(&driver).await;
        client.goto(&base).await.unwrap();
        set_editor(&client, "query", "SELECT * FROM flights").await;
        fill(&client, "limit", "400000").await;
        // The page's longest busy spell while the rows stream: a timer that should tick
        // every 10 ms records the longest gap between its ticks.
        client
            .execute(
                "window.busy = { longest: 0, last: performance.now() };
                 window.busy.timer = setInterval(() => {
                     const now = performance.now();
                     window.busy.longest = Math.max(window.busy.longest, now - window.busy.last);
                     window.busy.last = now;
                 }, 10);",
                vec![],
            )
            .await
            .unwrap();
        click(&client, "run").await;

        let count = until("every row", || async {
            let count = text(&client, "#row-count").await;
            count.contains("336,776").then_some(count)
        })
        .await;
        let busy = client
            .execute(
                "clearInterval(window.busy.timer); return window.busy.longest",
                vec![],
            )
            .await
            .unwrap()
            .as_f64()
            .unwrap();
        eprintln!("336,776 rows streamed; the page's longest busy spell {busy:.0} ms");
        assert!(busy < 500.0, "the page answered throughout: busy at most {busy:.0} ms");
        assert!(count.contains("336,776 rows"), "{count}");
        let in_page = client
            .find_all(Locator::Css("#grid tbody tr:not(.spacer)"))
            .await
            .unwrap()
            .len();
        assert!(in_page < 200, "{in_page} rows in the page");

        // Scrolled to the end, the last flight is there.
        client
            .execute(
                "const wrap = document.querySelector('#grid').parentElement;
                 wrap.scrollTop = wrap.scrollHeight;",
                vec![],
            )
            .await
            .unwrap();
        until("the last row", || async {
            let numbers = text(&client, "#grid tbody").await;
            numbers.contains("336776").then_some(())
        })
        .await;

        // Sorted by departure delay, descending: the longest delay first.
        let headers = client
            .find_all(Locator::Css("#grid thead th .sort"))
            .await
            .unwrap();
        let dep_delay = &headers[5];
        assert_eq!(dep_delay.text().await.unwrap().lines().next(), Some("dep_delay"));
        dep_delay.click().await.unwrap();
        dep_delay.click().await.unwrap();
        client
            .execute(
                "document.querySelector('#grid').parentElement.scrollTop = 0",
                vec![],
            )
            .await
            .unwrap();
        let longest: Vec<Vec<i64>> = sql("SELECT max(dep_delay) FROM flights");
        let first = until("the sorted rows", || async {
            let cell = client
                .find(Locator::Css("#grid tbody tr:not(.spacer) td[data-column='5']"))
                .await
                .ok()?;
            let text = cell.text().await.ok()?;
            (text == longest[0][0].to_string()).then_some(cell)
        })
        .await;
        assert_eq!(
            client
                .find(Locator::Css("#grid thead th[aria-sort='descending'] .col-name"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            "dep_delay"
        );
        // A column's edge dragged 120 pixels to the right widens it by that much.
        let width = || async {
            client
                .execute(
                    "return document.querySelector('#grid thead th:nth-child(2)').getBoundingClientRect().width",
                    vec![],
                )
                .await
                .unwrap()
                .as_f64()
                .unwrap()
        };
        let before = width().await;
        {
            use fantoccini::actions::{
                InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction,
            };
            let handle = client
                .find(Locator::Css("#grid thead th:nth-child(2) .col-resize"))
                .await
                .unwrap();
            let drag = MouseActions::new("mouse".into())
                .then(PointerAction::MoveToElement {
                    element: handle,
                    duration: None,
                    x: 0.0,
                    y: 0.0,
                })
                .then(PointerAction::Down {
                    button: MOUSE_BUTTON_LEFT,
                })
                .then(PointerAction::MoveBy {
                    duration: Some(Duration::from_millis(100)),
                    x: 120.0,
                    y: 0.0,
                })
                .then(PointerAction::Up {
                    button: MOUSE_BUTTON_LEFT,
                });
            client.perform_actions(drag).await.unwrap();
        }
        let after = width().await;
        assert!(
            (after - before - 120.0).abs() < 2.0,
            "the column went from {before} to {after} pixels"
        );

        // A clicked cell is selected and copies as its value.
        drop(first);
        click_css(
            &client,
            "#grid tbody tr:not(.spacer) td[data-column='5']",
        )
        .await;
        let copied = client
            .execute("return window.quarry.grid.copyText('tsv')", vec![])
            .await
            .unwrap();
        assert_eq!(copied, serde_json::json!(longest[0][0].to_string()));
        // A row, by its number: its cells under a header line, as TSV and as JSON.
        click_css(&client, "#grid tbody tr:not(.spacer) th.row-number").await;
        let row = client
            .execute("return window.quarry.grid.copyText('tsv')", vec![])
            .await
            .unwrap();
        let lines: Vec<&str> = row.as_str().unwrap().lines().collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("year\tmonth\tday\t"), "{lines:?}");
        assert_eq!(lines[1].split('\t').nth(5), Some(longest[0][0].to_string().as_str()));
        let json_row = client
            .execute("return JSON.parse(window.quarry.grid.copyText('json'))", vec![])
            .await
            .unwrap();
        assert_eq!(json_row[0]["dep_delay"], json!(longest[0][0]));

        // A run slowed down by its plugin (30 ms a batch): clicks are answered while its
        // rows stream, and Cancel at once: the time from its click to the page saying so,
        // measured in the page.
        let hostile = std::fs::read(plugin_path("hostile")).unwrap();
        let (plugin, _) = app.runtime.load(&hostile).unwrap();
        app.store.put_plugin(&hostile, &plugin).await.unwrap();
        client
            .goto(&format!("{base}/?plugin={}", plugin.sha256))
            .await
            .unwrap();
        set_editor(&client, "params", r#"{"attack": "slow", "ms": 30}"#).await;
        set_editor(&client, "query", "SELECT * FROM flights").await;
        fill(&client, "limit", "400000").await;
        click(&client, "run").await;
        until("rows to arrive", || async {
            let rows = client
                .execute("return window.quarry.grid.rowCount", vec![])
                .await
                .ok()?;
            (rows.as_u64()? > 2_000).then_some(())
        })
        .await;
        let preview = client.find(Locator::Id("preview")).await.unwrap();
        let mut slowest = Duration::ZERO;
        for _ in 0..5 {
            let started = Instant::now();
            preview.click().await.unwrap();
            slowest = slowest.max(started.elapsed());
        }
        // WebDriver's own round trips are in this figure, and tests run side by side: it
        // is reported, not held to a bound (the page's busy spells above are).
        eprintln!("5 clicks while rows streamed; the slowest answered in {slowest:?}");
        assert_eq!(
            preview.prop("checked").await.unwrap(),
            Some("true".to_owned()),
            "five clicks toggled the box five times"
        );
        client
            .execute(
                "window.cancelTimes = {};
                 document.querySelector('#cancel').addEventListener('click',
                     () => { window.cancelTimes.clicked = performance.now(); }, {capture: true});
                 new MutationObserver(() => {
                     const error = document.querySelector('#error');
                     if (!error.hidden && !window.cancelTimes.shown) window.cancelTimes.shown = performance.now();
                 }).observe(document.querySelector('#error'), {attributes: true, childList: true});",
                vec![],
            )
            .await
            .unwrap();
        click(&client, "cancel").await;
        let took = until("the cancel to show", || async {
            let times = client
                .execute("return window.cancelTimes", vec![])
                .await
                .ok()?;
            Some(times["shown"].as_f64()? - times["clicked"].as_f64()?)
        })
        .await;
        eprintln!("Cancel answered in {took:.1} ms");
        assert!(took < 100.0, "Cancel took {took} ms");
        assert!(text(&client, "#error").await.contains("Cancelled"));
        client.close().await.unwrap();
    });
}

/// axe-core's rules (WCAG 2 A and AA) over the page as it is now: the violations, as
/// "rule: what" lines. `None` when axe-core is not installed (scripts/web.sh installs it).
async fn accessibility_violations(client: &Client) -> Option<Vec<String>> {
    let axe = repo_root().join("target/web/node_modules/axe-core/axe.min.js");
    let Ok(source) = std::fs::read_to_string(&axe) else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install axe-core (scripts/web.sh --check does)"
        );
        eprintln!("skipped the accessibility check: no {}", axe.display());
        return None;
    };
    client
        .execute(&format!("{source}\nwindow.axe = axe; return true"), vec![])
        .await
        .unwrap();
    let violations = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             window.axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})
                 .then((result) => done(result.violations.map((v) =>
                     `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)));",
            vec![],
        )
        .await
        .unwrap();
    Some(serde_json::from_value(violations).unwrap())
}

/// The schema panel lists the demo's tables, and a click puts a name in the query;
/// Explain shows SQLite's plan; `?` lists the shortcuts; the page has a heading and a skip
/// link and passes axe-core's checks, with and without results.
#[test]
fn schema_panel_explain_shortcuts_and_accessibility() {
    use fantoccini::key::Key;
    let Some(driver) = driver() else { return };
    let store = tempfile::tempdir().unwrap();
    let app = web_app(store.path(), Settings::default());
    tokio().block_on(async {
        let base = serve(app.clone()).await;
        let client = browser(&driver).await;
        client.goto(&base).await.unwrap();

        let tables = until("the schema panel", || async {
            let shown = text(&client, "#schema-tree").await;
            shown.contains("weather").then_some(shown)
        })
        .await;
        for table in ["airlines", "airports", "flights", "planes", "weather"] {
            assert!(tables.contains(table), "{tables}");
        }
        set_editor(&client, "query", "SELECT  FROM flights").await;
        client
            .execute(
                "const view = window.quarry.editors.query.view;
                 view.dispatch({selection: {anchor: 7}});",
                vec![],
            )
            .await
            .unwrap();
        // Open flights' columns and click dep_delay.
        let flights = client
            .find(Locator::XPath("//ul[@id='schema-tree']/li[3]/details"))
            .await
            .unwrap();
        flights
            .find(Locator::Css("summary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        flights
            .find(Locator::XPath(".//button[text()='dep_delay']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(
            editor_text(&client, "query").await,
            "SELECT dep_delay FROM flights"
        );

        // A query that matches nothing says so, with the query that ran in view.
        set_editor(
            &client,
            "query",
            "SELECT * FROM airlines WHERE carrier = 'ZZ'",
        )
        .await;
        click(&client, "run").await;
        assert!(grid_after_run(&client).await.is_empty());
        let said = text(&client, "#empty-result").await;
        assert!(said.contains("no rows"), "{said}");
        assert!(text(&client, "#row-count").await.contains("0 rows"));
        assert!(
            text(&client, "#generated-query")
                .await
                .contains("carrier = 'ZZ'")
        );

        // Explain: SQLite's plan as a tree, and no rows.
        set_editor(
            &client,
            "query",
            "SELECT * FROM flights WHERE origin = 'JFK' AND dest = 'LAX'",
        )
        .await;
        click(&client, "explain").await;
        let plan = until("the plan", || async {
            let shown = text(&client, "#plan-panel").await;
            shown.contains("SEARCH").then_some(shown)
        })
        .await;
        assert!(plan.contains("EXPLAIN QUERY PLAN"), "{plan}");
        assert!(plan.contains("USING INDEX flights_route"), "{plan}");

        // `?` (outside an editor) opens the shortcuts; Escape closes them.
        client
            .find(Locator::Id("limit"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        press(&client, &Key::Escape.to_string()).await;
        client
            .execute("document.activeElement.blur()", vec![])
            .await
            .unwrap();
        press(&client, "?").await;
        let open = || async {
            client
                .execute("return document.querySelector('#shortcuts').open", vec![])
                .await
                .unwrap()
        };
        assert_eq!(open().await, serde_json::json!(true));
        assert!(
            text(&client, "#shortcuts")
                .await
                .contains("Explain the query")
        );
        press(&client, &Key::Escape.to_string()).await;
        assert_eq!(open().await, serde_json::json!(false));

        // A heading, a skip link, and axe-core's checks, before and after a run.
        assert_eq!(
            client
                .execute("return document.querySelectorAll('h1').length", vec![])
                .await
                .unwrap(),
            serde_json::json!(1)
        );
        assert!(
            client
                .find(Locator::Css("a.skip-link[href='#main']"))
                .await
                .is_ok()
        );
        if let Some(violations) = accessibility_violations(&client).await {
            assert!(violations.is_empty(), "{violations:#?}");
            set_editor(&client, "query", "SELECT * FROM airlines").await;
            click(&client, "run").await;
            grid_after_run(&client).await;
            let violations = accessibility_violations(&client).await.unwrap();
            assert!(violations.is_empty(), "{violations:#?}");
        }
        client.close().await.unwrap();
    });
}

/// The work in progress survives a reload; the history puts an earlier run back in the
/// form, and "Run again" runs it at once; a query saved under a name is listed with its
/// link.
#[test]
fn history_restores_a_run_after_a_reload_and_saved_queries_are_listed() {
    let Some(driver) = driver() else { return };
    let store = tempfile::tempdir().unwrap();
    let app = web_app(store.path(), Settings::default());
    tokio().block_on(async {
        let base = serve(app.clone()).await;
        let client = browser(&driver).await;
        client.goto(&base).await.unwrap();
        let airlines = "SELECT carrier, name FROM airlines ORDER BY carrier";
        set_editor(&client, "query", airlines).await;
        click(&client, "run").await;
        let rows = grid_after_run(&client).await;
        assert_eq!(rows.len(), 16);

        // A reload keeps the query.
        client.refresh().await.unwrap();
        until("the query back", || async {
            (editor_text(&client, "query").await == airlines).then_some(())
        })
        .await;

        // A run without a plugin has no compile time: a dash, not "0.0 ms".
        assert!(
            text(&client, "#stats").await.contains("Compile/load —"),
            "{}",
            text(&client, "#stats").await
        );

        // Another query; then the history's airlines run is put back and runs again.
        set_editor(&client, "query", "SELECT 1 AS one").await;
        client
            .find(Locator::Css("#history-panel summary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // Found and clicked together: the list is redrawn when it opens.
        until("the history", || async {
            let entry = client
                .find(Locator::Css("#history-list .history-run"))
                .await
                .ok()?;
            let shown = entry.text().await.ok()?;
            if !shown.contains("airlines") {
                return None;
            }
            entry.click().await.ok()
        })
        .await;
        assert_eq!(editor_text(&client, "query").await, airlines);
        click(&client, "run").await;
        assert_eq!(grid_after_run(&client).await, rows);

        // "Run again" on a history entry restores it and runs it at once.
        set_editor(&client, "query", "SELECT 2 AS two").await;
        click_css(&client, "#history-list .history-again").await;
        until("the run again", || async {
            (editor_text(&client, "query").await == airlines).then_some(())
        })
        .await;
        assert_eq!(grid_after_run(&client).await, rows);

        // Saved under a name: listed, with the link that opens it.
        fill(&client, "save-name", "Every airline").await;
        click(&client, "save").await;
        let link = until("the saved query", || async {
            let link = client.find(Locator::Css("#saved-list a")).await.ok()?;
            let name = link.text().await.ok()?;
            (name == "Every airline").then_some(link)
        })
        .await;
        let href = link.attr("href").await.unwrap().unwrap();
        assert!(href.starts_with("/s/"), "{href}");
        let saved = app.store.saved_snippets(10).await.unwrap();
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].1.query.as_deref(), Some(airlines));
        client.close().await.unwrap();
    });
}

/// Details a first visit tripped on: the params form keeps the schema's order and says
/// what a field's pattern wants in words; a starter script's documented params are filled
/// in; the plugins page does not scroll sideways in an 800-pixel window.
#[test]
fn params_in_order_patterns_in_words_starter_params_and_a_narrow_plugins_page() {
    let Some(driver) = driver() else { return };
    let store = tempfile::tempdir().unwrap();
    let app = web_app(store.path(), Settings::default());
    let between = store_plugin(&app, "flights_between");
    tokio().block_on(async {
        let base = serve(app.clone()).await;
        let client = browser(&driver).await;
        client
            .goto(&format!("{base}/?plugin={between}"))
            .await
            .unwrap();
        let order = until("the params form", || async {
            let ids = client
                .execute(
                    "return [...document.querySelectorAll('#params-form [id^=param-]')].map((e) => e.id)",
                    vec![],
                )
                .await
                .ok()?;
            let ids: Vec<String> = serde_json::from_value(ids).ok()?;
            (!ids.is_empty()).then_some(ids)
        })
        .await;
        let fields: Vec<&String> = order
            .iter()
            .filter(|id| !id.ends_with("-error") && !id.ends_with("-help"))
            .collect();
        assert_eq!(
            fields,
            ["param-origin", "param-dest", "param-from", "param-to"],
            "{order:?}"
        );
        fill(&client, "param-origin", "JFK").await;
        fill(&client, "param-dest", "LAX").await;
        fill(&client, "param-from", "March 1").await;
        click(&client, "run").await;
        let message = until("the field's message", || async {
            let shown = text(&client, "#params-form").await;
            shown.contains("should").then_some(shown)
        })
        .await;
        assert!(message.contains("should look like 2013-01-01"), "{message}");
        assert!(!message.contains("[0-9]"), "{message}");

        // The busiest-routes starter fills its documented params.
        select(&client, "plugin", "script").await;
        select(&client, "starter", "busiest-routes").await;
        let params = until("the starter's params", || async {
            let params = editor_text(&client, "params").await;
            params.contains("JFK").then_some(params)
        })
        .await;
        let params: serde_json::Value = serde_json::from_str(&params).unwrap();
        assert_eq!(params, json!({"origin": "JFK", "top": 10}));

        // 800 pixels wide, the plugins page fits.
        client.set_window_size(800, 900).await.unwrap();
        client.goto(&format!("{base}/plugins")).await.unwrap();
        let sideways = client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(sideways, json!(0), "the page scrolls sideways by {sideways} px");
        client.close().await.unwrap();
    });
}

/// A pipeline made in the page: flights-between builds the query, a step added after it
/// (delayed) filters; each step's first rows and counts are shown, and the shared link
/// keeps both steps.
#[test]
fn a_pipeline_of_two_plugins_runs_shows_each_step_and_shares() {
    let Some(driver) = driver() else { return };
    let store = tempfile::tempdir().unwrap();
    let app = web_app(store.path(), Settings::default());
    let between = store_plugin(&app, "flights_between");
    let delayed = store_plugin(&app, "delayed");
    tokio().block_on(async {
        let base = serve(app.clone()).await;
        let client = browser(&driver).await;
        client
            .goto(&format!("{base}/?plugin={between}"))
            .await
            .unwrap();
        until("the params form", || async {
            client.find(Locator::Id("param-origin")).await.ok()
        })
        .await;
        fill(&client, "param-origin", "JFK").await;
        fill(&client, "param-dest", "LAX").await;
        click(&client, "add-step").await;
        select(&client, "step-plugin-2", &delayed).await;
        fill(&client, "step-params-2", r#"{"min_delay": 120}"#).await;
        click(&client, "run").await;
        let rows = grid_after_run(&client).await;
        let expected: Vec<Vec<i64>> = sql(
            "SELECT count(*) FROM flights WHERE origin = 'JFK' AND dest = 'LAX' AND dep_delay >= 120",
        );
        assert_eq!(rows.len() as i64, expected[0][0]);
        let all: Vec<Vec<i64>> =
            sql("SELECT count(*) FROM flights WHERE origin = 'JFK' AND dest = 'LAX'");
        let steps = text(&client, "#step-previews").await;
        assert!(
            steps.contains(&format!("Step 1: flights-between — {} rows", fmt_count(all[0][0]))),
            "{steps}"
        );
        assert!(
            steps.contains(&format!("Step 2: delayed — {} rows", fmt_count(expected[0][0]))),
            "{steps}"
        );
        // Each step's first rows: up to 20 of its first batch with rows.
        for grid in client
            .find_all(Locator::Css("#step-previews .step-grid"))
            .await
            .unwrap()
        {
            let shown = grid.find_all(Locator::Css("tbody tr")).await.unwrap().len();
            assert!((1..=20).contains(&shown), "{shown} rows");
        }

        let link = share(&client).await;
        client.close().await.unwrap();
        let fresh = browser(&driver).await;
        fresh.goto(&link).await.unwrap();
        assert_eq!(grid_after_run(&fresh).await, rows);
        let step = fresh
            .find(Locator::Id("step-plugin-2"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap();
        assert_eq!(step.as_deref(), Some(delayed.as_str()));
        fresh.close().await.unwrap();
    });
}

/// A count as the page shows it (en-US grouping).
fn fmt_count(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A chart of a result: bars of a count per carrier, then a scatter; downloadable as SVG
/// and PNG; a shared link keeps it.
#[test]
fn a_chart_is_drawn_from_a_result_downloaded_and_shared() {
    let Some(driver) = driver() else { return };
    let store = tempfile::tempdir().unwrap();
    let app = web_app(store.path(), Settings::default());
    tokio().block_on(async {
        let base = serve(app.clone()).await;
        let client = browser(&driver).await;
        client.goto(&base).await.unwrap();
        set_editor(
            &client,
            "query",
            "SELECT carrier, count(*) AS flights, avg(distance) AS distance FROM flights GROUP BY carrier",
        )
        .await;
        click(&client, "run").await;
        assert_eq!(grid_after_run(&client).await.len(), 16);
        client
            .find(Locator::Css("#chart-panel summary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        select(&client, "chart-kind", "bar").await;
        select(&client, "chart-x", "carrier").await;
        select(&client, "chart-y", "flights").await;
        let bars = until("the bars", || async {
            let bars = client
                .find_all(Locator::Css("#chart svg g[aria-label='bar'] rect"))
                .await
                .ok()?
                .len();
            (bars > 0).then_some(bars)
        })
        .await;
        assert_eq!(bars, 16, "a bar per carrier");

        // SVG and PNG.
        let svg = client
            .execute("return window.quarry.chartText()", vec![])
            .await
            .unwrap();
        let svg = svg.as_str().unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("carrier"), "{}", &svg[..200.min(svg.len())]);
        let png = client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 import('/static/chart.js')
                     .then((chart) => chart.pngBlob(document.querySelector('#chart').firstElementChild))
                     .then((blob) => done([blob.type, blob.size]));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(png[0], json!("image/png"));
        assert!(png[1].as_u64().unwrap() > 1000, "{png}");

        // A scatter of distance against flights: a dot per carrier.
        select(&client, "chart-kind", "scatter").await;
        select(&client, "chart-x", "flights").await;
        select(&client, "chart-y", "distance").await;
        let dots = until("the dots", || async {
            let dots = client
                .find_all(Locator::Css("#chart svg g[aria-label='dot'] circle"))
                .await
                .ok()?
                .len();
            (dots > 0).then_some(dots)
        })
        .await;
        assert_eq!(dots, 16);

        // The shared link opens on the same chart.
        let link = share(&client).await;
        client.close().await.unwrap();
        let fresh = browser(&driver).await;
        fresh.goto(&link).await.unwrap();
        grid_after_run(&fresh).await;
        let dots = until("the shared chart", || async {
            let dots = fresh
                .find_all(Locator::Css("#chart svg g[aria-label='dot'] circle"))
                .await
                .ok()?
                .len();
            (dots > 0).then_some(dots)
        })
        .await;
        assert_eq!(dots, 16);
        fresh.close().await.unwrap();
    });
}

/// The screenshots in docs/ (`QUARRY_SCREENSHOTS=docs cargo test ... screenshots`): each
/// new part of the playground, light and dark. Without the variable it checks that
/// Chromium shows the dark scheme when asked, and that both schemes pass axe-core.
#[test]
fn screenshots_of_the_playground_light_and_dark() {
    use fantoccini::key::Key;
    let Some(driver) = driver() else { return };
    let out = std::env::var("QUARRY_SCREENSHOTS")
        .ok()
        .map(|dir| repo_root().join(dir));
    let store = tempfile::tempdir().unwrap();
    let app = web_app(store.path(), Settings::default());
    let between = store_plugin(&app, "flights_between");
    let delayed = store_plugin(&app, "delayed");
    tokio().block_on(async {
        let base = serve(app.clone()).await;
        for scheme in ["light", "dark"] {
            let flags: &[&str] = if scheme == "dark" {
                &["--force-dark-mode"]
            } else {
                &[]
            };
            let client = browser_with(&driver, flags).await;
            client.goto(&base).await.unwrap();
            let dark = client
                .execute(
                    "return matchMedia('(prefers-color-scheme: dark)').matches",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(dark, json!(scheme == "dark"));
            // Both schemes pass axe-core's checks (contrast above all).
            if let Some(violations) = accessibility_violations(&client).await {
                assert!(violations.is_empty(), "{scheme}: {violations:#?}");
            }
            let Some(out) = &out else {
                client.close().await.unwrap();
                continue;
            };
            let shot = |name: &'static str| {
                let client = &client;
                async move {
                    let png = client.screenshot().await.unwrap();
                    std::fs::write(out.join(format!("playground-{name}-{scheme}.png")), png)
                        .unwrap();
                }
            };
            // The editor completing a column, beside the schema panel.
            until("the schema", || async {
                text(&client, "#schema-tree")
                    .await
                    .contains("weather")
                    .then_some(())
            })
            .await;
            let content = client
                .find(Locator::Css("#query .cm-content"))
                .await
                .unwrap();
            content.click().await.unwrap();
            press(&client, "SELECT carrier, dep_d").await;
            until("completions", || async {
                text(&client, ".cm-tooltip-autocomplete")
                    .await
                    .contains("dep_delay")
                    .then_some(())
            })
            .await;
            shot("editor").await;
            press(&client, &Key::Escape.to_string()).await;

            // Every flight in the grid, sorted by delay.
            set_editor(&client, "query", "SELECT * FROM flights").await;
            fill(&client, "limit", "400000").await;
            click(&client, "run").await;
            grid_after_run(&client).await;
            let headers = client
                .find_all(Locator::Css("#grid thead th .sort"))
                .await
                .unwrap();
            headers[5].click().await.unwrap();
            headers[5].click().await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            shot("grid").await;

            // A chart.
            set_editor(
                &client,
                "query",
                "SELECT carrier, count(*) AS flights FROM flights GROUP BY carrier ORDER BY 2 DESC",
            )
            .await;
            click(&client, "run").await;
            grid_after_run(&client).await;
            client
                .find(Locator::Css("#chart-panel summary"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            until("the chart", || async {
                client.find(Locator::Css("#chart svg")).await.ok()
            })
            .await;
            client
                .execute(
                    "document.querySelector('#chart-panel').scrollIntoView()",
                    vec![],
                )
                .await
                .unwrap();
            shot("chart").await;
            client
                .find(Locator::Css("#chart-panel summary"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();

            // Explain.
            set_editor(
                &client,
                "query",
                "SELECT * FROM flights WHERE origin = 'JFK' AND dest = 'LAX' ORDER BY time_hour",
            )
            .await;
            client
                .execute("window.scrollTo(0, 0)", vec![])
                .await
                .unwrap();
            click(&client, "explain").await;
            until("the plan", || async {
                text(&client, "#plan-panel")
                    .await
                    .contains("SEARCH")
                    .then_some(())
            })
            .await;
            shot("explain").await;

            // A pipeline and its steps.
            client
                .goto(&format!("{base}/?plugin={between}"))
                .await
                .unwrap();
            until("the params form", || async {
                client.find(Locator::Id("param-origin")).await.ok()
            })
            .await;
            fill(&client, "param-origin", "JFK").await;
            fill(&client, "param-dest", "LAX").await;
            click(&client, "add-step").await;
            select(&client, "step-plugin-2", &delayed).await;
            fill(&client, "step-params-2", r#"{"min_delay": 120}"#).await;
            click(&client, "run").await;
            grid_after_run(&client).await;
            client
                .execute(
                    "document.querySelector('#steps-pane').scrollIntoView()",
                    vec![],
                )
                .await
                .unwrap();
            shot("pipeline").await;

            // History and saved queries.
            client
                .execute("window.scrollTo(0, 0)", vec![])
                .await
                .unwrap();
            fill(&client, "save-name", "Late JFK to LAX").await;
            click(&client, "save").await;
            client
                .find(Locator::Css("#history-panel summary"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            until("the history", || async {
                text(&client, "#history-list")
                    .await
                    .contains("flights-between")
                    .then_some(())
            })
            .await;
            shot("history").await;

            // The shortcuts.
            client
                .execute("document.activeElement.blur()", vec![])
                .await
                .unwrap();
            press(&client, "?").await;
            shot("shortcuts").await;
            press(&client, &Key::Escape.to_string()).await;
            if scheme == "light" {
                std::fs::write(
                    out.join("playground.png"),
                    client.screenshot().await.unwrap(),
                )
                .unwrap();
            }

            // The library: plugins, shared scripts and saved queries.
            client.goto(&format!("{base}/plugins")).await.unwrap();
            let png = client.screenshot().await.unwrap();
            std::fs::write(out.join(format!("library-{scheme}.png")), png).unwrap();
            client.close().await.unwrap();
        }
    });
}

/// The library page: compiled plugins and shared scripts listed apart, saved queries
/// beside them; a search filters; a plugin is renamed and a script deleted in the page.
#[test]
fn the_library_lists_scripts_apart_searches_renames_and_deletes() {
    let Some(driver) = driver() else { return };
    let store = tempfile::tempdir().unwrap();
    let app = web_app(store.path(), Settings::default());
    let units = store_plugin(&app, "units");
    tokio().block_on(async {
        let base = serve(app.clone()).await;
        let client = browser(&driver).await;
        client.goto(&format!("{base}/plugins")).await.unwrap();
        // A shared script and a saved query, as the playground stores them.
        let stored = client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 const post = (url, body) => fetch(url, {method: 'POST',
                     headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)})
                     .then((r) => r.json());
                 post('/api/scripts', {script: '// Keeps every flight\\nfunction transform(rows) {}'})
                     .then((s) => post('/api/snippets', {name: 'Airlines', source: 'demo',
                         query: 'SELECT * FROM airlines'}).then(() => done(s.plugin.sha256)));",
                vec![],
            )
            .await
            .unwrap();
        let script = stored.as_str().unwrap().to_owned();
        client.refresh().await.unwrap();
        let plugins = text(&client, "#plugin-list").await;
        let scripts = text(&client, "#script-list").await;
        assert!(plugins.contains("units") && !plugins.contains("Keeps every flight"), "{plugins}");
        assert!(scripts.contains("Keeps every flight") && !scripts.contains("units"), "{scripts}");
        assert!(text(&client, "#saved-queries").await.contains("Airlines"));

        // The search hides what does not match.
        fill(&client, "plugin-search", "keeps").await;
        let hidden = |sha: String| {
            let client = &client;
            async move {
                client
                    .execute(
                        "return document.querySelector(`tr[data-sha256='${arguments[0]}']`).hidden",
                        vec![json!(sha)],
                    )
                    .await
                    .unwrap()
            }
        };
        assert_eq!(hidden(units.clone()).await, json!(true));
        assert_eq!(hidden(script.clone()).await, json!(false));
        fill(&client, "plugin-search", "").await;

        // Rename units in its row.
        let row = client
            .find(Locator::Css(&format!("tr[data-sha256='{units}']")))
            .await
            .unwrap();
        row.find(Locator::Css("button.rename")).await.unwrap().click().await.unwrap();
        let field = row.find(Locator::Css(".plugin-name input")).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys("Units in km\u{E007}").await.unwrap();
        until("the new name", || async {
            let name = row.find(Locator::Css(".plugin-name a")).await.ok()?.text().await.ok()?;
            (name == "Units in km").then_some(())
        })
        .await;
        let meta = app.store.plugin(&units).await.unwrap().unwrap();
        assert_eq!(meta.label.as_deref(), Some("Units in km"));

        // A saved query that runs the script, then delete the script, confirming: the
        // saved query's link says the script is gone.
        let snippet = client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch('/api/snippets', {method: 'POST', headers: {'Content-Type': 'application/json'},
                     body: JSON.stringify({name: 'Kept', source: 'demo', plugin: arguments[0],
                         query: 'SELECT * FROM airlines'})})
                     .then((r) => r.json()).then((link) => done(link.url));",
                vec![json!(script)],
            )
            .await
            .unwrap();
        client
            .find(Locator::Css(&format!("tr[data-sha256='{script}'] button.delete")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client.accept_alert().await.unwrap();
        until("the script gone", || async {
            let gone = app.store.plugin(&script).await.ok()?.is_none();
            gone.then_some(())
        })
        .await;
        assert!(
            client
                .find(Locator::Css(&format!("tr[data-sha256='{script}']")))
                .await
                .is_err()
        );
        client
            .goto(&format!("{base}{}", snippet.as_str().unwrap()))
            .await
            .unwrap();
        let said = until("the missing plugin said", || async {
            let shown = text(&client, "#error").await;
            (!shown.is_empty()).then_some(shown)
        })
        .await;
        assert!(said.contains("not in this server's library"), "{said}");
        client.close().await.unwrap();
    });
}

/// Explain on PostgreSQL in the page: `EXPLAIN (FORMAT JSON)` drawn as a tree (of a query
/// on the catalog, which needs no data loaded).
#[test]
fn explain_on_postgres_in_a_real_browser() {
    let Some(url) = live_server(
        &["QUARRY_TEST_POSTGRES_URL"],
        "a PostgreSQL source for the page (scripts/postgres.sh)",
    ) else {
        return;
    };
    let Some(driver) = driver() else { return };
    let store = tempfile::tempdir().unwrap();
    let mut sources = quarry_sources::Sources::with_demo(data_dir());
    sources.insert(
        std::sync::Arc::new(
            quarry_sources::postgres::PostgresSource::new(
                "pg",
                &url,
                quarry_sources::Backend::Postgres,
                2,
            )
            .unwrap(),
        ),
        Default::default(),
    );
    let runtime = quarry_runtime::Runtime::new(quarry_runtime::RuntimeConfig {
        cache_dir: Some(data_dir().join("cache")),
        ..Default::default()
    })
    .unwrap();
    let app = std::sync::Arc::new(
        tokio()
            .block_on(quarry_server::App::new(
                std::sync::Arc::new(runtime),
                sources,
                store.path(),
                Settings::default(),
            ))
            .unwrap(),
    );
    tokio().block_on(async {
        let base = serve(app.clone()).await;
        let client = browser(&driver).await;
        client.goto(&base).await.unwrap();
        select(&client, "source", "pg").await;
        set_editor(
            &client,
            "query",
            "SELECT relname FROM pg_class WHERE relname = 'pg_type' ORDER BY relname",
        )
        .await;
        click(&client, "explain").await;
        let plan = until("the plan", || async {
            let shown = text(&client, "#plan-panel").await;
            shown.contains("pg_class").then_some(shown)
        })
        .await;
        assert!(plan.contains("EXPLAIN (FORMAT JSON)"), "{plan}");
        assert!(
            plan.contains("Scan") && plan.contains("on pg_class"),
            "{plan}"
        );
        client.close().await.unwrap();
    });
}
