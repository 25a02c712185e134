// {{name}}: a map that adds `gain`, the minutes a flight made up in the air (departure
// delay minus arrival delay), and keeps every input column. It reads only the two delays
// and sends back only the column it adds; the host keeps the rest of each batch.

import { Batch, Output, Plugin, exportPlugin, float64Column } from "./sdk/quarry-plugin.js";

export class Gain extends Plugin {
  static info = {
    name: "{{name}}",
    description: "Adds gain: departure delay minus arrival delay, in minutes",
    reads: ["dep_delay", "arr_delay"],
    stateless: true,
  };

  transform(batch: Batch): Output {
    // floats() reads integer and float columns alike; valid() says which rows are null.
    const dep = batch.column("dep_delay");
    const arr = batch.column("arr_delay");
    const depDelay = dep.floats();
    const arrDelay = arr.floats();
    const hasDep = dep.valid();
    const hasArr = arr.valid();

    const n = batch.numRows;
    const gain = new Float64Array(n);
    const hasGain = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      gain[i] = depDelay[i] - arrDelay[i];
      hasGain[i] = hasDep[i] & hasArr[i];
    }
    return Output.unchanged().set(float64Column("gain", gain, hasGain));
  }
}

export const { describe, init, buildQuery, transform, finish } = exportPlugin(Gain);
