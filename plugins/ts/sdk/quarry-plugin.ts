/**
 * Quarry's TypeScript SDK: write a plugin as a class, build it with jco componentize.
 *
 * A plugin extends `Plugin`, says what it is in `static info`, overrides what it does
 * (`transform`, `finish`, `buildQuery`), and its module exports what `exportPlugin` returns:
 *
 *     import { Batch, Plugin, exportPlugin, float64Column } from "../../sdk/quarry-plugin.js";
 *
 *     export class Km extends Plugin {
 *       static info = { name: "km", description: "Adds distance_km" };
 *
 *       transform(batch: Batch): Batch {
 *         const miles = batch.column("distance");
 *         const km = miles.floats().map((m) => m * 1.609344);
 *         return batch.withColumn(float64Column("distance_km", km, miles.valid()));
 *       }
 *     }
 *
 *     export const { describe, init, buildQuery, transform, finish } = exportPlugin(Km);
 *
 * Batches stay columnar and cells are never turned into objects one by one: `floats()`,
 * `ints()` and `valid()` are typed arrays (one entry per row; a null row holds a
 * placeholder value and a 0 in `valid()`), `texts()` decodes a text column in one go, and
 * the column builders take typed arrays. A plain array with `null` for nulls works too.
 *
 * Errors: throw `PluginError(message, row?)`; any other exception becomes a plugin error
 * carrying its name and message.
 */

import type * as types from "quarry:plugin/types@0.1.0";
import { write } from "quarry:plugin/log@0.1.0";

export type Backend = types.Backend;
export type DataType = types.DataType;
export type Level = types.Level;
export type MongoAggregate = types.MongoAggregate;
export type MongoFind = types.MongoFind;
export type Query = types.Query;
export type Source = types.Source;
export type Statement = types.Statement;
export type Value = types.Value;

/** A failure to report to the user; `row` is the batch row that caused it, if any. */
export class PluginError extends Error {
  readonly row?: number;

  constructor(message: string, row?: number) {
    super(message);
    this.name = "PluginError";
    this.row = row;
  }
}

/** A cell as `Column.values()` gives it; int64-stored types are exact as bigint. */
export type Cell = boolean | bigint | number | string | Uint8Array | null;

/** Per row: whether it holds a value (true, or a non-zero number) or is null. */
export type Validity = ArrayLike<boolean | number>;

/** Decodes text cells, keeping a leading byte order mark as Rust does. */
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const encoder = new TextEncoder();

/** One column of a batch: a name, a data type and one value or null per row. */
export class Column {
  constructor(readonly raw: types.Column) {}

  get name(): string {
    return this.raw.name;
  }

  get dataType(): DataType {
    return this.raw.dataType;
  }

  get length(): number {
    const values = this.raw.values;
    return values.tag === "text" || values.tag === "bytes" ? values.val.offsets.length - 1 : values.val.length;
  }

  /** Whether row `row` is null. */
  isNull(row: number): boolean {
    const bits = this.raw.validity;
    return bits !== undefined && ((bits[row >> 3] >> (row & 7)) & 1) === 0;
  }

  /** One byte per row: 1 where the row holds a value, 0 where it is null. */
  valid(): Uint8Array {
    const n = this.length;
    const bits = this.raw.validity;
    const valid = new Uint8Array(n);
    if (bits === undefined) return valid.fill(1);
    for (let i = 0; i < n; i++) valid[i] = (bits[i >> 3] >> (i & 7)) & 1;
    return valid;
  }

  /** Every row of a numeric column as a number (int64 converted); check `valid()` for nulls. */
  floats(): Float64Array {
    const values = this.raw.values;
    if (values.tag === "float64") return values.val;
    if (values.tag !== "int64") throw this.wrongType("a number");
    const ints = values.val;
    const floats = new Float64Array(ints.length);
    for (let i = 0; i < ints.length; i++) floats[i] = Number(ints[i]);
    return floats;
  }

  /** Every row of an int64-stored column (int64, timestamp, date); check `valid()` for nulls. */
  ints(): BigInt64Array {
    const values = this.raw.values;
    if (values.tag !== "int64") throw this.wrongType("an integer");
    return values.val;
  }

  /** Every row of a boolean column; check `valid()` for nulls. */
  bools(): boolean[] {
    const values = this.raw.values;
    if (values.tag !== "boolean") throw this.wrongType("boolean");
    return values.val;
  }

  /** Every row of a text-stored column (text, uuid, decimal, json); null for null. */
  texts(): (string | null)[] {
    const values = this.raw.values;
    if (values.tag !== "text") throw this.wrongType("text");
    const { offsets, data } = values.val;
    const n = offsets.length - 1;
    const texts = new Array<string | null>(n);
    // One decode for the whole column: when no byte takes part in a multi-byte character,
    // string positions are byte positions and each cell is a slice of it.
    const whole = decoder.decode(data);
    if (whole.length === data.length) {
      for (let i = 0; i < n; i++) texts[i] = whole.slice(offsets[i], offsets[i + 1]);
    } else {
      for (let i = 0; i < n; i++) texts[i] = decoder.decode(data.subarray(offsets[i], offsets[i + 1]));
    }
    return this.nullOut(texts);
  }

  /** Every row of a bytes column, as views of the batch's bytes; null for null. */
  blobs(): (Uint8Array | null)[] {
    const values = this.raw.values;
    if (values.tag !== "bytes") throw this.wrongType("bytes");
    const { offsets, data } = values.val;
    const blobs = new Array<Uint8Array | null>(offsets.length - 1);
    for (let i = 0; i < blobs.length; i++) blobs[i] = data.subarray(offsets[i], offsets[i + 1]);
    return this.nullOut(blobs);
  }

  /** Every row as a value of its kind (see `Cell`), null for null. */
  values(): Cell[] {
    const values = this.raw.values;
    switch (values.tag) {
      case "text":
        return this.texts();
      case "bytes":
        return this.blobs();
      case "boolean":
        return this.nullOut<Cell>([...values.val]);
      default:
        return this.nullOut<Cell>(Array.from<number | bigint>(values.val));
    }
  }

  private nullOut<T>(cells: (T | null)[]): (T | null)[] {
    if (this.raw.validity === undefined) return cells;
    for (let i = 0; i < cells.length; i++) if (this.isNull(i)) cells[i] = null;
    return cells;
  }

  private wrongType(wanted: string): PluginError {
    return new PluginError(`column \`${this.name}\` is ${this.dataType}, expected ${wanted}`);
  }
}

/** Row `index` of a batch, read by column name: `row.get("carrier")`. */
export class Row {
  constructor(
    private readonly batch: Batch,
    readonly index: number,
  ) {}

  get(name: string): Cell {
    return this.batch.cells(name)[this.index];
  }
}

/** A slice of a result set: columns that each hold `numRows` values. */
export class Batch {
  /** The cells of the columns that rows have read, by name. */
  private read = new Map<string, Cell[]>();

  constructor(readonly raw: types.Batch) {}

  /** A batch of built columns, which must all have the same number of rows. */
  static of(columns: Column[]): Batch {
    const numRows = columns.length === 0 ? 0 : columns[0].length;
    const odd = columns.find((column) => column.length !== numRows);
    if (odd !== undefined) {
      throw new PluginError(
        `column \`${odd.name}\` has ${odd.length} rows, but column \`${columns[0].name}\` has ${numRows}`,
      );
    }
    return new Batch({ numRows, columns: columns.map((column) => column.raw) });
  }

  /** No rows and no columns: what a transform returns to output nothing for a batch. */
  static empty(): Batch {
    return new Batch({ numRows: 0, columns: [] });
  }

  get numRows(): number {
    return this.raw.numRows;
  }

  get columns(): Column[] {
    return this.raw.columns.map((column) => new Column(column));
  }

  /** The column called `name`; an error lists the columns there are. */
  column(name: string): Column {
    const column = this.raw.columns.find((column) => column.name === name);
    if (column === undefined) {
      const names = this.raw.columns.map((column) => column.name).join(", ");
      throw new PluginError(`no column \`${name}\`; the columns are: ${names}`);
    }
    return new Column(column);
  }

  /** This batch with `column` appended. */
  withColumn(column: Column): Batch {
    if (this.raw.columns.some((existing) => existing.name === column.name)) {
      throw new PluginError(`the batch already has a column \`${column.name}\``);
    }
    if (this.raw.columns.length === 0 && this.numRows === 0) return Batch.of([column]);
    if (column.length !== this.numRows) {
      throw new PluginError(
        `column \`${column.name}\` has ${column.length} rows, but the batch has ${this.numRows}`,
      );
    }
    return new Batch({ numRows: this.numRows, columns: [...this.raw.columns, column.raw] });
  }

  /** The rows whose entry in `keep` is true (or non-zero), in order. */
  filter(keep: ArrayLike<boolean | number>): Batch {
    if (keep.length !== this.numRows) {
      throw new PluginError(`the filter mask has ${keep.length} entries for ${this.numRows} rows`);
    }
    const rows: number[] = [];
    for (let i = 0; i < keep.length; i++) if (keep[i]) rows.push(i);
    return new Batch({ numRows: rows.length, columns: this.raw.columns.map((column) => take(column, rows)) });
  }

  /** Every row, as a view that reads cells by column name. */
  *rows(): IterableIterator<Row> {
    for (let i = 0; i < this.numRows; i++) yield new Row(this, i);
  }

  /** Column `name`'s cells, read once per batch for `Row.get`. */
  cells(name: string): Cell[] {
    let cells = this.read.get(name);
    if (cells === undefined) {
      cells = this.column(name).values();
      this.read.set(name, cells);
    }
    return cells;
  }
}

/** Rows `rows` of `column`, in that order. */
function take(column: types.Column, rows: number[]): types.Column {
  const bits = column.validity;
  const validity =
    bits === undefined ? undefined : packValidity(rows.length, rows.map((row) => (bits[row >> 3] >> (row & 7)) & 1));
  const values = column.values;
  let taken: types.Vector;
  switch (values.tag) {
    case "boolean":
      taken = { tag: "boolean", val: rows.map((row) => values.val[row]) };
      break;
    case "int64":
      taken = { tag: "int64", val: BigInt64Array.from(rows, (row) => values.val[row]) };
      break;
    case "float64":
      taken = { tag: "float64", val: Float64Array.from(rows, (row) => values.val[row]) };
      break;
    default: {
      const { offsets, data } = values.val;
      const newOffsets = new Uint32Array(rows.length + 1);
      rows.forEach((row, i) => (newOffsets[i + 1] = newOffsets[i] + offsets[row + 1] - offsets[row]));
      const newData = new Uint8Array(newOffsets[rows.length]);
      rows.forEach((row, i) => newData.set(data.subarray(offsets[row], offsets[row + 1]), newOffsets[i]));
      taken = { tag: values.tag, val: { offsets: newOffsets, data: newData } };
    }
  }
  return { name: column.name, dataType: column.dataType, validity, values: taken };
}

/** The Arrow validity bitmap of `n` rows, or undefined when every row holds a value. */
function packValidity(n: number, valid: Validity | undefined, values?: ArrayLike<unknown>): Uint8Array | undefined {
  // Typed arrays cannot hold null: only plain arrays are checked for it.
  const nullable = values !== undefined && !ArrayBuffer.isView(values);
  let bits: Uint8Array | undefined;
  for (let i = 0; i < n; i++) {
    if ((valid === undefined || valid[i]) && !(nullable && values[i] == null)) continue;
    bits ??= new Uint8Array((n + 7) >> 3).fill(0xff);
    bits[i >> 3] &= ~(1 << (i & 7));
  }
  return bits;
}

/**
 * A column of `dataType` from `values`, one per row. A row is null where `values` holds
 * null (plain arrays) or `valid` holds false or 0. Typed arrays of the column's own kind
 * (Float64Array for float64, BigInt64Array for int64, timestamp and date) are used as they
 * are, not copied.
 */
export function column(name: string, dataType: DataType, values: ArrayLike<unknown>, valid?: Validity): Column {
  const n = values.length;
  if (valid !== undefined && valid.length !== n) {
    throw new PluginError(`column \`${name}\` has ${n} values but ${valid.length} validity entries`);
  }
  const validity = packValidity(n, valid, values);
  let vector: types.Vector;
  switch (dataType) {
    case "boolean":
      vector = { tag: "boolean", val: Array.from(values, (v) => v === true) };
      break;
    case "float64":
      vector = { tag: "float64", val: values instanceof Float64Array ? values : Float64Array.from(values, (v) => Number(v ?? 0)) };
      break;
    case "int64":
    case "timestamp":
    case "date":
      vector = { tag: "int64", val: values instanceof BigInt64Array ? values : BigInt64Array.from(values, (v) => BigInt((v as number | bigint | null) ?? 0)) };
      break;
    case "bytes":
      vector = { tag: "bytes", val: varData(Array.from(values, (v) => (v as Uint8Array | null) ?? new Uint8Array())) };
      break;
    default:
      vector = { tag: "text", val: textData(values as ArrayLike<string | null>) };
  }
  return new Column({ name, dataType, validity, values: vector });
}

export function float64Column(name: string, values: ArrayLike<number | null>, valid?: Validity): Column {
  return column(name, "float64", values, valid);
}

export function int64Column(name: string, values: ArrayLike<number | bigint | null>, valid?: Validity): Column {
  return column(name, "int64", values, valid);
}

export function textColumn(name: string, values: ArrayLike<string | null>, valid?: Validity): Column {
  return column(name, "text", values, valid);
}

export function boolColumn(name: string, values: ArrayLike<boolean | null>, valid?: Validity): Column {
  return column(name, "boolean", values, valid);
}

/** Offsets and bytes of `chunks`. */
function varData(chunks: Uint8Array[]): types.VarData {
  const offsets = new Uint32Array(chunks.length + 1);
  chunks.forEach((chunk, i) => (offsets[i + 1] = offsets[i] + chunk.length));
  const data = new Uint8Array(offsets[chunks.length]);
  chunks.forEach((chunk, i) => data.set(chunk, offsets[i]));
  return { offsets, data };
}

/** Offsets and UTF-8 bytes of `texts` (null as empty). */
function textData(texts: ArrayLike<string | null>): types.VarData {
  const all = Array.from(texts, (text) => text ?? "");
  // One encode for the whole column: when every character is one byte, string positions
  // are byte positions.
  const data = encoder.encode(all.join(""));
  let offsets = new Uint32Array(all.length + 1);
  all.forEach((text, i) => (offsets[i + 1] = offsets[i] + text.length));
  if (offsets[all.length] === data.length) return { offsets, data };
  return varData(all.map((text) => encoder.encode(text)));
}

/** Lines in the run's log, next to its output; the host caps its size. */
export const log = {
  trace: (message: string) => write("trace", message),
  debug: (message: string) => write("debug", message),
  info: (message: string) => write("info", message),
  warn: (message: string) => write("warn", message),
  error: (message: string) => write("error", message),
};

/** The part of JSON Schema that the SDK checks params against (the host only shows it). */
export interface ParamsSchema {
  type?: string;
  properties?: Record<string, { type?: string | string[]; default?: unknown; [key: string]: unknown }>;
  additionalProperties?: boolean;
  [key: string]: unknown;
}

/** What `describe` says about a plugin. */
export interface Info {
  name: string;
  /** Defaults to "0.1.0". */
  version?: string;
  description?: string;
  /**
   * JSON Schema of the params object. `init` rejects params whose fields it does not list
   * (when `additionalProperties` is false) or whose `type` is wrong, and fills in each
   * missing field's `default`. Without a schema the plugin takes no params: only `{}`.
   */
  paramsSchema?: ParamsSchema;
}

/** A plugin: set `static info`, override what the plugin does. One instance per run. */
export class Plugin<Params = Record<string, never>> {
  static info: Info = { name: "ts-plugin" };

  /** Starts a run on `source`, with the user's params, checked against `info.paramsSchema`. */
  constructor(
    readonly source: Source,
    readonly params: Params,
  ) {}

  /** The query to run, or undefined when the user supplies it. */
  buildQuery(): Query | undefined {
    return undefined;
  }

  /** The rows to output for this batch; `Batch.empty()` for none. */
  transform(batch: Batch): Batch {
    return batch;
  }

  /** Trailing rows (aggregates) after the last batch, if any. */
  finish(): Batch | undefined {
    return undefined;
  }
}

/** A class that extends `Plugin`. */
export interface PluginClass<Params> {
  new (source: Source, params: Params): Plugin<Params>;
  readonly prototype: Plugin<Params>;
  info: Info;
}

/** The world's exports, as componentize-js looks for them in the entry module. */
export interface Exports {
  describe(): types.PluginInfo;
  init(source: Source, params: string): void;
  buildQuery(): Query | undefined;
  transform(input: types.Batch): types.Batch;
  finish(): types.Batch | undefined;
}

/**
 * The exports that run `plugin`; export them from the entry module:
 * `export const { describe, init, buildQuery, transform, finish } = exportPlugin(MyPlugin);`
 */
export function exportPlugin<Params>(plugin: PluginClass<Params>): Exports {
  let instance: Plugin<Params> | undefined;
  const overrides = (method: "buildQuery" | "transform" | "finish") =>
    plugin.prototype[method] !== Plugin.prototype[method];
  // A thrown error becomes the export's plugin-error.
  const guard = <T>(call: () => T): T => {
    try {
      return call();
    } catch (error) {
      throw toPluginError(error);
    }
  };
  const running = (name: string): Plugin<Params> => {
    if (instance === undefined) throw new PluginError(`\`${name}\` was called before a successful \`init\``);
    return instance;
  };
  return {
    describe: () => ({
      name: plugin.info.name,
      version: plugin.info.version ?? "0.1.0",
      description: plugin.info.description ?? "",
      paramsSchema: plugin.info.paramsSchema === undefined ? undefined : JSON.stringify(plugin.info.paramsSchema),
      buildsQuery: overrides("buildQuery"),
      transforms: overrides("transform") || overrides("finish"),
    }),
    init: (source, params) =>
      guard(() => {
        // A failed init must not leave the previous run's instance answering.
        instance = undefined;
        instance = new plugin(source, parseParams(params, plugin.info.paramsSchema) as Params);
      }),
    buildQuery: () => guard(() => running("build-query").buildQuery()),
    transform: (input) => guard(() => running("transform").transform(new Batch(input)).raw),
    finish: () => guard(() => running("finish").finish()?.raw),
  };
}

/** The contract's plugin-error for anything thrown. */
function toPluginError(error: unknown): types.PluginError {
  if (error instanceof PluginError) return { message: error.message, row: error.row };
  if (error instanceof Error) return { message: `${error.name}: ${error.message}` };
  return { message: String(error) };
}

/** The params object in `text` (empty text means `{}`), checked against `schema`. */
export function parseParams(text: string, schema?: ParamsSchema): Record<string, unknown> {
  let params: unknown = {};
  if (text.trim() !== "") {
    try {
      params = JSON.parse(text);
    } catch (error) {
      throw new PluginError(`invalid params: ${(error as Error).message}`);
    }
  }
  if (typeof params !== "object" || params === null || Array.isArray(params)) {
    throw new PluginError("invalid params: expected a JSON object");
  }
  const fields = params as Record<string, unknown>;
  const properties = schema?.properties ?? {};
  const known = Object.keys(properties);
  for (const [key, value] of Object.entries(fields)) {
    const property = properties[key];
    if (property === undefined) {
      if (schema !== undefined && schema.additionalProperties !== false) continue;
      const expected = known.length === 0 ? "there are no fields" : `expected one of: ${known.join(", ")}`;
      throw new PluginError(`invalid params: unknown field \`${key}\`, ${expected}`);
    }
    const wanted = property.type === undefined ? [] : [property.type].flat();
    if (wanted.length > 0 && !wanted.some((type) => hasType(value, type))) {
      throw new PluginError(`invalid params: ${key}: expected ${wanted.join(" or ")}, got ${JSON.stringify(value)}`);
    }
  }
  for (const [key, property] of Object.entries(properties)) {
    if (!(key in fields) && "default" in property) fields[key] = property.default;
  }
  return fields;
}

/** Whether a JSON value is of JSON Schema type `type`. */
function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case "integer":
      return Number.isInteger(value);
    case "array":
      return Array.isArray(value);
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    case "null":
      return value === null;
    default:
      return typeof value === type;
  }
}
