// Unit tests of app.ts, run by Node.js outside the component: `npm test`.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Batch, int64Column } from "./sdk/quarry-plugin.js";
import { Gain, describe } from "./app.js";

const demo = { name: "demo", backend: "sqlite" } as const;

test("gain is departure delay minus arrival delay, null when either is", () => {
  const input = Batch.of([int64Column("dep_delay", [10, null, 5]), int64Column("arr_delay", [4, 1, null])]);
  // apply() makes of the returned edit the batch the host outputs.
  const output = new Gain(demo, {}).transform(input).apply(input);
  assert.deepEqual(
    output.columns.map((column) => column.name),
    ["dep_delay", "arr_delay", "gain"],
  );
  assert.deepEqual(output.column("gain").values(), [6, null, null]);
});

test("only the two delays cross into the plugin, which keeps no state", () => {
  const info = describe();
  assert.deepEqual(info.reads, ["dep_delay", "arr_delay"]);
  assert.equal(info.stateless, true);
});

test("a batch without the delays fails naming the missing column", () => {
  const input = Batch.of([int64Column("dep_delay", [1])]);
  assert.throws(() => new Gain(demo, {}).transform(input), /no column `arr_delay`; the columns are: dep_delay/);
});
