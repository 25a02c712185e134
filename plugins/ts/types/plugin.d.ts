/// <reference path="./interfaces/quarry-plugin-log.d.ts" />
/// <reference path="./interfaces/quarry-plugin-types.d.ts" />
declare module 'quarry:plugin/plugin@0.1.0' {
  export type PluginInfo = import('quarry:plugin/types@0.1.0').PluginInfo;
  export type Source = import('quarry:plugin/types@0.1.0').Source;
  export type Query = import('quarry:plugin/types@0.1.0').Query;
  export type Batch = import('quarry:plugin/types@0.1.0').Batch;
  export type PluginError = import('quarry:plugin/types@0.1.0').PluginError;
  export type * as QuarryPluginLog010 from 'quarry:plugin/log@0.1.0'; // import quarry:plugin/log@0.1.0
  export type * as QuarryPluginTypes010 from 'quarry:plugin/types@0.1.0'; // import quarry:plugin/types@0.1.0
  /**
  * Static facts about the plugin; must not depend on params.
  */
  export function describe(): PluginInfo;
  /**
  * First call of every run, with the user's params as a JSON object's text.
  */
  export function init(source: Source, params: string): void;
  /**
  * The query to run, or none when the user supplies it.
  */
  export function buildQuery(): Query | undefined;
  /**
  * Called for each batch of the result, in order; returns the rows to output.
  */
  export function transform(input: Batch): Batch;
  /**
  * Called once after the last batch; returns trailing rows (aggregates), if any.
  */
  export function finish(): Batch | undefined;
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
}
