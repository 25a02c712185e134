//! Scripts: JavaScript plugins that need no toolchain.
//!
//! Quarry ships one script runner, a plugin component built from
//! `plugins/script-runner` that embeds QuickJS. A script is text; running it means
//! running the runner with the params `{"script": TEXT, "params": USER_PARAMS}`. So a
//! script costs no compilation (the runner is compiled once and cached like any plugin)
//! and runs under exactly a plugin's limits, with no extra capabilities.
//!
//! A script's identity is the SHA-256 of its text followed by the runner's SHA-256 (64
//! lowercase hex digits): the same text under another runner is another plugin, because
//! it may behave differently.

use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{LoadedPlugin, PluginId, PluginInfo};

/// The runner's file name as `cargo plugins` builds it.
pub const RUNNER_FILE: &str = "script_runner.wasm";

/// The largest script accepted, in bytes.
pub const MAX_SCRIPT_BYTES: usize = 256 << 10;

/// The starter scripts, for the demo data: the playground offers them and the benchmark
/// runs them (plugins/scripts; tests/plugins/scripts.rs checks their answers).
pub const STARTERS: [(&str, &str); 5] = [
    ("units", include_str!("../../../plugins/scripts/units.js")),
    (
        "units-columns",
        include_str!("../../../plugins/scripts/units-columns.js"),
    ),
    (
        "late-arrivals",
        include_str!("../../../plugins/scripts/late-arrivals.js"),
    ),
    (
        "delay-stats",
        include_str!("../../../plugins/scripts/delay-stats.js"),
    ),
    (
        "busiest-routes",
        include_str!("../../../plugins/scripts/busiest-routes.js"),
    ),
];

/// The text of starter script `name`.
pub fn starter(name: &str) -> Option<&'static str> {
    STARTERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// A script's SHA-256: of its text, then the runner's SHA-256 in hex.
pub fn sha256(text: &str, runner_sha256: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(text.as_bytes());
    hash.update(runner_sha256.as_bytes());
    hex::encode(hash.finalize())
}

/// What the listing says of a script: its description is the text of the comment lines
/// it starts with, if any.
pub fn info(name: &str, text: &str) -> PluginInfo {
    let description = text
        .lines()
        .map(str::trim)
        .take_while(|line| line.starts_with("//"))
        .map(|line| line.trim_start_matches('/').trim())
        .collect::<Vec<_>>()
        .join(" ");
    PluginInfo {
        name: name.to_owned(),
        version: String::new(),
        description,
        params_schema: None,
        builds_query: true,
        transforms: true,
        reads: None,
        stateless: declares_stateless(text),
        merges: false,
        contract: "0.2",
    }
}

/// Whether a script says that its transform keeps nothing from one batch to the next, with
/// a line `const stateless = true;` (or `let`, `var`) at the top level, unindented. Then a
/// run may read several partitions at once, each through its own runner, as for a compiled
/// plugin that declares it; each runner runs the script's `finish` too.
pub fn declares_stateless(text: &str) -> bool {
    text.lines().any(|line| {
        let code = line.split("//").next().unwrap_or_default();
        let Some(rest) = ["const ", "let ", "var "]
            .iter()
            .find_map(|keyword| code.strip_prefix(keyword))
        else {
            return false;
        };
        let compact: String = rest.split_whitespace().collect();
        compact.trim_end_matches(';') == "stateless=true"
    })
}

/// The runner's file: `$QUARRY_SCRIPT_RUNNER`, else `wasm32-wasip2/release/` in the
/// cargo target directory that holds this executable (as `cargo plugins` leaves it).
pub fn find_runner() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("QUARRY_SCRIPT_RUNNER") {
        return Some(path.into());
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(3)
        .map(|dir| dir.join("wasm32-wasip2/release").join(RUNNER_FILE))
        .find(|path| path.is_file())
}

/// Says how to get the runner when there is none.
pub const NO_RUNNER: &str = "scripts need the script runner, which is not built: run `cargo plugins` \
     (scripts/toolchain.sh installs the C compiler it needs), or point QUARRY_SCRIPT_RUNNER \
     or --script-runner at script_runner.wasm";

impl LoadedPlugin {
    /// `text` as a plugin of its own, run by this plugin, which must be the script
    /// runner. Shares the runner's compiled code.
    pub fn with_script(&self, text: &str, name: &str) -> LoadedPlugin {
        let sha256 = sha256(text, &self.sha256);
        LoadedPlugin {
            id: PluginId(sha256.clone()),
            sha256,
            info: info(name, text),
            size: text.len(),
            imports: self.imports.clone(),
            script: Some(Arc::from(text)),
            pre: self.pre.clone(),
        }
    }

    /// The script's text, for a script.
    pub fn script(&self) -> Option<&str> {
        self.script.as_deref()
    }

    /// The params text to pass to `init`: a script's runner gets the script with them
    /// (the params text as it is; the runner refuses it if it is not a JSON object).
    pub fn init_params(&self, params: &str) -> String {
        match &self.script {
            None => params.to_owned(),
            Some(text) => format!(
                r#"{{"script":{},"params":{params}}}"#,
                serde_json::Value::from(&**text)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_declares_stateless_with_a_top_level_line() {
        for yes in [
            "const stateless = true;",
            "let stateless=true",
            "var  stateless =  true ; // each batch alone",
            "const x = 1;\nconst stateless = true;\nfunction transform(rows) { return rows; }",
        ] {
            assert!(declares_stateless(yes), "{yes}");
        }
        for no in [
            "const stateless = false;",
            "  const stateless = true; // indented: inside a block",
            "// const stateless = true;",
            "const statelessish = true;",
            "const stateless = true && false;",
            "function transform(rows) { return rows; }",
        ] {
            assert!(!declares_stateless(no), "{no}");
        }
        assert!(info("units", STARTERS[0].1).stateless);
        assert!(!info("delay-stats", starter("delay-stats").unwrap()).stateless);
    }

    #[test]
    fn the_hash_covers_the_text_and_the_runner() {
        let a = sha256("function transform(r) {}", &"a".repeat(64));
        assert_eq!(a.len(), 64);
        assert_ne!(a, sha256("function transform(r) {}", &"b".repeat(64)));
        assert_ne!(a, sha256("function transform(r) { }", &"a".repeat(64)));
        let mut whole = b"function transform(r) {}".to_vec();
        whole.extend_from_slice("a".repeat(64).as_bytes());
        assert_eq!(a, super::super::sha256_hex(&whole));
    }

    #[test]
    fn the_description_is_the_leading_comment() {
        let info = info(
            "delays",
            "// Mean delay\n// by carrier.\nfunction transform(r) {}\n// not this",
        );
        assert_eq!(info.description, "Mean delay by carrier.");
        assert_eq!(info.name, "delays");
        assert_eq!(super::info("s", "let x;").description, "");
    }
}
