//! The server's plugin library and shared snippets, kept in the store (see `db`):
//!
//! ```text
//! plugins   sha256, kind (component | script | runner), meta (what describe() said, size,
//!           upload time, as JSON), content (the component's bytes or the script's text)
//! snippets  id (16 hex digits of the content's SHA-256), body (plugin, source, params, query)
//! ```
//!
//! A plugin's listing and bytes are one row written in one statement, so a crash leaves
//! the whole entry or none of it. Reading a plugin's bytes checks them against its hash:
//! bytes changed in the database are refused, never run. Plugins and snippets an earlier
//! Quarry kept as files are imported when the store first opens.

use std::io;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::db::{Db, DbError};

use quarry_runtime::{LoadedPlugin, script, sha256_hex};

/// What a stored plugin is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// A compiled component.
    #[default]
    Component,
    /// JavaScript, run by the script runner named in `runner`.
    Script,
    /// A script runner: kept so that the scripts stored for it keep running after the
    /// server moves to a newer one; not listed.
    Runner,
}

/// A stored plugin's listing entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PluginMeta {
    /// SHA-256 of the stored bytes or, for a script, of its text and runner.
    pub sha256: String,
    /// Component, script or runner.
    #[serde(default)]
    pub kind: PluginKind,
    /// A script's runner (its SHA-256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    /// The plugin's name, from `describe`.
    pub name: String,
    /// The name the library shows instead, when its uploader or an admin renamed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Who uploaded it (a user's name), when it came through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_by: Option<String>,
    /// The plugin's version, from `describe`.
    pub version: String,
    /// What the plugin does, from `describe`.
    pub description: String,
    /// JSON Schema of the params, as the plugin gave it.
    pub params_schema: Option<String>,
    /// Whether the plugin builds the query.
    pub builds_query: bool,
    /// Whether rows go through the plugin's `transform`.
    pub transforms: bool,
    /// Size in bytes: the component's, or the script's text.
    pub size: u64,
    /// RFC 3339, UTC.
    pub uploaded_at: String,
    /// Imports the component declares.
    pub imports: Vec<String>,
}

/// A shared run: everything needed to fill the playground and run it again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Airports", "source": "demo", "plugin": null, "params": {}, "query": "SELECT * FROM airports LIMIT 5"}))]
pub struct Snippet {
    /// A name makes it a saved query, listed by `GET /api/snippets`; it is not part of
    /// the id (the same run saved again under another name is renamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// SHA-256 of the plugin; `None` for a plain query.
    pub plugin: Option<String>,
    /// The source to run on.
    pub source: String,
    /// The params object.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// Query text; `None` when the plugin builds the query.
    pub query: Option<String>,
    /// The steps of a pipeline after `plugin`, each transforming the rows of the one
    /// before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<Vec<PipelineStep>>,
    /// The chart the page draws of the rows. Like the name, it is not part of the id: the
    /// same run shared again with another chart keeps its link and takes that chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<Chart>,
}

/// A chart of a run's rows: its kind and the columns on its axes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    /// Bars (`y` summed by `x`), a line, or a scatter of points.
    pub kind: ChartKind,
    /// The column along the x axis.
    pub x: String,
    /// The column along the y axis.
    pub y: String,
    /// The column whose values colour the marks, one series each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
}

/// The kinds of chart the page draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    Bar,
    Line,
    Scatter,
}

/// A step of a pipeline after the first, as snippets and the history keep it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineStep {
    /// SHA-256 of the stored plugin or script.
    pub plugin: String,
    /// Its params object.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// Why the store cannot give a plugin.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such plugin is stored.
    #[error("no plugin {0} in the library")]
    UnknownPlugin(String),
    /// Stored bytes no longer match their SHA-256.
    #[error(
        "the stored plugin {0} does not match its SHA-256 (it was changed in the store); it will not run"
    )]
    Corrupt(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A file to import could not be read or moved.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The plugin library and snippets, in the store.
pub struct Store {
    db: Arc<Db>,
}

impl Store {
    /// The library in `db`. Plugins and snippets that an earlier Quarry kept as files in
    /// `data_dir` (`plugins/`, `snippets/`) are imported the first time, and the files moved
    /// to `imported-files/`.
    pub async fn open(db: Arc<Db>, data_dir: &Path) -> Result<Store, StoreError> {
        let store = Store { db };
        store.import_files(data_dir).await?;
        Ok(store)
    }

    /// Whether the store answers and can be written.
    pub async fn check(&self) -> Result<(), DbError> {
        self.db.check().await
    }

    /// Stores a loaded plugin's bytes and listing; `false` when it was already there.
    pub async fn put_plugin(
        &self,
        wasm: &[u8],
        plugin: &LoadedPlugin,
    ) -> Result<(PluginMeta, bool), StoreError> {
        self.put(PluginKind::Component, None, wasm, plugin, None)
            .await
    }

    /// [`Store::put_plugin`] for an upload by `uploader`, who may then rename or delete it.
    pub(crate) async fn put_upload(
        &self,
        wasm: &[u8],
        plugin: &LoadedPlugin,
        uploader: &str,
    ) -> Result<(PluginMeta, bool), StoreError> {
        self.put(PluginKind::Component, None, wasm, plugin, Some(uploader))
            .await
    }

    /// Sets the name the library shows for a plugin; `None` when there is no such plugin.
    pub(crate) async fn rename(
        &self,
        sha256: &str,
        label: &str,
    ) -> Result<Option<PluginMeta>, StoreError> {
        let Some(mut meta) = self.plugin(sha256).await? else {
            return Ok(None);
        };
        meta.label = Some(label.to_owned());
        let json = serde_json::to_string(&meta).map_err(io::Error::other)?;
        self.db
            .execute(
                "UPDATE plugins SET meta = $2 WHERE sha256 = $1",
                &[sha256.into(), json.into()],
            )
            .await?;
        Ok(Some(meta))
    }

    /// Stores the script runner, unlisted, so scripts stored for it can always run.
    pub(crate) async fn put_runner(
        &self,
        wasm: &[u8],
        runner: &LoadedPlugin,
    ) -> Result<PluginMeta, StoreError> {
        self.put(PluginKind::Runner, None, wasm, runner, None)
            .await
            .map(|(meta, _)| meta)
    }

    /// Stores a script (made with [`LoadedPlugin::with_script`]) run by `runner`, shared
    /// by `uploader`.
    pub(crate) async fn put_script(
        &self,
        script: &LoadedPlugin,
        runner: &str,
        uploader: &str,
    ) -> Result<(PluginMeta, bool), StoreError> {
        let text = script.script().unwrap_or_default();
        self.put(
            PluginKind::Script,
            Some(runner),
            text.as_bytes(),
            script,
            Some(uploader),
        )
        .await
    }

    async fn put(
        &self,
        kind: PluginKind,
        runner: Option<&str>,
        bytes: &[u8],
        plugin: &LoadedPlugin,
        uploader: Option<&str>,
    ) -> Result<(PluginMeta, bool), StoreError> {
        if let Some(meta) = self.plugin(&plugin.sha256).await? {
            return Ok((meta, false));
        }
        let meta = PluginMeta {
            sha256: plugin.sha256.clone(),
            kind,
            runner: runner.map(str::to_owned),
            name: plugin.info.name.clone(),
            label: None,
            uploaded_by: uploader.map(str::to_owned),
            version: plugin.info.version.clone(),
            description: plugin.info.description.clone(),
            params_schema: plugin.info.params_schema.clone(),
            builds_query: plugin.info.builds_query,
            transforms: plugin.info.transforms,
            size: bytes.len() as u64,
            uploaded_at: now_rfc3339(),
            imports: plugin.imports.clone(),
        };
        let created = self.insert(&meta, bytes).await?;
        Ok((meta, created))
    }

    /// Writes a plugin's listing and bytes in one statement, so both or neither are
    /// stored; `false` when it was there.
    async fn insert(&self, meta: &PluginMeta, bytes: &[u8]) -> Result<bool, StoreError> {
        let json = serde_json::to_string(meta).map_err(io::Error::other)?;
        let kind = serde_json::to_value(meta.kind).map_err(io::Error::other)?;
        let inserted = self
            .db
            .execute(
                "INSERT INTO plugins (sha256, kind, meta, content, uploaded_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
                &[
                    (&meta.sha256).into(),
                    kind.as_str().into(),
                    json.into(),
                    bytes.into(),
                    (&meta.uploaded_at).into(),
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    /// Every stored plugin and script, newest first (runners are not listed).
    pub async fn plugins(&self) -> Result<Vec<PluginMeta>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT meta FROM plugins WHERE kind <> 'runner' ORDER BY uploaded_at DESC, sha256",
                &[],
            )
            .await?;
        let mut all: Vec<PluginMeta> = rows
            .into_iter()
            .filter_map(|row| row.into_iter().next()?.text())
            .filter_map(|json| serde_json::from_str(&json).ok())
            .collect();
        all.sort_by(|a, b| b.uploaded_at.cmp(&a.uploaded_at).then(a.name.cmp(&b.name)));
        Ok(all)
    }

    /// A stored plugin's listing, when there is one.
    pub async fn plugin(&self, sha256: &str) -> Result<Option<PluginMeta>, StoreError> {
        if !is_sha256(sha256) {
            return Ok(None);
        }
        let row = self
            .db
            .query_one(
                "SELECT meta FROM plugins WHERE sha256 = $1",
                &[sha256.into()],
            )
            .await?;
        Ok(row
            .and_then(|row| row.into_iter().next()?.text())
            .and_then(|json| serde_json::from_str(&json).ok())
            .filter(|m: &PluginMeta| m.sha256 == sha256))
    }

    /// A plugin's stored bytes (a script's text), when there are any.
    async fn content(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .db
            .query_one(
                "SELECT content FROM plugins WHERE sha256 = $1",
                &[sha256.into()],
            )
            .await?;
        Ok(row.and_then(|row| row.into_iter().next()?.blob()))
    }

    /// A stored plugin's bytes, checked against its hash.
    pub(crate) async fn plugin_wasm(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        match self.plugin(sha256).await? {
            Some(meta) if meta.kind != PluginKind::Script => {}
            _ => return Err(StoreError::UnknownPlugin(sha256.to_owned())),
        }
        let wasm = self
            .content(sha256)
            .await?
            .ok_or_else(|| StoreError::UnknownPlugin(sha256.to_owned()))?;
        if sha256_hex(&wasm) != sha256 {
            return Err(StoreError::Corrupt(sha256.to_owned()));
        }
        Ok(wasm)
    }

    /// A stored script's text and its runner's SHA-256, checked against its hash.
    pub async fn script(&self, sha256: &str) -> Result<(String, String), StoreError> {
        let unknown = || StoreError::UnknownPlugin(sha256.to_owned());
        let meta = self.plugin(sha256).await?.ok_or_else(unknown)?;
        let runner = match (meta.kind, &meta.runner) {
            (PluginKind::Script, Some(runner)) => runner.clone(),
            _ => return Err(unknown()),
        };
        let bytes = self.content(sha256).await?.ok_or_else(unknown)?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::Corrupt(sha256.into()))?;
        if script::sha256(&text, &runner) != sha256 {
            return Err(StoreError::Corrupt(sha256.to_owned()));
        }
        Ok((text, runner))
    }

    /// Stores a snippet under the id derived from its content; `false` when it was there
    /// as it is. A name renames the stored run; no name keeps the one it has.
    pub(crate) async fn put_snippet(
        &self,
        snippet: &Snippet,
    ) -> Result<(String, bool), StoreError> {
        let id = snippet_id(snippet);
        let stored = self.snippet(&id).await?;
        let snippet = Snippet {
            name: snippet
                .name
                .clone()
                .or_else(|| stored.as_ref().and_then(|s| s.name.clone())),
            chart: snippet
                .chart
                .clone()
                .or_else(|| stored.as_ref().and_then(|s| s.chart.clone())),
            ..snippet.clone()
        };
        if stored.as_ref() == Some(&snippet) {
            return Ok((id, false));
        }
        let json = serde_json::to_string(&snippet).map_err(io::Error::other)?;
        self.db
            .execute(
                "INSERT INTO snippets (id, body, created_at, name) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body, name = excluded.name",
                &[
                    (&id).into(),
                    json.into(),
                    now_rfc3339().into(),
                    snippet.name.clone().into(),
                ],
            )
            .await?;
        Ok((id, stored.is_none()))
    }

    /// The saved (named) snippets, newest first, with their ids and when they were saved.
    pub async fn saved_snippets(
        &self,
        limit: usize,
    ) -> Result<Vec<(String, Snippet, String)>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT id, body, created_at FROM snippets WHERE name IS NOT NULL
                 ORDER BY created_at DESC, id LIMIT $1",
                &[(limit as i64).into()],
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let mut cells = row.into_iter();
                let id = cells.next()?.text()?;
                let snippet = serde_json::from_str(&cells.next()?.text()?).ok()?;
                Some((id, snippet, cells.next()?.text()?))
            })
            .collect())
    }

    /// A stored snippet by id; `None` when there is none or `id` is not a snippet id.
    pub async fn snippet(&self, id: &str) -> Result<Option<Snippet>, StoreError> {
        if !is_snippet_id(id) {
            return Ok(None);
        }
        let row = self
            .db
            .query_one("SELECT body FROM snippets WHERE id = $1", &[id.into()])
            .await?;
        row.and_then(|row| row.into_iter().next()?.text())
            .map(|json| serde_json::from_str(&json).map_err(|e| io::Error::other(e).into()))
            .transpose()
    }

    /// Deletes a plugin or script; `false` when there was none. Runners are not deleted
    /// (stored scripts need them).
    pub(crate) async fn delete_plugin(&self, sha256: &str) -> Result<bool, StoreError> {
        let deleted = self
            .db
            .execute(
                "DELETE FROM plugins WHERE sha256 = $1 AND kind <> 'runner'",
                &[sha256.into()],
            )
            .await?;
        Ok(deleted == 1)
    }

    /// Deletes a snippet; `false` when there was none.
    pub(crate) async fn delete_snippet(&self, id: &str) -> Result<bool, StoreError> {
        let deleted = self
            .db
            .execute("DELETE FROM snippets WHERE id = $1", &[id.into()])
            .await?;
        Ok(deleted == 1)
    }

    /// Imports what an earlier Quarry kept in files: `plugins/<sha256>.json` with its
    /// `.wasm` or `.js`, and `snippets/<id>.json`. Each entry is checked (a plugin's bytes
    /// against its hash) and imported unless the store has it; then the two directories
    /// move to `imported-files/`, so nothing is lost and nothing imported twice.
    async fn import_files(&self, data_dir: &Path) -> Result<(), StoreError> {
        let (plugins, snippets) = (data_dir.join("plugins"), data_dir.join("snippets"));
        if !plugins.is_dir() && !snippets.is_dir() {
            return Ok(());
        }
        let (mut imported, mut refused) = (0, Vec::new());
        for entry in std::fs::read_dir(&plugins).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let meta: Option<PluginMeta> = std::fs::read(&path)
                .ok()
                .and_then(|json| serde_json::from_slice(&json).ok());
            let Some(meta) = meta.filter(|m| is_sha256(&m.sha256)) else {
                refused.push(path);
                continue;
            };
            let extension = if meta.kind == PluginKind::Script {
                "js"
            } else {
                "wasm"
            };
            let bytes = std::fs::read(plugins.join(format!("{}.{extension}", meta.sha256)));
            let whole = match (&bytes, meta.kind, &meta.runner) {
                (Ok(b), PluginKind::Script, Some(runner)) => std::str::from_utf8(b)
                    .is_ok_and(|text| script::sha256(text, runner) == meta.sha256),
                (Ok(b), PluginKind::Component | PluginKind::Runner, _) => {
                    sha256_hex(b) == meta.sha256
                }
                _ => false,
            };
            match bytes {
                Ok(bytes) if whole => {
                    self.insert(&meta, &bytes).await?;
                    imported += 1;
                }
                _ => refused.push(path),
            }
        }
        for entry in std::fs::read_dir(&snippets).into_iter().flatten().flatten() {
            let path = entry.path();
            let snippet: Option<Snippet> = std::fs::read(&path)
                .ok()
                .and_then(|json| serde_json::from_slice(&json).ok());
            match snippet {
                Some(snippet) => {
                    self.put_snippet(&snippet).await?;
                    imported += 1;
                }
                None if path.extension().is_some_and(|e| e == "json") => refused.push(path),
                None => {}
            }
        }
        let aside = data_dir.join("imported-files");
        std::fs::create_dir_all(&aside)?;
        for dir in [plugins, snippets] {
            if dir.is_dir() {
                let name = dir.file_name().expect("a directory name").to_owned();
                std::fs::rename(&dir, aside.join(name))?;
            }
        }
        tracing::info!(
            imported,
            refused = refused.len(),
            kept_in = %aside.display(),
            "imported the plugins and snippets kept as files"
        );
        for path in refused {
            tracing::warn!(file = %path.display(), "not imported: unreadable, or its bytes do not match its hash");
        }
        Ok(())
    }
}

/// 16 hex digits of the SHA-256 of the snippet's canonical JSON (object keys sorted).
pub(crate) fn snippet_id(snippet: &Snippet) -> String {
    let mut canonical = serde_json::json!({
        "plugin": snippet.plugin,
        "source": snippet.source,
        "params": canonical(&snippet.params),
        "query": snippet.query,
    });
    // Only a pipeline has steps: the ids of runs of one plugin stay what they were.
    if let Some(then) = &snippet.then {
        canonical["then"] = then
            .iter()
            .map(|step| serde_json::json!({"plugin": step.plugin, "params": self::canonical(&step.params)}))
            .collect();
    }
    sha256_hex(canonical.to_string().as_bytes())[..16].to_owned()
}

/// `value` with every object's keys in sorted order.
fn canonical(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let sorted: std::collections::BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

pub(crate) fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn is_snippet_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn now_rfc3339() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    // Whole seconds are enough for a listing.
    quarry_core::datetime::format_timestamp(micros - micros.rem_euclid(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snippet(params: serde_json::Value) -> Snippet {
        Snippet {
            name: None,
            plugin: Some("a".repeat(64)),
            source: "demo".into(),
            params,
            query: None,
            then: None,
            chart: None,
        }
    }

    #[test]
    fn snippet_ids_depend_on_content_not_key_order() {
        let a = snippet(serde_json::json!({"origin": "JFK", "dest": "LAX"}));
        let b: Snippet = serde_json::from_str(&format!(
            r#"{{"plugin": "{}", "source": "demo", "params": {{"dest": "LAX", "origin": "JFK"}}, "query": null}}"#,
            "a".repeat(64)
        ))
        .unwrap();
        assert_eq!(snippet_id(&a), snippet_id(&b));
        assert!(is_snippet_id(&snippet_id(&a)));
        let c = snippet(serde_json::json!({"origin": "JFK", "dest": "SFO"}));
        assert_ne!(snippet_id(&a), snippet_id(&c));
    }

    async fn open(dir: &Path) -> Store {
        let url = crate::db::StoreUrl::parse(dir, None).unwrap();
        let db = Arc::new(Db::open(&url).await.unwrap());
        Store::open(db, dir).await.unwrap()
    }

    #[tokio::test]
    async fn snippets_persist_and_names_never_become_paths() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).await;
        let s = snippet(serde_json::json!({"x": 1}));
        let (id, created) = store.put_snippet(&s).await.unwrap();
        assert!(created);
        assert_eq!(store.put_snippet(&s).await.unwrap(), (id.clone(), false));
        drop(store);
        let reopened = open(dir.path()).await;
        assert_eq!(reopened.snippet(&id).await.unwrap(), Some(s));
        for bad in ["../../etc/passwd", "..", "ABCDEF0123456789", ""] {
            assert_eq!(reopened.snippet(bad).await.unwrap(), None, "{bad}");
            assert!(reopened.plugin(bad).await.unwrap().is_none());
            assert!(matches!(
                reopened.plugin_wasm(bad).await,
                Err(StoreError::UnknownPlugin(_))
            ));
        }
    }
}
