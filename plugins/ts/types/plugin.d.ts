/// <reference path="./interfaces/quarry-plugin-log.d.ts" />
/// <reference path="./interfaces/quarry-plugin-types.d.ts" />
declare module 'quarry:plugin/plugin@0.2.0' {
  export type PluginInfo = import('quarry:plugin/types@0.2.0').PluginInfo;
  export type Source = import('quarry:plugin/types@0.2.0').Source;
  export type Query = import('quarry:plugin/types@0.2.0').Query;
  export type Batch = import('quarry:plugin/types@0.2.0').Batch;
  export type Output = import('quarry:plugin/types@0.2.0').Output;
  export type PluginError = import('quarry:plugin/types@0.2.0').PluginError;
  export type * as QuarryPluginLog020 from 'quarry:plugin/log@0.2.0'; // import quarry:plugin/log@0.2.0
  export type * as QuarryPluginTypes020 from 'quarry:plugin/types@0.2.0'; // import quarry:plugin/types@0.2.0
  /**
  * Static facts about the plugin; must not depend on params.
  */
  export function describe(): PluginInfo;
  /**
  * First call of every run, with the user's params as a JSON object's text. Returns
  * the columns `transform` reads in this run when they depend on params, or none to
  * keep what `describe` said.
  */
  export function init(source: Source, params: string): Array<string> | undefined;
  /**
  * The query to run, or none when the user supplies it.
  */
  export function buildQuery(): Query | undefined;
  /**
  * Called for each batch of the result, in order, with the columns the plugin reads;
  * returns the rows to output. A stateless plugin may see any subset of the batches.
  */
  export function transform(input: Batch): Output;
  /**
  * Called once after the last batch; returns trailing rows (aggregates), if any.
  */
  export function finish(): Batch | undefined;
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
}
