// Unit tests of the SDK, run by Node.js outside a component (scripts/ts-plugins.sh runs
// them): node --import ./sdk/test-host.mjs --test <compiled>/sdk/quarry-plugin.test.js

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  Batch,
  Merge,
  Output,
  Plugin,
  PluginError,
  boolColumn,
  column,
  exportAggregate,
  exportPlugin,
  float64Column,
  int64Column,
  parseParams,
  textColumn,
} from "./quarry-plugin.js";

test("columns built with nulls read back the same", () => {
  const floats = float64Column("f", [1.5, null, -0]);
  assert.deepEqual(floats.values(), [1.5, null, -0]);
  assert.deepEqual([...floats.valid()], [1, 0, 1]);
  assert.equal(floats.isNull(1), true);

  const ints = int64Column("i", [1, null, 2n ** 60n]);
  assert.deepEqual(ints.values(), [1n, null, 2n ** 60n]);
  assert.deepEqual([...ints.floats()], [1, 0, 2 ** 60]);

  const bools = boolColumn("b", [true, false, null]);
  assert.deepEqual(bools.values(), [true, false, null]);

  const stamps = column("t", "timestamp", new BigInt64Array([5n, 6n]), [1, 0]);
  assert.equal(stamps.dataType, "timestamp");
  assert.deepEqual(stamps.values(), [5n, null]);
});

test("a typed array and a validity mask make a column without copying", () => {
  const values = new Float64Array([1, 2, 3]);
  const built = float64Column("f", values, new Uint8Array([1, 1, 0]));
  assert.equal(built.floats(), values);
  assert.deepEqual(built.values(), [1, 2, null]);
  assert.equal(float64Column("f", values).raw.validity, undefined, "no nulls, no bitmap");
});

test("text columns keep every character, with one string per distinct text", () => {
  const texts = ["UA", null, "Zürich", "UA", "", "a longer text than six bytes", "🛫"];
  const built = textColumn("t", texts);
  assert.deepEqual(built.texts(), texts);
  const { codes, values } = built.dictionary();
  assert.deepEqual([...codes], [0, -1, 1, 0, 2, 3, 4]);
  assert.deepEqual(values, ["UA", "Zürich", "", "a longer text than six bytes", "🛫"]);
  assert.deepEqual(textColumn("ascii", ["ab", "c"]).raw.values.val, {
    offsets: new Uint32Array([0, 2, 3]),
    data: new TextEncoder().encode("abc"),
  });
});

test("a column of another kind is an error naming it", () => {
  const texts = textColumn("carrier", ["UA"]);
  assert.throws(() => texts.floats(), new PluginError("column `carrier` is text, expected a number"));
  assert.throws(() => int64Column("n", [1]).texts(), /column `n` is int64, expected text/);
});

test("filter keeps the rows asked for, nulls and all", () => {
  const batch = Batch.of([
    textColumn("carrier", ["UA", null, "AA", "B6"]),
    int64Column("delay", [1, 2, null, 4]),
    boolColumn("late", [true, false, true, null]),
  ]);
  const kept = batch.filter([true, false, true, true]);
  assert.equal(kept.numRows, 3);
  assert.deepEqual(kept.column("carrier").texts(), ["UA", "AA", "B6"]);
  assert.deepEqual(kept.column("delay").values(), [1n, null, 4n]);
  assert.deepEqual(kept.column("late").values(), [true, true, null]);
  assert.throws(() => batch.filter([true]), /the filter mask has 1 entries for 4 rows/);
  assert.deepEqual(batch.take([3, 0, 0]).column("carrier").texts(), ["B6", "UA", "UA"]);
  assert.throws(() => batch.take([4]), /row 4 is out of range: the batch has 4 rows/);
});

test("an edit keeps rows and sets columns in place or after the others, as the host does", () => {
  const input = Batch.of([int64Column("a", [1, 2, 3]), textColumn("b", ["x", "y", null])]);
  const names = (batch: Batch) => batch.columns.map((column) => column.name);

  assert.deepEqual(Output.unchanged().apply(input), input);
  const mapped = Output.unchanged().set(int64Column("c", [7, 8, 9])).set(textColumn("a", ["1", "2", "3"])).apply(input);
  assert.deepEqual(names(mapped), ["a", "b", "c"]);
  assert.deepEqual(mapped.column("a").texts(), ["1", "2", "3"]);

  const filtered = Output.keepWhere([0, 1, 1]).set(boolColumn("d", [true, false])).apply(input);
  assert.deepEqual(names(filtered), ["a", "b", "d"]);
  assert.deepEqual(filtered.column("b").values(), ["y", null]);
  assert.deepEqual(Output.keep([2, 0]).apply(input).column("a").values(), [3n, 1n]);
  assert.equal(Output.keep([]).apply(input).columns.length, 2, "a filter that keeps nothing keeps the columns");
  assert.throws(() => Output.keep([1]).set(int64Column("c", [1, 2])).apply(input), /column `c` has 2 rows, but the output has 1/);

  const rows = Output.rows(Batch.of([int64Column("n", [3])])).set(int64Column("m", [4])).apply(input);
  assert.deepEqual(names(rows), ["n", "m"]);
  const none = Output.none().apply(input);
  assert.equal(none.numRows, 0);
  assert.equal(none.columns.length, 0);
  assert.deepEqual(Output.keep([1, 0]).raw, { tag: "edit", val: { rows: new Uint32Array([1, 0]), columns: [] } });
});

test("a batch refuses a duplicate or misfit column, and reads by row", () => {
  const batch = Batch.of([int64Column("a", [1, 2])]);
  assert.throws(() => batch.withColumn(int64Column("a", [1, 2])), /already has a column `a`/);
  assert.throws(() => batch.withColumn(int64Column("b", [1])), /column `b` has 1 rows, but the batch has 2/);
  assert.throws(() => Batch.of([int64Column("a", [1]), int64Column("b", [])]), /column `b` has 0 rows/);
  assert.throws(() => batch.column("z"), /no column `z`; the columns are: a/);
  const wider = batch.withColumn(textColumn("b", ["x", null]));
  assert.deepEqual([...wider.rows()].map((row) => [row.get("a"), row.get("b")]), [
    [1n, "x"],
    [2n, null],
  ]);
  assert.equal(Batch.empty().withColumn(int64Column("a", [7])).numRows, 1);
});

test("params are checked against the schema, with defaults filled in", () => {
  const schema = {
    type: "object",
    properties: { column: { type: "string", default: "arr_delay" }, min: { type: "integer" } },
    additionalProperties: false,
  };
  assert.deepEqual(parseParams("", schema), { column: "arr_delay" });
  assert.deepEqual(parseParams('{"min": 3}', schema), { column: "arr_delay", min: 3 });
  assert.throws(() => parseParams('{"colum": "x"}', schema), /unknown field `colum`, expected one of: column, min/);
  assert.throws(() => parseParams('{"min": 1.5}', schema), /invalid params: min: expected integer, got 1.5/);
  assert.throws(() => parseParams("[1]", schema), /expected a JSON object/);
  assert.throws(() => parseParams("{", schema), /invalid params: /);
  assert.throws(() => parseParams('{"x": 1}'), /unknown field `x`, there are no fields/);
  assert.deepEqual(parseParams('{"x": 1}', { type: "object" }), { x: 1 });
});

class Failing extends Plugin {
  static info = { name: "failing" };

  transform(batch: Batch): Batch {
    if (batch.numRows === 2) throw new PluginError("too many rows", 1);
    if (batch.numRows === 1) batch.column("missing");
    if (batch.numRows === 0) JSON.parse("{");
    return batch;
  }
}

test("the exports describe the plugin and turn what it throws into plugin errors", () => {
  const exports = exportPlugin(Failing);
  assert.deepEqual(exports.describe(), {
    name: "failing",
    version: "0.1.0",
    description: "",
    paramsSchema: undefined,
    buildsQuery: false,
    transforms: true,
    reads: undefined,
    stateless: false,
  });
  assert.throws(() => exports.transform({ numRows: 0, columns: [] }), {
    message: "`transform` was called before a successful `init`",
  });
  exports.init({ name: "demo", backend: "sqlite" }, "{}");
  assert.equal(exports.buildQuery(), undefined);
  const two = Batch.of([int64Column("a", [1, 2])]).raw;
  assert.throws(() => exports.transform(two), { message: "too many rows", row: 1 });
  const one = Batch.of([int64Column("a", [1])]).raw;
  assert.throws(() => exports.transform(one), { message: "no column `missing`; the columns are: a", row: undefined });
  assert.throws(() => exports.transform(Batch.empty().raw), (error: { message: string }) =>
    error.message.startsWith("SyntaxError: "),
  );
  assert.throws(() => exports.init({ name: "demo", backend: "sqlite" }, '{"x": 1}'), {
    message: "invalid params: unknown field `x`, there are no fields",
  });
  assert.throws(() => exports.finish(), { message: "`finish` was called before a successful `init`" });
});

interface Params {
  column: string;
}

/** Counts the rows it sees; reads one column, named by its params; merges its counts. */
class Counter extends Plugin<Params> implements Merge {
  static info = {
    name: "counter",
    reads: ["x"],
    stateless: true,
    paramsSchema: { type: "object", properties: { column: { type: "string", default: "x" } } },
  };

  rowsSeen = 0;

  reads(): string[] {
    return [this.params.column];
  }

  transform(batch: Batch): Output {
    this.rowsSeen += batch.numRows;
    return Output.keep([0]).set(int64Column("seen", [this.rowsSeen]));
  }

  finish(): Batch {
    return Batch.of([int64Column("rows", [this.rowsSeen])]);
  }

  partial(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.rowsSeen));
  }

  merge(partials: Uint8Array[]): void {
    for (const state of partials) this.rowsSeen += JSON.parse(new TextDecoder().decode(state));
  }
}

test("the exports declare and narrow reads, and pass edits and batches on", () => {
  const exports = exportPlugin(Counter);
  const info = exports.describe();
  assert.deepEqual([info.reads, info.stateless, info.transforms], [["x"], true, true]);
  assert.equal("merge" in exports, false, "world plugin has no merge");
  assert.deepEqual(exports.init({ name: "demo", backend: "sqlite" }, '{"column": "y"}'), ["y"]);
  const output = exports.transform(Batch.of([int64Column("y", [5, 6])]).raw);
  assert.equal(output.tag, "edit");
  assert.deepEqual(output.val.rows, new Uint32Array([0]));
  assert.deepEqual(new Batch({ numRows: 1, columns: output.val.columns }).column("seen").values(), [2n]);

  const passing = exportPlugin(class extends Plugin {
    transform(batch: Batch): Batch {
      return batch;
    }
  });
  assert.equal(passing.init({ name: "demo", backend: "sqlite" }, ""), undefined, "reads as described");
  const input = Batch.of([int64Column("a", [1])]).raw;
  assert.deepEqual(passing.transform(input), { tag: "rows", val: input });
});

test("an aggregate's instances merge their partial states into one", () => {
  const first = exportAggregate(Counter);
  const second = exportAggregate(Counter);
  assert.throws(() => first.merge.partial(), { message: "`partial` was called before a successful `init`" });
  for (const exports of [first, second]) exports.init({ name: "demo", backend: "sqlite" }, "");
  first.transform(Batch.of([int64Column("x", [1, 2, 3])]).raw);
  second.transform(Batch.of([int64Column("x", [4])]).raw);
  second.merge.merge([first.merge.partial()]);
  assert.deepEqual(new Batch(second.finish()!).column("rows").values(), [4n]);
  assert.throws(() => second.merge.merge([new Uint8Array([0x7b])]), (error: { message: string }) =>
    error.message.startsWith("SyntaxError: "),
  );
});
