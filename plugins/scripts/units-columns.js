// units.js by columns: transformColumns gets each batch as one object of column arrays
// ({distance: [...], air_time: [...], ...}) instead of an object per row. A column
// becomes an array only when the script reads it, and only the columns it adds or
// changes go back: the others stay as they came, untouched.
// Try it with: SELECT * FROM flights LIMIT 100
const KM_PER_MILE = 1.609344;

// The columns this script reads: only these are sent to it (optional).
const reads = ["distance", "air_time"];

// Each batch is converted on its own, nothing is kept between them: a run may read
// several partitions at once, each through its own copy of this script (optional).
const stateless = true;

function transformColumns(columns, length) {
  const { distance, air_time } = columns;
  const km = new Array(length);
  const hours = new Array(length);
  const speed = new Array(length);
  for (let i = 0; i < length; i++) {
    km[i] = distance[i] == null ? null : distance[i] * KM_PER_MILE;
    hours[i] = air_time[i] == null ? null : air_time[i] / 60;
    speed[i] = km[i] != null && hours[i] ? km[i] / hours[i] : null;
  }
  columns.distance_km = km;
  columns.air_time_h = hours;
  columns.speed_kmh = speed;
  // Returning nothing keeps the (changed) columns.
}
