// A map, as plugins/examples/units in Rust: appends distance_km, air_time_h and speed_kmh
// to each batch of flights, leaving the input columns as they are. It reads two columns
// and sends back only the three it adds; the host keeps the rest of each batch.

import { Batch, Output, Plugin, exportPlugin, float64Column } from "../../sdk/quarry-plugin.js";

const KM_PER_MILE = 1.609344;

export class Units extends Plugin {
  static info = {
    name: "units-ts",
    description: "Adds distance_km, air_time_h and speed_kmh to flights (TypeScript)",
    reads: ["distance", "air_time"],
    stateless: true,
  };

  transform(batch: Batch): Output {
    // Integers in SQLite, maybe floats elsewhere: floats() reads both.
    const distance = batch.column("distance");
    const miles = distance.floats();
    const airTime = batch.column("air_time");
    const minutes = airTime.floats();
    const hasMiles = distance.valid();
    const hasMinutes = airTime.valid();

    const n = batch.numRows;
    const km = new Float64Array(n);
    const hours = new Float64Array(n);
    const speed = new Float64Array(n);
    const hasSpeed = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      km[i] = miles[i] * KM_PER_MILE;
      hours[i] = minutes[i] / 60;
      // Null when either input is null or the air time is zero.
      if (hasMiles[i] && hasMinutes[i] && hours[i] !== 0) {
        speed[i] = km[i] / hours[i];
        hasSpeed[i] = 1;
      }
    }

    return Output.unchanged()
      .set(float64Column("distance_km", km, hasMiles))
      .set(float64Column("air_time_h", hours, hasMinutes))
      .set(float64Column("speed_kmh", speed, hasSpeed));
  }
}

export const { describe, init, buildQuery, transform, finish } = exportPlugin(Units);
