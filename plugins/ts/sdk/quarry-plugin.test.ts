// Unit tests of the SDK, run by Node.js outside a component (scripts/ts-plugins.sh runs
// them): node --import ./sdk/test-host.mjs --test <compiled>/sdk/quarry-plugin.test.js

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  Batch,
  Plugin,
  PluginError,
  boolColumn,
  column,
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
