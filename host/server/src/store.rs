//! The server's plugin library and shared snippets, kept in the data directory.
//!
//! ```text
//! <data>/plugins/<sha256>.wasm   the plugin's bytes, named by their SHA-256
//! <data>/plugins/<sha256>.js     a script's text (its SHA-256 also covers its runner's)
//! <data>/plugins/<sha256>.json   what describe() said, its size and upload time
//! <data>/snippets/<id>.json      plugin hash, source name, params, query text
//! ```
//!
//! Every file is written to a temporary file in the same directory, synced, and renamed
//! into place, so a crash leaves either the whole entry or none of it. A plugin is listed
//! only once its metadata exists, which is written after its bytes. Reading a plugin's
//! bytes checks their hash against the name: a file changed on disk is refused, never run.
//! Names from requests are checked to be exactly 64 (plugin) or 16 (snippet) lowercase
//! hex digits before they touch a path.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use quarry_runtime::cache::write_atomically;
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
#[schema(example = json!({"source": "demo", "plugin": null, "params": {}, "query": "SELECT * FROM airports LIMIT 5"}))]
pub struct Snippet {
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
    /// A stored file no longer matches its SHA-256.
    #[error(
        "the stored plugin {0} does not match its SHA-256 (its file was changed on disk); it will not run"
    )]
    Corrupt(String),
    /// The file system failed.
    #[error("the store cannot be read or written: {0}")]
    Io(#[from] io::Error),
}

/// The plugin library and snippets on disk, under the data directory.
pub struct Store {
    plugins: PathBuf,
    snippets: PathBuf,
}

impl Store {
    /// Opens (creating when needed) the store under `data_dir`.
    pub fn open(data_dir: &Path) -> io::Result<Store> {
        let store = Store {
            plugins: data_dir.join("plugins"),
            snippets: data_dir.join("snippets"),
        };
        std::fs::create_dir_all(&store.plugins)?;
        std::fs::create_dir_all(&store.snippets)?;
        store.remove_unfinished_writes();
        Ok(store)
    }

    /// Whether the store can be written: a file is created and removed in each directory.
    pub fn check(&self) -> io::Result<()> {
        for dir in [&self.plugins, &self.snippets] {
            tempfile::NamedTempFile::with_prefix_in(".tmp-ready", dir)?.close()?;
        }
        Ok(())
    }

    /// Deletes the temporary files of writes a crash interrupted (never renamed into place,
    /// so never part of an entry).
    fn remove_unfinished_writes(&self) {
        for dir in [&self.plugins, &self.snippets] {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().starts_with(".tmp") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// Stores a loaded plugin's bytes and listing; `false` when it was already there.
    pub fn put_plugin(&self, wasm: &[u8], plugin: &LoadedPlugin) -> io::Result<(PluginMeta, bool)> {
        self.put(PluginKind::Component, None, wasm, plugin)
    }

    /// Stores the script runner, unlisted, so scripts stored for it can always run.
    pub(crate) fn put_runner(&self, wasm: &[u8], runner: &LoadedPlugin) -> io::Result<PluginMeta> {
        self.put(PluginKind::Runner, None, wasm, runner)
            .map(|(meta, _)| meta)
    }

    /// Stores a script (made with [`LoadedPlugin::with_script`]) run by `runner`.
    pub(crate) fn put_script(
        &self,
        script: &LoadedPlugin,
        runner: &str,
    ) -> io::Result<(PluginMeta, bool)> {
        let text = script.script().unwrap_or_default();
        self.put(PluginKind::Script, Some(runner), text.as_bytes(), script)
    }

    fn put(
        &self,
        kind: PluginKind,
        runner: Option<&str>,
        bytes: &[u8],
        plugin: &LoadedPlugin,
    ) -> io::Result<(PluginMeta, bool)> {
        if let Some(meta) = self.plugin(&plugin.sha256) {
            if self.content_path(&meta).is_file() {
                return Ok((meta, false));
            }
        }
        let meta = PluginMeta {
            sha256: plugin.sha256.clone(),
            kind,
            runner: runner.map(str::to_owned),
            name: plugin.info.name.clone(),
            version: plugin.info.version.clone(),
            description: plugin.info.description.clone(),
            params_schema: plugin.info.params_schema.clone(),
            builds_query: plugin.info.builds_query,
            transforms: plugin.info.transforms,
            size: bytes.len() as u64,
            uploaded_at: now_rfc3339(),
            imports: plugin.imports.clone(),
        };
        write_atomically(&self.content_path(&meta), bytes)?;
        let json = serde_json::to_vec_pretty(&meta).map_err(io::Error::other)?;
        write_atomically(&self.meta_path(&meta.sha256), &json)?;
        Ok((meta, true))
    }

    /// Every stored plugin and script, newest first (runners are not listed).
    pub fn plugins(&self) -> Vec<PluginMeta> {
        let mut all: Vec<PluginMeta> = std::fs::read_dir(&self.plugins)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let sha = name.strip_suffix(".json")?;
                self.plugin(sha)
            })
            .filter(|meta| meta.kind != PluginKind::Runner)
            .collect();
        all.sort_by(|a, b| b.uploaded_at.cmp(&a.uploaded_at).then(a.name.cmp(&b.name)));
        all
    }

    /// A stored plugin's listing, when there is one.
    pub fn plugin(&self, sha256: &str) -> Option<PluginMeta> {
        if !is_sha256(sha256) {
            return None;
        }
        let text = std::fs::read(self.meta_path(sha256)).ok()?;
        serde_json::from_slice(&text)
            .ok()
            .filter(|m: &PluginMeta| m.sha256 == sha256)
    }

    /// A stored plugin's bytes, checked against its hash.
    pub(crate) fn plugin_wasm(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        match self.plugin(sha256) {
            Some(meta) if meta.kind != PluginKind::Script => {}
            _ => return Err(StoreError::UnknownPlugin(sha256.to_owned())),
        }
        let wasm = match std::fs::read(self.wasm_path(sha256)) {
            Ok(wasm) => wasm,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::UnknownPlugin(sha256.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        if sha256_hex(&wasm) != sha256 {
            return Err(StoreError::Corrupt(sha256.to_owned()));
        }
        Ok(wasm)
    }

    /// A stored script's text and its runner's SHA-256, checked against its hash.
    pub fn script(&self, sha256: &str) -> Result<(String, String), StoreError> {
        let unknown = || StoreError::UnknownPlugin(sha256.to_owned());
        let meta = self.plugin(sha256).ok_or_else(unknown)?;
        let runner = match (meta.kind, &meta.runner) {
            (PluginKind::Script, Some(runner)) => runner.clone(),
            _ => return Err(unknown()),
        };
        let text = match std::fs::read(self.content_path(&meta)) {
            Ok(bytes) => {
                String::from_utf8(bytes).map_err(|_| StoreError::Corrupt(sha256.into()))?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(unknown()),
            Err(e) => return Err(e.into()),
        };
        if script::sha256(&text, &runner) != sha256 {
            return Err(StoreError::Corrupt(sha256.to_owned()));
        }
        Ok((text, runner))
    }

    /// Stores a snippet under the id derived from its content; `false` when it was there.
    pub(crate) fn put_snippet(&self, snippet: &Snippet) -> io::Result<(String, bool)> {
        let id = snippet_id(snippet);
        let path = self.snippets.join(format!("{id}.json"));
        if self.snippet(&id)?.as_ref() == Some(snippet) {
            return Ok((id, false));
        }
        let json = serde_json::to_vec_pretty(snippet).map_err(io::Error::other)?;
        write_atomically(&path, &json)?;
        Ok((id, true))
    }

    /// A stored snippet by id; `None` when there is none or `id` is not a snippet id.
    pub fn snippet(&self, id: &str) -> io::Result<Option<Snippet>> {
        if !is_snippet_id(id) {
            return Ok(None);
        }
        match std::fs::read(self.snippets.join(format!("{id}.json"))) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes a plugin or script: its listing first, so that it is gone at once, then its
    /// bytes. `false` when there was none; runners are not deleted (stored scripts need
    /// them).
    pub(crate) fn delete_plugin(&self, sha256: &str) -> io::Result<bool> {
        let Some(meta) = self.plugin(sha256).filter(|m| m.kind != PluginKind::Runner) else {
            return Ok(false);
        };
        std::fs::remove_file(self.meta_path(sha256))?;
        match std::fs::remove_file(self.content_path(&meta)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(true),
        }
    }

    /// Deletes a snippet; `false` when there was none.
    pub(crate) fn delete_snippet(&self, id: &str) -> io::Result<bool> {
        if !is_snippet_id(id) {
            return Ok(false);
        }
        match std::fs::remove_file(self.snippets.join(format!("{id}.json"))) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The file with a plugin's bytes or a script's text.
    fn content_path(&self, meta: &PluginMeta) -> PathBuf {
        match meta.kind {
            PluginKind::Script => self.plugins.join(format!("{}.js", meta.sha256)),
            PluginKind::Component | PluginKind::Runner => self.wasm_path(&meta.sha256),
        }
    }

    fn wasm_path(&self, sha256: &str) -> PathBuf {
        self.plugins.join(format!("{sha256}.wasm"))
    }

    fn meta_path(&self, sha256: &str) -> PathBuf {
        self.plugins.join(format!("{sha256}.json"))
    }
}

/// 16 hex digits of the SHA-256 of the snippet's canonical JSON (object keys sorted).
pub(crate) fn snippet_id(snippet: &Snippet) -> String {
    let canonical = serde_json::json!({
        "plugin": snippet.plugin,
        "source": snippet.source,
        "params": canonical(&snippet.params),
        "query": snippet.query,
    });
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
            plugin: Some("a".repeat(64)),
            source: "demo".into(),
            params,
            query: None,
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

    #[test]
    fn snippets_persist_and_names_never_become_paths() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = snippet(serde_json::json!({"x": 1}));
        let (id, created) = store.put_snippet(&s).unwrap();
        assert!(created);
        assert_eq!(store.put_snippet(&s).unwrap(), (id.clone(), false));
        let reopened = Store::open(dir.path()).unwrap();
        assert_eq!(reopened.snippet(&id).unwrap(), Some(s));
        for bad in ["../../etc/passwd", "..", "ABCDEF0123456789", ""] {
            assert_eq!(reopened.snippet(bad).unwrap(), None, "{bad}");
            assert!(reopened.plugin(bad).is_none());
            assert!(matches!(
                reopened.plugin_wasm(bad),
                Err(StoreError::UnknownPlugin(_))
            ));
        }
    }
}
