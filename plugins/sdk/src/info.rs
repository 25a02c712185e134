//! What `describe` returns: the plugin's static facts.

use crate::raw;

/// Static facts about a plugin, as `describe` reports them.
///
/// Start from [`plugin_info!`](crate::plugin_info), which fills in the name, version and
/// description from the crate's `Cargo.toml`, then say what the plugin does:
///
/// ```
/// # use quarry_plugin::plugin_info;
/// let info = plugin_info!()
///     .transforms()
///     .params_schema(serde_json::json!({"type": "object"}));
/// # let _ = info;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Info {
    name: String,
    version: String,
    description: String,
    params_schema: Option<String>,
    builds_query: bool,
    transforms: bool,
    reads: Option<Vec<String>>,
    stateless: bool,
}

impl Info {
    /// Facts with an empty description, no params schema, and neither capability.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Info {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            params_schema: None,
            builds_query: false,
            transforms: false,
            reads: None,
            stateless: false,
        }
    }

    /// Sets the one-line description shown next to the plugin.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the JSON Schema of the params object, for the host to show and check params
    /// against. (`serde_json::json!` sorts an object's keys; that does not change what
    /// the schema means.)
    pub fn params_schema(mut self, schema: serde_json::Value) -> Self {
        self.params_schema = Some(schema.to_string());
        self
    }

    /// Says the plugin builds its own query (`Plugin::build_query` returns `Some`).
    pub fn builds_query(mut self) -> Self {
        self.builds_query = true;
        self
    }

    /// Says the plugin transforms rows (`Plugin::transform` or `Plugin::finish`).
    pub fn transforms(mut self) -> Self {
        self.transforms = true;
        self
    }

    /// Says which input columns `transform` reads: only these are sent to the plugin,
    /// and the host keeps the others for the output (see [`Output`](crate::Output)). A
    /// plugin whose columns depend on its params says so per run with
    /// [`Plugin::reads`](crate::Plugin::reads) instead.
    pub fn reads<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.reads = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Says `transform` keeps no state from one batch to the next (a map, a filter), so
    /// the host may send batches through several instances at once.
    pub fn stateless(mut self) -> Self {
        self.stateless = true;
        self
    }

    /// The contract's `plugin-info`.
    pub fn into_raw(self) -> raw::PluginInfo {
        raw::PluginInfo {
            name: self.name,
            version: self.version,
            description: self.description,
            params_schema: self.params_schema,
            builds_query: self.builds_query,
            transforms: self.transforms,
            reads: self.reads,
            stateless: self.stateless,
        }
    }
}

/// An [`Info`] with the name, version and description of the calling crate's
/// `Cargo.toml` (`CARGO_PKG_NAME`, `CARGO_PKG_VERSION`, `CARGO_PKG_DESCRIPTION`).
#[macro_export]
macro_rules! plugin_info {
    () => {
        $crate::Info::new(
            ::core::env!("CARGO_PKG_NAME"),
            ::core::env!("CARGO_PKG_VERSION"),
        )
        .description(::core::env!("CARGO_PKG_DESCRIPTION"))
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn plugin_info_reads_cargo_metadata() {
        let raw = crate::plugin_info!().transforms().into_raw();
        assert_eq!(raw.name, "quarry-plugin");
        assert_eq!(raw.version, env!("CARGO_PKG_VERSION"));
        assert!(raw.transforms && !raw.builds_query);
        assert_eq!(raw.params_schema, None);
        assert_eq!((raw.reads, raw.stateless), (None, false));
        let raw = crate::plugin_info!()
            .reads(["a", "b"])
            .stateless()
            .into_raw();
        assert_eq!(raw.reads, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert!(raw.stateless);
    }
}
