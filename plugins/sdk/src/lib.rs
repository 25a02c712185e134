//! Write Quarry plugins in Rust: implement [`Plugin`], then call [`export!`] once.
//!
//! A plugin is a WebAssembly component (built for `wasm32-wasip2`) that the host calls
//! in this order: `describe`, `init` with the user's params, `build_query` (the query to
//! run, if the plugin builds one), `transform` for each batch of the result, and
//! `finish` once at the end. Each [`Plugin`] method has a default, so a plugin only
//! writes what it does.
//!
//! This transform adds a `gain` column, the minutes a flight made up in the air. It reads
//! two columns, so only those two cross into the plugin, and it sends back only the column
//! it adds; the host keeps the rest of each batch:
//!
//! ```
//! use quarry_plugin::{Batch, Error, Float64Builder, Info, NoParams, Output, Plugin, Source};
//!
//! struct Gain;
//!
//! impl Plugin for Gain {
//!     type Params = NoParams;
//!
//!     fn describe() -> Info {
//!         quarry_plugin::plugin_info!()
//!             .transforms()
//!             .reads(["dep_delay", "arr_delay"])
//!             .stateless()
//!     }
//!
//!     fn init(_source: &Source, _params: NoParams) -> Result<Self, Error> {
//!         Ok(Gain)
//!     }
//!
//!     fn transform(&mut self, input: Batch) -> Result<Output, Error> {
//!         // Look each column up once; a postgres source may send these as float64.
//!         let dep = input.column("dep_delay")?.expect_f64()?;
//!         let arr = input.column("arr_delay")?.expect_f64()?;
//!         let mut gain = Float64Builder::new("gain");
//!         gain.extend(dep.f64s().zip(arr.f64s()).map(|(dep, arr)| Some(dep? - arr?)));
//!         Ok(Output::unchanged().set(gain.finish()))
//!     }
//! }
//!
//! quarry_plugin::export!(Gain);
//! # let mut dep = quarry_plugin::Int64Builder::new("dep_delay");
//! # dep.extend([Some(10), None]);
//! # let mut arr = quarry_plugin::Int64Builder::new("arr_delay");
//! # arr.extend([Some(4), Some(1)]);
//! # let input = Batch::new(vec![dep.finish(), arr.finish()]).unwrap();
//! # let output = Gain.transform(input.clone()).unwrap().apply(input).unwrap();
//! # let gain: Vec<_> = output.column("gain").unwrap().f64s().collect();
//! # assert_eq!(gain, [Some(6.0), None]);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release` and run it with
//! `quarry run --plugin target/wasm32-wasip2/release/gain.wasm --query "SELECT * FROM
//! flights LIMIT 5"`. `plugins/README.md` walks through it.
//!
//! # Layout
//!
//! - [`Plugin`] and [`export!`] (`export.rs`): what a plugin implements and the glue to
//!   the contract's exports.
//! - [`Batch`] and [`Row`] (`batch.rs`): a batch by column or by row; map, filter, take.
//! - [`Output`] (`output.rs`): what `transform` returns, an edit of its input or new rows.
//! - [`Merge`] and [`export_aggregate!`]: aggregates that several instances compute
//!   together.
//! - [`Column`] (`column.rs`): typed, null-aware reads of one column.
//! - [`Int64Builder`] and friends (`builder.rs`): new columns, bitmaps and offsets included.
//! - [`Info`] and [`plugin_info!`] (`info.rs`): what `describe` returns.
//! - [`Error`] (`error.rs`): what a plugin fails with.
//! - [`log!`], [`info!`], [`warn!`]... (`logging.rs`): lines in the run's log.
//! - [`raw`]: the generated contract types, for building what the SDK would refuse to.

// The generated bindings name this crate by path, from here and from `export!`.
extern crate self as quarry_plugin;

mod batch;
mod builder;
mod column;
mod error;
mod export;
mod info;
mod logging;
mod output;
pub mod raw;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/v0.2",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "::quarry_plugin::bindings",
        runtime_path: "::quarry_plugin::__private::wit_bindgen::rt",
        additional_derives: [PartialEq],
    });
}

/// The `aggregate` world: the plugin world's exports and the `merge` interface, over the
/// same types as [`bindings`].
#[doc(hidden)]
pub mod aggregate_bindings {
    wit_bindgen::generate!({
        path: "../wit/v0.2",
        world: "aggregate",
        pub_export_macro: true,
        export_macro_name: "__export_aggregate",
        default_bindings_module: "::quarry_plugin::aggregate_bindings",
        runtime_path: "::quarry_plugin::__private::wit_bindgen::rt",
        with: {
            "quarry:plugin/types@0.2.0": crate::bindings::quarry::plugin::types,
            "quarry:plugin/log@0.2.0": crate::bindings::quarry::plugin::log,
        },
    });
}

/// What `export!` expands to needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::aggregate_bindings::Guest as AggregateGuest;
    pub use crate::aggregate_bindings::exports::quarry::plugin::merge::Guest as MergeGuest;
    pub use crate::bindings::Guest;
    pub use crate::export::{build_query, describe, finish, init, merge, partial, transform};
    pub use wit_bindgen;
}

pub use batch::{Batch, Row};
pub use builder::{BoolBuilder, BytesBuilder, Float64Builder, Int64Builder, TextBuilder};
pub use column::Column;
pub use error::Error;
pub use info::Info;
pub use logging::write_log;
pub use output::Output;
pub use raw::{
    Backend, DataType, Level, MongoAggregate, MongoFind, Query, Source, Statement, Value,
};

/// A plugin: build a query, transform rows, or both.
///
/// The host creates one instance per run with [`init`](Plugin::init), then calls the
/// other methods on it. Return an [`Error`] to stop the run with a message; panics
/// abort the plugin too, but with a less helpful message.
pub trait Plugin: Sized + 'static {
    /// The params the user passes, deserialized from a JSON object with serde. Use
    /// [`NoParams`] when there are none; add `#[serde(deny_unknown_fields)]` so that a
    /// misspelt param is an error rather than ignored.
    type Params: serde::de::DeserializeOwned;

    /// Static facts about the plugin; usually
    /// `quarry_plugin::plugin_info!().transforms()` or `.builds_query()`.
    fn describe() -> Info;

    /// Starts a run against `source`. Invalid params never get here: they fail with an
    /// error that names the field.
    fn init(source: &Source, params: Self::Params) -> Result<Self, Error>;

    /// The input columns `transform` reads in this run, when they depend on the params;
    /// `None` (the default) keeps what [`Info::reads`] said.
    fn reads(&self) -> Option<Vec<String>> {
        None
    }

    /// The query to run, or `None` (the default) to run the user's query.
    fn build_query(&mut self) -> Result<Option<Query>, Error> {
        Ok(None)
    }

    /// Returns the rows to output for one batch of the result: an edit of `input` (see
    /// [`Output`]) or rows of its own; by default, the batch unchanged. `input` holds the
    /// columns the plugin [reads](Info::reads), or all of them. Return [`Output::none`]
    /// to output nothing for this batch.
    fn transform(&mut self, input: Batch) -> Result<Output, Error> {
        let _ = input;
        Ok(Output::unchanged())
    }

    /// Returns rows to output after the last batch, such as aggregates; by default none.
    fn finish(&mut self) -> Result<Option<Batch>, Error> {
        Ok(None)
    }
}

/// An aggregate that several instances can compute together, each over part of the
/// rows: export it with [`export_aggregate!`] instead of [`export!`], and the host may
/// split a run across instances. Every instance sees its share of the batches; all but
/// one then hand their [`partial`](Merge::partial) state to the last one's
/// [`merge`](Merge::merge), and only that one's `finish` runs.
pub trait Merge: Plugin {
    /// This instance's state after its last batch, encoded as the plugin likes (JSON,
    /// say).
    fn partial(&mut self) -> Result<Vec<u8>, Error>;

    /// Folds other instances' states into this one's.
    fn merge(&mut self, partials: Vec<Vec<u8>>) -> Result<(), Error>;
}

/// The [`Plugin::Params`] of a plugin that takes none: accepts `{}` (or no text) and
/// rejects any field.
#[derive(Clone, Copy, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}
