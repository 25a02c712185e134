/**
 * Quarry's TypeScript SDK: write a plugin as a class, build it with jco componentize.
 *
 * A plugin extends `Plugin`, says what it is in `static info`, overrides what it does
 * (`transform`, `finish`, `buildQuery`), and its module exports what `exportPlugin` returns:
 *
 *     import { Batch, Output, Plugin, exportPlugin, float64Column } from "../../sdk/quarry-plugin.js";
 *
 *     export class Km extends Plugin {
 *       static info = { name: "km", description: "Adds distance_km", reads: ["distance"], stateless: true };
 *
 *       transform(batch: Batch): Output {
 *         const distance = batch.column("distance");
 *         const miles = distance.floats();
 *         const n = batch.numRows;
 *         const km = new Float64Array(n);
 *         for (let i = 0; i < n; i++) km[i] = miles[i] * 1.609344;
 *         return Output.unchanged().set(float64Column("distance_km", km, distance.valid()));
 *       }
 *     }
 *
 *     export const { describe, init, buildQuery, transform, finish } = exportPlugin(Km);
 *
 * `info.reads` names the columns `transform` reads: only those cross into the plugin.
 * `transform` returns an `Output`, an edit that the host applies to the whole input batch
 * (rows to keep, columns to set), or rows of its own (`Output.rows`, or a `Batch`).
 * An aggregate whose instances can each take part of the rows implements `Merge` and is
 * exported with `exportAggregate` instead.
 *
 * Batches stay columnar and cells are never turned into objects one by one: `floats()`,
 * `ints()` and `valid()` are typed arrays (one entry per row; a null row holds a
 * placeholder value and a 0 in `valid()`), `dictionary()` codes a text column with one
 * string per distinct text, and the column builders take typed arrays (a plain array with
 * `null` for nulls works too). The engine interprets JavaScript (there is no JIT in the
 * sandbox): what costs is work per row, above all making a string or an object, calling a
 * function or a getter (`batch.numRows`, `array.length`: read it once, before the loop).
 *
 * Memory: a batch's arrays, in and out, are freed when the next batch (or `finish`)
 * arrives, because the engine's garbage collector would free them too late. Copy what you
 * keep across batches (`floats().slice()`, not `floats()`).
 *
 * Errors: throw `PluginError(message, row?)`; any other exception becomes a plugin error
 * carrying its name and message.
 */

import type * as types from "quarry:plugin/types@0.2.0";
import { write } from "quarry:plugin/log@0.2.0";

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
    const n = ints.length;
    const floats = new Float64Array(n);
    for (let i = 0; i < n; i++) floats[i] = Number(ints[i]);
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
    const { codes, values } = this.dictionary();
    const n = codes.length;
    const texts = new Array<string | null>(n);
    for (let i = 0; i < n; i++) texts[i] = codes[i] < 0 ? null : values[codes[i]];
    return texts;
  }

  /**
   * A text-stored column as a dictionary: `values` holds each distinct text once and
   * `codes` the index of each row's text in it, -1 for null. A string is made per distinct
   * text, not per row, which makes this the cheap way to group by a text column.
   */
  dictionary(): { codes: Int32Array; values: string[] } {
    const vector = this.raw.values;
    if (vector.tag !== "text") throw this.wrongType("text");
    const { offsets, data } = vector.val;
    const bits = this.raw.validity;
    const n = offsets.length - 1;
    const codes = new Int32Array(n);
    const values: string[] = [];
    // Making a string costs far more than reading a few bytes: a text of up to 6 bytes is
    // looked up by a number made of its length and bytes (below 2^53, so exact), and only
    // a longer one by its decoded text.
    const byNumber = new Map<number, number>();
    const byText = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const start = offsets[i];
      const end = offsets[i + 1];
      if (bits !== undefined && ((bits[i >> 3] >> (i & 7)) & 1) === 0) {
        codes[i] = -1;
      } else if (end - start <= 6) {
        let key = end - start;
        for (let j = start; j < end; j++) key = key * 256 + data[j];
        let code = byNumber.get(key);
        if (code === undefined) {
          code = values.push(decoder.decode(data.subarray(start, end))) - 1;
          byNumber.set(key, code);
        }
        codes[i] = code;
      } else {
        const text = decoder.decode(data.subarray(start, end));
        let code = byText.get(text);
        if (code === undefined) {
          code = values.push(text) - 1;
          byText.set(text, code);
        }
        codes[i] = code;
      }
    }
    return { codes, values };
  }

  /** Every row of a bytes column, as views of the batch's bytes; null for null. */
  blobs(): (Uint8Array | null)[] {
    const values = this.raw.values;
    if (values.tag !== "bytes") throw this.wrongType("bytes");
    const { offsets, data } = values.val;
    const n = offsets.length - 1;
    const blobs = new Array<Uint8Array | null>(n);
    for (let i = 0; i < n; i++) blobs[i] = data.subarray(offsets[i], offsets[i + 1]);
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
      default: {
        const n = values.val.length;
        const cells = new Array<Cell>(n);
        for (let i = 0; i < n; i++) cells[i] = values.val[i];
        return this.nullOut(cells);
      }
    }
  }

  private nullOut<T>(cells: (T | null)[]): (T | null)[] {
    const bits = this.raw.validity;
    if (bits === undefined) return cells;
    const n = cells.length;
    for (let i = 0; i < n; i++) if (((bits[i >> 3] >> (i & 7)) & 1) === 0) cells[i] = null;
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

  /** No rows and no columns; returned from `transform`, it outputs nothing (`Output.none()`). */
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
    return this.take(indicesWhere(keep));
  }

  /** The rows at these indices, in this order (an index may repeat). */
  take(rows: ArrayLike<number>): Batch {
    const n = rows.length;
    for (let i = 0; i < n; i++) {
      if (!(rows[i] >= 0 && rows[i] < this.numRows)) {
        throw new PluginError(`row ${rows[i]} is out of range: the batch has ${this.numRows} rows`);
      }
    }
    return new Batch({ numRows: n, columns: this.raw.columns.map((column) => take(column, rows)) });
  }

  /** Every row, as a view that reads cells by column name. */
  *rows(): IterableIterator<Row> {
    const n = this.numRows;
    for (let i = 0; i < n; i++) yield new Row(this, i);
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

/** The indices of the entries of `mask` that are true or non-zero. */
function indicesWhere(mask: ArrayLike<boolean | number>): Uint32Array {
  const n = mask.length;
  let kept = 0;
  for (let i = 0; i < n; i++) if (mask[i]) kept++;
  const rows = new Uint32Array(kept);
  for (let i = 0, j = 0; i < n; i++) if (mask[i]) rows[j++] = i;
  return rows;
}

/** Rows `rows` of `column`, in that order. */
function take(column: types.Column, rows: ArrayLike<number>): types.Column {
  const n = rows.length;
  const bits = column.validity;
  let validity: Uint8Array | undefined;
  if (bits !== undefined) {
    const valid = new Uint8Array(n);
    for (let i = 0; i < n; i++) valid[i] = (bits[rows[i] >> 3] >> (rows[i] & 7)) & 1;
    validity = packValidity(n, valid);
  }
  const values = column.values;
  let taken: types.Vector;
  switch (values.tag) {
    case "boolean": {
      const bools = new Array<boolean>(n);
      for (let i = 0; i < n; i++) bools[i] = values.val[rows[i]];
      taken = { tag: "boolean", val: bools };
      break;
    }
    case "int64": {
      const ints = new BigInt64Array(n);
      for (let i = 0; i < n; i++) ints[i] = values.val[rows[i]];
      taken = { tag: "int64", val: ints };
      break;
    }
    case "float64": {
      const floats = new Float64Array(n);
      for (let i = 0; i < n; i++) floats[i] = values.val[rows[i]];
      taken = { tag: "float64", val: floats };
      break;
    }
    default: {
      const { offsets, data } = values.val;
      const newOffsets = new Uint32Array(n + 1);
      for (let i = 0; i < n; i++) newOffsets[i + 1] = newOffsets[i] + offsets[rows[i] + 1] - offsets[rows[i]];
      const newData = new Uint8Array(newOffsets[n]);
      // One copy per run of consecutive rows.
      for (let i = 0; i < n; ) {
        let j = i + 1;
        while (j < n && rows[j] === rows[j - 1] + 1) j++;
        newData.set(data.subarray(offsets[rows[i]], offsets[rows[j - 1] + 1]), newOffsets[i]);
        i = j;
      }
      taken = { tag: values.tag, val: { offsets: newOffsets, data: newData } };
    }
  }
  return { name: column.name, dataType: column.dataType, validity, values: taken };
}

/** The Arrow validity bitmap of `n` rows, or undefined when every row holds a value. */
function packValidity(n: number, valid: Validity | undefined, values?: ArrayLike<unknown>): Uint8Array | undefined {
  // Typed arrays cannot hold null: only plain arrays are checked for it.
  const nullable = values !== undefined && !ArrayBuffer.isView(values);
  // The usual case, with a native search rather than a loop: no nulls at all.
  if (!nullable && (valid === undefined || (valid instanceof Uint8Array && valid.indexOf(0) < 0))) return undefined;
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
    case "boolean": {
      const bools = new Array<boolean>(n);
      for (let i = 0; i < n; i++) bools[i] = values[i] === true;
      vector = { tag: "boolean", val: bools };
      break;
    }
    case "float64": {
      let floats: Float64Array;
      if (values instanceof Float64Array) {
        floats = values;
      } else {
        floats = new Float64Array(n);
        for (let i = 0; i < n; i++) floats[i] = Number(values[i] ?? 0);
      }
      vector = { tag: "float64", val: floats };
      break;
    }
    case "int64":
    case "timestamp":
    case "date": {
      let ints: BigInt64Array;
      if (values instanceof BigInt64Array) {
        ints = values;
      } else {
        ints = new BigInt64Array(n);
        for (let i = 0; i < n; i++) ints[i] = BigInt((values[i] as number | bigint | null) ?? 0);
      }
      vector = { tag: "int64", val: ints };
      break;
    }
    case "bytes": {
      const chunks = new Array<Uint8Array>(n);
      for (let i = 0; i < n; i++) chunks[i] = (values[i] as Uint8Array | null) ?? new Uint8Array();
      vector = { tag: "bytes", val: varData(chunks) };
      break;
    }
    default: {
      const texts = new Array<string>(n);
      for (let i = 0; i < n; i++) texts[i] = (values[i] as string | null) ?? "";
      vector = { tag: "text", val: textData(texts) };
    }
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
  const n = chunks.length;
  const offsets = new Uint32Array(n + 1);
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + chunks[i].length;
  const data = new Uint8Array(offsets[n]);
  for (let i = 0; i < n; i++) data.set(chunks[i], offsets[i]);
  return { offsets, data };
}

/** Offsets and UTF-8 bytes of `texts`. */
function textData(texts: string[]): types.VarData {
  // One encode for the whole column: when every character took one byte, string
  // positions are byte positions.
  const n = texts.length;
  const data = encoder.encode(texts.join(""));
  const offsets = new Uint32Array(n + 1);
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + texts[i].length;
  if (offsets[n] === data.length) return { offsets, data };
  const chunks = new Array<Uint8Array>(n);
  for (let i = 0; i < n; i++) chunks[i] = encoder.encode(texts[i]);
  return varData(chunks);
}

/**
 * What `transform` returns for one batch: an edit of the input, or rows of its own.
 *
 * Most transforms edit their input: a map sets columns, a filter keeps some rows. An edit
 * sends back only what it changes and the host applies it to the whole batch, columns the
 * plugin did not read included:
 *
 *     Output.unchanged().set(float64Column("gain", gain))   // a map
 *     Output.keepWhere(late)                                 // a filter
 *
 * A transform that reshapes its input (a row per group, say) returns `Output.rows(batch)`,
 * or the batch itself. Methods return the output, for chaining.
 */
export class Output {
  private constructor(readonly raw: types.Output) {}

  /** Every input row, every column as it came. */
  static unchanged(): Output {
    return new Output({ tag: "edit", val: { rows: undefined, columns: [] } });
  }

  /** The input rows at these indices, in this order; columns `set` then hold one value per kept row. */
  static keep(rows: ArrayLike<number>): Output {
    return new Output({ tag: "edit", val: { rows: Uint32Array.from(rows), columns: [] } });
  }

  /** The input rows whose entry in `mask` (one per input row) is true or non-zero. */
  static keepWhere(mask: ArrayLike<boolean | number>): Output {
    return new Output({ tag: "edit", val: { rows: indicesWhere(mask), columns: [] } });
  }

  /**
   * Nothing for this batch, neither rows nor columns: what an aggregate that answers from
   * `finish` returns. (A filter that keeps no row returns `keep([])`, which keeps the
   * input's columns.)
   */
  static none(): Output {
    return Output.rows(Batch.empty());
  }

  /** These rows instead of the input's. */
  static rows(batch: Batch): Output {
    return new Output({ tag: "rows", val: { numRows: batch.numRows, columns: [...batch.raw.columns] } });
  }

  /**
   * Outputs `column` in place of the input column of the same name, or after the others
   * when there is none (in the batch of `Output.rows`, likewise).
   */
  set(column: Column): Output {
    setColumn(this.raw.val.columns, column.raw);
    return this;
  }

  /** The batch the host makes of `input` with this output, for a plugin's own tests. */
  apply(input: Batch): Batch {
    const output = this.raw;
    // The rows: the output's own, or the input's that the edit keeps; then its columns.
    const base =
      output.tag === "rows"
        ? new Batch({ numRows: output.val.numRows, columns: [] })
        : output.val.rows === undefined
          ? input
          : input.take(output.val.rows);
    const columns = [...base.raw.columns];
    for (const column of output.val.columns) {
      const length = new Column(column).length;
      if (length !== base.numRows) {
        throw new PluginError(`column \`${column.name}\` has ${length} rows, but the output has ${base.numRows}`);
      }
      setColumn(columns, column);
    }
    return new Batch({ numRows: base.numRows, columns });
  }
}

/** Puts `column` in place of the one of the same name in `columns`, or after them. */
function setColumn(columns: types.Column[], column: types.Column): void {
  const index = columns.findIndex((existing) => existing.name === column.name);
  if (index < 0) columns.push(column);
  else columns[index] = column;
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
  /**
   * The input columns `transform` reads; only these cross into the plugin, and the host
   * keeps the others for the output (see `Output`). Undefined: all of them. A plugin whose
   * columns depend on its params says so per run with `Plugin.reads()` instead.
   */
  reads?: string[];
  /**
   * `transform` keeps no state from one batch to the next (a map, a filter), so the host
   * may send batches through several instances at once. Defaults to false.
   */
  stateless?: boolean;
}

/** A plugin: set `static info`, override what the plugin does. One instance per run. */
export class Plugin<Params = Record<string, never>> {
  static info: Info = { name: "ts-plugin" };

  /** Starts a run on `source`, with the user's params, checked against `info.paramsSchema`. */
  constructor(
    readonly source: Source,
    readonly params: Params,
  ) {}

  /**
   * The input columns `transform` reads in this run, when they depend on the params;
   * undefined (the default) keeps `info.reads`.
   */
  reads(): string[] | undefined {
    return undefined;
  }

  /** The query to run, or undefined when the user supplies it. */
  buildQuery(): Query | undefined {
    return undefined;
  }

  /**
   * The rows to output for this batch: an edit of `batch` (see `Output`), or rows of the
   * plugin's own (a returned `Batch` replaces the input's rows); by default the batch
   * unchanged. `batch` holds the columns the plugin reads. `Output.none()` outputs nothing.
   */
  transform(batch: Batch): Output | Batch {
    return Output.unchanged();
  }

  /** Trailing rows (aggregates) after the last batch, if any. */
  finish(): Batch | undefined {
    return undefined;
  }
}

/**
 * An aggregate that several instances compute together, each over part of the rows:
 * implement both methods and export the plugin with `exportAggregate`. All instances but
 * one hand their `partial` state to the last one's `merge`; only that one's `finish` runs.
 */
export interface Merge {
  /** This instance's state after its last batch, encoded as the plugin likes (JSON, say). */
  partial(): Uint8Array;
  /** Folds other instances' `partial` states into this one's. */
  merge(partials: Uint8Array[]): void;
}

/** A class that extends `Plugin` (and whose instances are `Instance`s). */
export interface PluginClass<Params, Instance extends Plugin<Params> = Plugin<Params>> {
  new (source: Source, params: Params): Instance;
  readonly prototype: Instance;
  info: Info;
}

/** World `plugin`'s exports, as componentize-js looks for them in the entry module. */
export interface Exports {
  describe(): types.PluginInfo;
  init(source: Source, params: string): string[] | undefined;
  buildQuery(): Query | undefined;
  transform(input: types.Batch): types.Output;
  finish(): types.Batch | undefined;
}

/**
 * World `aggregate`'s exports: the plugin world's and the `merge` interface, which
 * componentize-js looks for as an object called `merge` in the entry module.
 */
export interface AggregateExports extends Exports {
  merge: {
    partial(): Uint8Array;
    merge(partials: Uint8Array[]): void;
  };
}

/**
 * The exports that run `plugin` as world `plugin`; export them from the entry module:
 * `export const { describe, init, buildQuery, transform, finish } = exportPlugin(MyPlugin);`
 */
export function exportPlugin<Params>(plugin: PluginClass<Params>): Exports {
  return run(plugin).exports;
}

/**
 * The exports that run `plugin`, an aggregate that merges, as world `aggregate` (build it
 * with `--world-name aggregate`); export them from the entry module:
 * `export const { describe, init, buildQuery, transform, finish, merge } = exportAggregate(MyAggregate);`
 */
export function exportAggregate<Params>(plugin: PluginClass<Params, Plugin<Params> & Merge>): AggregateExports {
  const { exports, call } = run(plugin);
  return {
    ...exports,
    merge: {
      partial: () => call("partial", (instance) => instance.partial()),
      merge: (partials) => call("merge", (instance) => instance.merge(partials)),
    },
  };
}

/**
 * The plugin world's exports for `plugin`, and `call`, which runs a function of the run's
 * instance (made by a successful `init`) and turns what it throws into a plugin-error.
 */
function run<Params, Instance extends Plugin<Params>>(plugin: PluginClass<Params, Instance>) {
  let instance: Instance | undefined;
  const overrides = (method: "buildQuery" | "transform" | "finish") =>
    plugin.prototype[method] !== Plugin.prototype[method];
  const guard = <T>(body: () => T): T => {
    try {
      return body();
    } catch (error) {
      throw toPluginError(error);
    }
  };
  const call = <T>(name: string, body: (instance: Instance) => T): T =>
    guard(() => {
      if (instance === undefined) throw new PluginError(`\`${name}\` was called before a successful \`init\``);
      return body(instance);
    });
  const exports: Exports = {
    describe: () => ({
      name: plugin.info.name,
      version: plugin.info.version ?? "0.1.0",
      description: plugin.info.description ?? "",
      paramsSchema: plugin.info.paramsSchema === undefined ? undefined : JSON.stringify(plugin.info.paramsSchema),
      buildsQuery: overrides("buildQuery"),
      transforms: overrides("transform") || overrides("finish"),
      reads: plugin.info.reads,
      stateless: plugin.info.stateless ?? false,
    }),
    init: (source, params) =>
      guard(() => {
        // A failed init must not leave the previous run's instance answering.
        instance = undefined;
        const started = new plugin(source, parseParams(params, plugin.info.paramsSchema) as Params);
        const reads = started.reads();
        instance = started;
        return reads;
      }),
    buildQuery: () => call("build-query", (instance) => instance.buildQuery()),
    transform: (input) =>
      call("transform", (instance) => {
        released.release();
        const returned = instance.transform(new Batch(input));
        const output: types.Output = returned instanceof Batch ? { tag: "rows", val: returned.raw } : returned.raw;
        released.hold(input.columns);
        released.hold(output.val.columns);
        return output;
      }),
    finish: () =>
      call("finish", (instance) => {
        released.release();
        return instance.finish()?.raw;
      }),
  };
  return { exports, call };
}

/**
 * The arrays of the last batch in and out, freed when the next call arrives. The engine
 * collects garbage only once a lot has piled up, more than the sandbox's memory limit
 * holds when batches are wide, so the SDK frees each batch's buffers itself: detaching an
 * ArrayBuffer frees its memory at once. (The output's are still read after `transform`
 * returns, hence the next call.) Node.js before 21 cannot detach; there it does nothing.
 */
const released = {
  buffers: [] as ArrayBuffer[],

  hold(columns: types.Column[]): void {
    for (const column of columns) {
      if (column.validity !== undefined) this.buffers.push(column.validity.buffer as ArrayBuffer);
      const values = column.values;
      if (values.tag === "text" || values.tag === "bytes") {
        this.buffers.push(values.val.offsets.buffer as ArrayBuffer, values.val.data.buffer as ArrayBuffer);
      } else if (values.tag !== "boolean") {
        this.buffers.push(values.val.buffer as ArrayBuffer);
      }
    }
  },

  release(): void {
    // A buffer can appear twice (a column passed through, or one array in two columns).
    for (const buffer of this.buffers) if (!buffer.detached) buffer.transfer?.(0);
    this.buffers = [];
  },
};

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
