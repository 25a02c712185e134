// An aggregate, as plugins/examples/delay-stats in Rust: collects a delay column per group
// while consuming every batch, then outputs one row per group from finish: its count,
// mean, median and 95th percentile (nearest rank), groups in key order.

import {
  Batch,
  Column,
  Plugin,
  exportPlugin,
  float64Column,
  int64Column,
  textColumn,
} from "../../sdk/quarry-plugin.js";

interface Params {
  column: string;
  group_by: string;
}

export class DelayStats extends Plugin<Params> {
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

  transform(batch: Batch): Batch {
    const column = batch.column(this.params.column);
    const values = column.floats();
    const hasValue = column.valid();
    const keys = groupKeys(batch.column(this.params.group_by));
    for (let row = 0; row < batch.numRows; row++) {
      const key = keys[row];
      if (!hasValue[row] || key === null) continue;
      const group = this.groups.get(key);
      if (group === undefined) this.groups.set(key, [values[row]]);
      else group.push(values[row]);
    }
    // Everything comes out of finish.
    return Batch.empty();
  }

  finish(): Batch {
    const keys = [...this.groups.keys()].sort(byCodePoint);
    const counts = new BigInt64Array(keys.length);
    const means = new Float64Array(keys.length);
    const p50s = new Float64Array(keys.length);
    const p95s = new Float64Array(keys.length);
    keys.forEach((key, i) => {
      // A typed array sorts numerically, -0 before 0, as Rust's total_cmp does.
      const values = Float64Array.from(this.groups.get(key)!).sort();
      const n = values.length;
      // Rust's f64 sum starts from -0.0; add in the same order for the same rounding.
      let total = -0;
      for (const value of values) total += value;
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

/** Each row's group key as text, the way the Rust example writes it; null has no group. */
function groupKeys(keys: Column): (string | null)[] {
  switch (keys.raw.values.tag) {
    case "text":
      return keys.texts();
    case "bytes": {
      const lossy = new TextDecoder("utf-8", { ignoreBOM: true });
      return keys.blobs().map((bytes) => (bytes === null ? null : lossy.decode(bytes)));
    }
    default:
      return keys.values().map((key) => (key === null ? null : typeof key === "number" ? floatText(key) : String(key)));
  }
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

export const { describe, init, buildQuery, transform, finish } = exportPlugin(DelayStats);
