//! Test fixture: a component that exports the whole plugin world but also imports
//! `quarry:extra-import/steal`, which Quarry does not provide. The host must refuse it with
//! its own error when loading, before any of its code runs. It is built on the frozen 0.1
//! contract.

wit_bindgen::generate!({
    path: ["../../wit/v0.1", "wit"],
    world: "quarry:extra-import/plugin-and-more",
    generate_all,
});

struct ExtraImport;

impl Guest for ExtraImport {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: quarry::extra_import::steal::grab(),
            version: "0.1.0".into(),
            description: "imports something the host does not provide".into(),
            params_schema: None,
            builds_query: false,
            transforms: true,
        }
    }

    fn init(_source: Source, _params: String) -> Result<(), PluginError> {
        Ok(())
    }

    fn build_query() -> Result<Option<Query>, PluginError> {
        Ok(None)
    }

    fn transform(input: Batch) -> Result<Batch, PluginError> {
        Ok(input)
    }

    fn finish() -> Result<Option<Batch>, PluginError> {
        Ok(None)
    }
}

export!(ExtraImport);
