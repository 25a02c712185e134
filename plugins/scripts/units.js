// Adds distance in km, air time in hours and speed in km/h to flights, as the Rust
// example plugins/examples/units does. Try it with: SELECT * FROM flights LIMIT 100
const KM_PER_MILE = 1.609344;

// The columns this script reads: only these are sent to it, and rows changed in place
// keep the others as they came (optional).
const reads = ["distance", "air_time"];

// Each batch is converted on its own, nothing is kept between them: a run may read
// several partitions at once, each through its own copy of this script (optional).
const stateless = true;

function transform(rows) {
  for (const row of rows) {
    row.distance_km = row.distance == null ? null : row.distance * KM_PER_MILE;
    row.air_time_h = row.air_time == null ? null : row.air_time / 60;
    row.speed_kmh = row.distance_km != null && row.air_time_h ? row.distance_km / row.air_time_h : null;
  }
  // Returning nothing keeps the (changed) rows.
}
