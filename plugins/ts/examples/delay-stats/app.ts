// An aggregate, as plugins/examples/delay-stats in Rust: collects a delay column per group
// while consuming every batch, then outputs one row per group from finish: its count,
// mean, median and 95th percentile (nearest rank), groups in key order. It reads only its
// two columns, and it merges: several instances can each collect part of the rows, and
// one combines their groups before finish.

import {
  Batch,
  Column,
  Merge,
  Output,
  Plugin,
  PluginError,
  exportAggregate,
  float64Column,
  int64Column,
  textColumn,
} from "../../sdk/quarry-plugin.js";

interface Params {
  column: string;
  group_by: string;
}

export class DelayStats extends Plugin<Params> implements Merge {
  static info = {
    name: "delay-stats-ts",
    description: "Count, mean, p50 and p95 of a delay column per group (TypeScript)",
    paramsSchema: {
      type: "object",
      properties: {
        column: { type: "string", default: "arr_delay", description: "The numeric column to summarize" },
        group_by: { type: "string", default: "carrier", description: "The column to group by" },
      },
      additionalProperties: false,
    },
  };

  /** Every non-null value, per group key. */
  private groups = new Map<string, number[]>();

  reads(): string[] {
    return [this.params.column, this.params.group_by];
  }

  transform(batch: Batch): Output {
    const column = batch.column(this.params.column);
    const values = column.floats();
    const hasValue = column.valid();
    const { codes, keys } = groupKeys(batch.column(this.params.group_by));
    // This batch's groups by key code, looked up once per key rather than once per row; a
    // group is made only when a value arrives for it.
    const groups = new Array<number[] | undefined>(keys.length);
    const n = batch.numRows;
    for (let row = 0; row < n; row++) {
      const code = codes[row];
      if (!hasValue[row] || code < 0) continue;
      (groups[code] ??= this.group(keys[code])).push(values[row]);
    }
    // Everything comes out of finish.
    return Output.none();
  }

  private group(key: string): number[] {
    let group = this.groups.get(key);
    if (group === undefined) {
      group = [];
      this.groups.set(key, group);
    }
    return group;
  }

  /**
   * The groups as one record each, as the Rust example writes them: the key's length
   * (u32, little-endian), the key in UTF-8, the number of values (u32) and the values
   * (f64), exactly (JSON would lose -0 and NaN).
   */
  partial(): Uint8Array {
    const encoder = new TextEncoder();
    const records = [...this.groups].map(([key, values]) => ({ key: encoder.encode(key), values }));
    let size = 0;
    for (const { key, values } of records) size += 8 + key.length + 8 * values.length;
    const state = new Uint8Array(size);
    const view = new DataView(state.buffer);
    let at = 0;
    for (const { key, values } of records) {
      view.setUint32(at, key.length, true);
      state.set(key, at + 4);
      at += 4 + key.length;
      view.setUint32(at, values.length, true);
      at += 4;
      for (const value of values) {
        view.setFloat64(at, value, true);
        at += 8;
      }
    }
    return state;
  }

  merge(partials: Uint8Array[]): void {
    const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    for (const state of partials) {
      const view = new DataView(state.buffer, state.byteOffset, state.byteLength);
      let at = 0;
      // The offset of the next n bytes, which then count as read.
      const take = (n: number): number => {
        if (at + n > state.length) throw new PluginError("merge: a partial state is truncated");
        at += n;
        return at - n;
      };
      while (at < state.length) {
        const keyLength = view.getUint32(take(4), true);
        const keyStart = take(keyLength);
        const group = this.group(decoder.decode(state.subarray(keyStart, at)));
        const count = view.getUint32(take(4), true);
        const start = take(8 * count);
        for (let i = 0; i < count; i++) group.push(view.getFloat64(start + 8 * i, true));
      }
    }
  }

  finish(): Batch {
    const keys = [...this.groups.keys()].sort(byCodePoint);
    const counts = new BigInt64Array(keys.length);
    const means = new Float64Array(keys.length);
    const p50s = new Float64Array(keys.length);
    const p95s = new Float64Array(keys.length);
    keys.forEach((key, i) => {
      // A typed array sorts numerically, -0 before 0, as Rust's total_cmp does.
      const values = new Float64Array(this.groups.get(key)!).sort();
      const n = values.length;
      // Rust's f64 sum starts from -0.0; add in the same order for the same rounding.
      let total = -0;
      for (let j = 0; j < n; j++) total += values[j];
      counts[i] = BigInt(n);
      means[i] = total / n;
      p50s[i] = values[nearestRank(50, n)];
      p95s[i] = values[nearestRank(95, n)];
    });
    return Batch.of([
      textColumn(this.params.group_by, keys),
      int64Column("count", counts),
      float64Column("mean", means),
      float64Column("p50", p50s),
      float64Column("p95", p95s),
    ]);
  }
}

/**
 * Each row's group key, as text the way the Rust example writes it, in dictionary form:
 * `codes[row]` is the index of the row's key in `keys`, -1 for null (which has no group).
 */
function groupKeys(column: Column): { codes: Int32Array; keys: string[] } {
  if (column.raw.values.tag === "text") {
    const { codes, values } = column.dictionary();
    return { codes, keys: values };
  }
  let texts: (string | null)[];
  if (column.raw.values.tag === "bytes") {
    const lossy = new TextDecoder("utf-8", { ignoreBOM: true });
    texts = column.blobs().map((bytes) => (bytes === null ? null : lossy.decode(bytes)));
  } else {
    texts = column.values().map((key) => (key === null ? null : typeof key === "number" ? floatText(key) : String(key)));
  }
  const codes = new Int32Array(texts.length);
  const keys: string[] = [];
  const index = new Map<string, number>();
  texts.forEach((text, row) => {
    let code = text === null ? -1 : index.get(text);
    if (code === undefined) {
      code = keys.push(text!) - 1;
      index.set(text!, code);
    }
    codes[row] = code;
  });
  return { codes, keys };
}

/** A float as Rust's `f64::to_string` writes it: shortest digits, never an exponent. */
function floatText(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (Object.is(x, -0)) return "-0";
  const text = String(x);
  if (!text.includes("e")) return text;
  const [mantissa, exponent] = x.toExponential().split("e");
  const sign = x < 0 ? "-" : "";
  const digits = mantissa.replace("-", "").replace(".", "");
  const point = Number(exponent) + 1; // digits before the decimal point
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  return sign + digits.padEnd(point, "0");
}

/** Orders strings by code point, which is UTF-8 byte order, as Rust's BTreeMap<String> does. */
function byCodePoint(a: string, b: string): number {
  // JavaScript compares UTF-16 units, in which U+E000..U+FFFF sort after the surrogates of
  // U+10000 and above: move the surrogates above them.
  const unit = (u: number) => (u < 0xd800 ? u : u < 0xe000 ? u + 0x2000 : u - 0x800);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return unit(x) - unit(y);
  }
  return a.length - b.length;
}

/** The index of the percent-th percentile of n sorted values: ceil(percent * n / 100) - 1. */
function nearestRank(percent: number, n: number): number {
  return Math.ceil((percent * n) / 100) - 1;
}

export const { describe, init, buildQuery, transform, finish, merge } = exportAggregate(DelayStats);
