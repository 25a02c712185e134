//! The glue between a [`Plugin`] and the contract's exports: `export!` and what it calls.

use std::cell::RefCell;
use std::thread::LocalKey;

use serde::de::DeserializeOwned;

use crate::{Batch, Error, Merge, Plugin, raw};

/// Exports a [`Plugin`] as the component's `plugin` world. Use it once per crate:
///
/// ```ignore
/// quarry_plugin::export!(MyPlugin);
/// ```
///
/// The instance `init` returns lives in a thread-local of the plugin crate until the
/// next `init`; `build-query`, `transform` and `finish` before a successful `init`
/// return a plugin-error.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        $crate::__exports!(
            $plugin,
            $crate::__private::Guest,
            bindings,
            __export_plugin {}
        );
    };
}

/// Exports a [`Plugin`] that also implements [`Merge`](crate::Merge) as the component's
/// `aggregate` world, so that the host may split its runs across instances. Use it once
/// per crate, instead of [`export!`]:
///
/// ```ignore
/// quarry_plugin::export_aggregate!(MyAggregate);
/// ```
#[macro_export]
macro_rules! export_aggregate {
    ($plugin:ty) => {
        $crate::__exports!($plugin, $crate::__private::AggregateGuest, aggregate_bindings, __export_aggregate {
            impl $crate::__private::MergeGuest for Exports {
                fn partial() -> ::core::result::Result<
                    ::std::vec::Vec<u8>,
                    $crate::raw::PluginError,
                > {
                    $crate::__private::partial(&INSTANCE)
                }

                fn merge(
                    partials: ::std::vec::Vec<::std::vec::Vec<u8>>,
                ) -> ::core::result::Result<(), $crate::raw::PluginError> {
                    $crate::__private::merge(&INSTANCE, partials)
                }
            }
        });
    };
}

/// What [`export!`] and [`export_aggregate!`] share: the instance and the plugin world's
/// exports; `$extra` adds the aggregate's.
#[doc(hidden)]
#[macro_export]
macro_rules! __exports {
    ($plugin:ty, $guest:path, $bindings:ident, $export_world:ident { $($extra:tt)* }) => {
        const _: () = {
            ::std::thread_local! {
                static INSTANCE: ::core::cell::RefCell<::core::option::Option<$plugin>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            struct Exports;

            impl $guest for Exports {
                fn describe() -> $crate::raw::PluginInfo {
                    $crate::__private::describe::<$plugin>()
                }

                fn init(
                    source: $crate::raw::Source,
                    params: ::std::string::String,
                ) -> ::core::result::Result<
                    ::core::option::Option<::std::vec::Vec<::std::string::String>>,
                    $crate::raw::PluginError,
                > {
                    $crate::__private::init(&INSTANCE, source, &params)
                }

                fn build_query() -> ::core::result::Result<
                    ::core::option::Option<$crate::raw::Query>,
                    $crate::raw::PluginError,
                > {
                    $crate::__private::build_query(&INSTANCE)
                }

                fn transform(
                    input: $crate::raw::Batch,
                ) -> ::core::result::Result<$crate::raw::Output, $crate::raw::PluginError> {
                    $crate::__private::transform(&INSTANCE, input)
                }

                fn finish() -> ::core::result::Result<
                    ::core::option::Option<$crate::raw::Batch>,
                    $crate::raw::PluginError,
                > {
                    $crate::__private::finish(&INSTANCE)
                }
            }

            $($extra)*

            $crate::$bindings::$export_world!(Exports with_types_in $crate::$bindings);
        };
    };
}

/// Where `export!` keeps the plugin's instance.
pub type Slot<P> = LocalKey<RefCell<Option<P>>>;

pub fn describe<P: Plugin>() -> raw::PluginInfo {
    P::describe().into_raw()
}

pub fn init<P: Plugin>(
    slot: &'static Slot<P>,
    source: raw::Source,
    params: &str,
) -> Result<Option<Vec<String>>, raw::PluginError> {
    // A failed init must not leave the previous run's instance answering.
    slot.set(None);
    let instance = parse_params(params).and_then(|params| P::init(&source, params));
    match instance {
        Ok(instance) => {
            let reads = instance.reads();
            slot.set(Some(instance));
            Ok(reads)
        }
        Err(error) => Err(error.into_raw()),
    }
}

pub fn build_query<P: Plugin>(
    slot: &'static Slot<P>,
) -> Result<Option<raw::Query>, raw::PluginError> {
    with_instance(slot, "build-query", P::build_query)
}

pub fn transform<P: Plugin>(
    slot: &'static Slot<P>,
    input: raw::Batch,
) -> Result<raw::Output, raw::PluginError> {
    let output = with_instance(slot, "transform", |plugin| {
        plugin.transform(Batch::from_raw(input))
    })?;
    Ok(output.into_raw())
}

pub fn finish<P: Plugin>(slot: &'static Slot<P>) -> Result<Option<raw::Batch>, raw::PluginError> {
    let output = with_instance(slot, "finish", P::finish)?;
    Ok(output.map(Batch::into_raw))
}

pub fn partial<P: Merge>(slot: &'static Slot<P>) -> Result<Vec<u8>, raw::PluginError> {
    with_instance(slot, "partial", P::partial)
}

pub fn merge<P: Merge>(
    slot: &'static Slot<P>,
    partials: Vec<Vec<u8>>,
) -> Result<(), raw::PluginError> {
    with_instance(slot, "merge", |plugin| plugin.merge(partials))
}

fn with_instance<P, T>(
    slot: &'static Slot<P>,
    export: &str,
    call: impl FnOnce(&mut P) -> Result<T, Error>,
) -> Result<T, raw::PluginError> {
    slot.with_borrow_mut(|instance| match instance {
        Some(plugin) => call(plugin),
        None => Err(Error::new(format!(
            "`{export}` was called before a successful `init`"
        ))),
    })
    .map_err(Error::into_raw)
}

/// Params arrive as a JSON object's text; empty text means no params. Errors name the
/// offending field, e.g. `invalid params: min_delay: invalid type: string "x", expected i64`.
pub(crate) fn parse_params<T: DeserializeOwned>(params: &str) -> Result<T, Error> {
    let text = match params.trim() {
        "" => "{}",
        text if text.starts_with('{') => text,
        _ => return Err(Error::new("invalid params: expected a JSON object")),
    };
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer)
        .map_err(|error| Error::new(format!("invalid params: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Backend, Info, NoParams, Source};
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Params {
        #[serde(default = "sixty")]
        min_delay: i64,
        column: String,
    }

    fn sixty() -> i64 {
        60
    }

    #[test]
    fn params_errors_name_the_field() {
        let error = parse_params::<Params>(r#"{"column": "x", "min_delay": "x"}"#).unwrap_err();
        assert!(
            error
                .message()
                .starts_with("invalid params: min_delay: invalid type: string"),
            "{error}"
        );
        let error = parse_params::<Params>("{}").unwrap_err();
        assert!(
            error
                .message()
                .starts_with("invalid params: missing field `column`"),
            "{error}"
        );
        let error = parse_params::<Params>(r#"{"column": "x", "colum": 1}"#).unwrap_err();
        assert!(error.message().contains("unknown field `colum`"), "{error}");
        let error = parse_params::<Params>(r#"["x"]"#).unwrap_err();
        assert_eq!(error.message(), "invalid params: expected a JSON object");
    }

    #[test]
    fn params_parse_with_defaults_and_empty_text_means_none() {
        let params = parse_params::<Params>(r#" {"column": "arr_delay"} "#).unwrap();
        assert_eq!(
            params,
            Params {
                min_delay: 60,
                column: "arr_delay".into()
            }
        );
        parse_params::<NoParams>("").unwrap();
        parse_params::<NoParams>("{}").unwrap();
        assert!(parse_params::<NoParams>(r#"{"x": 1}"#).is_err());
    }

    struct Counter {
        batches: usize,
    }

    impl Plugin for Counter {
        type Params = NoParams;

        fn describe() -> Info {
            Info::new("counter", "1.0.0").transforms()
        }

        fn init(_: &Source, _: NoParams) -> Result<Self, Error> {
            Ok(Counter { batches: 0 })
        }

        fn reads(&self) -> Option<Vec<String>> {
            Some(vec!["x".into()])
        }

        fn transform(&mut self, input: Batch) -> Result<crate::Output, Error> {
            self.batches += 1;
            if self.batches == 2 {
                return Err(Error::at_row(1, "second batch"));
            }
            Ok(input.into())
        }
    }

    impl Merge for Counter {
        fn partial(&mut self) -> Result<Vec<u8>, Error> {
            Ok(vec![self.batches as u8])
        }

        fn merge(&mut self, partials: Vec<Vec<u8>>) -> Result<(), Error> {
            self.batches += partials.iter().map(|p| p[0] as usize).sum::<usize>();
            Ok(())
        }
    }

    thread_local! {
        static COUNTER: RefCell<Option<Counter>> = const { RefCell::new(None) };
    }

    #[test]
    fn exports_forward_to_the_instance_and_refuse_before_init() {
        let batch = raw::Batch {
            num_rows: 0,
            columns: vec![],
        };
        let error = transform(&COUNTER, batch.clone()).unwrap_err();
        assert_eq!(
            error.message,
            "`transform` was called before a successful `init`"
        );
        assert!(finish(&COUNTER).is_err());
        assert!(build_query(&COUNTER).is_err());

        let source = Source {
            name: "demo".into(),
            backend: Backend::Sqlite,
        };
        assert!(partial(&COUNTER).is_err());
        assert_eq!(
            init(&COUNTER, source.clone(), "").unwrap(),
            Some(vec!["x".into()])
        );
        assert_eq!(
            transform(&COUNTER, batch.clone()).unwrap(),
            raw::Output::Rows(batch.clone())
        );
        let error = transform(&COUNTER, batch.clone()).unwrap_err();
        assert_eq!(
            (error.message.as_str(), error.row),
            ("second batch", Some(1))
        );
        assert_eq!(build_query(&COUNTER).unwrap(), None);
        assert_eq!(finish(&COUNTER).unwrap(), None);
        merge(&COUNTER, vec![vec![3], vec![4]]).unwrap();
        assert_eq!(partial(&COUNTER).unwrap(), [9]);

        let error = init(&COUNTER, source, r#"{"x": 1}"#).unwrap_err();
        assert!(
            error.message.contains("unknown field `x`"),
            "{}",
            error.message
        );
        assert!(
            transform(&COUNTER, batch).is_err(),
            "a failed init drops the old instance"
        );
        assert_eq!(describe::<Counter>().name, "counter");
    }
}
