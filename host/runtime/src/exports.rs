//! A loaded plugin's exports, whichever contract version it was built on: binding a
//! component to a version ([`Pre`]) and calling one instance's exports ([`Exports`]) in the
//! host's own types.

use quarry_core::batch::{Batch, Column, DataType, Values};
use quarry_core::contract::{Backend, Query};
use wasmtime::Store;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, TypedFunc};

use crate::bindings::{Failure, Output, PluginInfo, v01, v02};
use crate::sandbox::RunState;

/// The interface a plugin exports when several instances can merge their aggregates.
const MERGE: &str = "quarry:plugin/merge@0.2.0";

/// A compiled plugin ready to instantiate, bound to the contract version it was built
/// against.
#[derive(Clone)]
pub enum Pre {
    V01(v01::PluginPre<RunState>),
    V02 {
        instance_pre: InstancePre<RunState>,
        indices: v02::PluginIndices,
        /// `partial` and `merge`, when the plugin exports the `aggregate` world.
        merge: Option<(ComponentExportIndex, ComponentExportIndex)>,
    },
}

type PartialFn = TypedFunc<(), (Result<Vec<u8>, v02::wit::PluginError>,)>;
type MergeFn = TypedFunc<(Vec<Vec<u8>>,), (Result<(), v02::wit::PluginError>,)>;

/// One instance's exports.
pub enum Exports {
    V01(v01::Plugin),
    V02 {
        plugin: v02::Plugin,
        merge: Option<(PartialFn, MergeFn)>,
    },
}

/// A call's outcome: the plugin's answer or its own error. The outer `wasmtime::Result`
/// is a trap or a limit.
pub type Answer<T> = wasmtime::Result<Result<T, Failure>>;

impl Pre {
    /// Binds a component to the newest contract whose world it exports (0.2, then 0.1);
    /// the error says what 0.2 expects and 0.1 did not match either.
    pub fn new(instance_pre: InstancePre<RunState>, component: &Component) -> Result<Pre, String> {
        let v02 = v02::PluginIndices::new(&instance_pre);
        let indices = match v02 {
            Ok(indices) => indices,
            Err(e02) => {
                return v01::PluginPre::new(instance_pre)
                    .map(Pre::V01)
                    .map_err(|e01| format!("{e02:#} (nor is it a 0.1 plugin: {e01:#})"));
            }
        };
        let merge = component.get_export_index(None, MERGE);
        let export = |name| component.get_export_index(merge.as_ref(), name);
        Ok(Pre::V02 {
            instance_pre,
            indices,
            merge: merge.and(export("partial").zip(export("merge"))),
        })
    }

    /// A fresh instance in `store`.
    pub fn instantiate(&self, store: &mut Store<RunState>) -> wasmtime::Result<Exports> {
        match self {
            Pre::V01(pre) => pre.instantiate(store).map(Exports::V01),
            Pre::V02 {
                instance_pre,
                indices,
                merge,
            } => {
                let instance = instance_pre.instantiate(&mut *store)?;
                let plugin = indices.load(&mut *store, &instance)?;
                let merge = match merge {
                    Some((partial, merge)) => Some((
                        instance.get_typed_func(&mut *store, partial)?,
                        instance.get_typed_func(&mut *store, merge)?,
                    )),
                    None => None,
                };
                Ok(Exports::V02 { plugin, merge })
            }
        }
    }
}

/// A column that owns nothing, left where a column was lent to the plugin.
fn lent() -> Column {
    Column {
        name: String::new(),
        data_type: DataType::Boolean,
        validity: None,
        values: Values::Boolean(Vec::new()),
    }
}

impl Exports {
    pub fn describe(&self, store: &mut Store<RunState>) -> wasmtime::Result<PluginInfo> {
        Ok(match self {
            Exports::V01(p) => p.call_describe(store)?.into(),
            Exports::V02 { plugin, merge } => PluginInfo {
                merges: merge.is_some(),
                ..plugin.call_describe(store)?.into()
            },
        })
    }

    /// `init`; 0.2 plugins may answer the columns they read in this run.
    pub fn init(
        &self,
        store: &mut Store<RunState>,
        name: &str,
        backend: Backend,
        params: &str,
    ) -> Answer<Option<Vec<String>>> {
        Ok(match self {
            Exports::V01(p) => p
                .call_init(store, &v01::wit::Source::new(name, backend), params)?
                .map(|()| None)
                .map_err(Failure::from),
            Exports::V02 { plugin, .. } => plugin
                .call_init(store, &v02::wit::Source::new(name, backend), params)?
                .map_err(Failure::from),
        })
    }

    pub fn build_query(&self, store: &mut Store<RunState>) -> Answer<Option<Query>> {
        Ok(match self {
            Exports::V01(p) => p
                .call_build_query(store)?
                .map_err(Failure::from)
                .map(|q| q.map(Query::from)),
            Exports::V02 { plugin, .. } => plugin
                .call_build_query(store)?
                .map_err(Failure::from)
                .map(|q| q.map(Query::from)),
        })
    }

    /// `transform` over the columns of `input` at `reads` (all when `None`), which are
    /// lent to the plugin and put back afterwards. A 0.1 plugin takes every column and
    /// always answers [`Output::Rows`].
    pub fn transform(
        &self,
        store: &mut Store<RunState>,
        input: &mut Batch,
        reads: Option<&[usize]>,
    ) -> Answer<Output> {
        let plugin = match self {
            Exports::V01(p) => {
                let batch = v01::wit::Batch::from(std::mem::take(input));
                return Ok(p
                    .call_transform(store, &batch)?
                    .map(|b| Output::Rows(b.into()))
                    .map_err(Failure::from));
            }
            Exports::V02 { plugin, .. } => plugin,
        };
        let all: Vec<usize>;
        let reads = match reads {
            Some(reads) => reads,
            None => {
                all = (0..input.columns.len()).collect();
                &all
            }
        };
        let lend = |i: &usize| std::mem::replace(&mut input.columns[*i], lent()).into();
        let batch = v02::wit::Batch {
            num_rows: input.num_rows as u32,
            columns: reads.iter().map(lend).collect(),
        };
        let answer = plugin.call_transform(store, &batch);
        for (&i, column) in reads.iter().zip(batch.columns) {
            input.columns[i] = column.into();
        }
        Ok(answer?.map(Output::from).map_err(Failure::from))
    }

    pub fn finish(&self, store: &mut Store<RunState>) -> Answer<Option<Batch>> {
        Ok(match self {
            Exports::V01(p) => p
                .call_finish(store)?
                .map_err(Failure::from)
                .map(|b| b.map(Batch::from)),
            Exports::V02 { plugin, .. } => plugin
                .call_finish(store)?
                .map_err(Failure::from)
                .map(|b| b.map(Batch::from)),
        })
    }

    /// `partial`; `None` when the plugin does not merge.
    pub fn partial(&self, store: &mut Store<RunState>) -> Option<Answer<Vec<u8>>> {
        let Exports::V02 {
            merge: Some((partial, _)),
            ..
        } = self
        else {
            return None;
        };
        Some(call_once(partial, store, ()).map(|r| r.map_err(Failure::from)))
    }

    /// `merge`; `None` when the plugin does not merge.
    pub fn merge(&self, store: &mut Store<RunState>, partials: Vec<Vec<u8>>) -> Option<Answer<()>> {
        let Exports::V02 {
            merge: Some((_, merge)),
            ..
        } = self
        else {
            return None;
        };
        Some(call_once(merge, store, (partials,)).map(|r| r.map_err(Failure::from)))
    }
}

/// Calls a typed export of one result.
fn call_once<P, R>(
    func: &TypedFunc<P, (R,)>,
    store: &mut Store<RunState>,
    params: P,
) -> wasmtime::Result<R>
where
    P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
    (R,): wasmtime::component::ComponentNamedList + wasmtime::component::Lift,
{
    let (result,) = func.call(store, params)?;
    Ok(result)
}
