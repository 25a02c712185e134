// Keeps the flights that arrived more than an hour late, with the delay in hours.
// Try it with: SELECT carrier, flight, origin, dest, arr_delay FROM flights LIMIT 5000
function transform(rows) {
  return rows
    .filter((row) => row.arr_delay > 60)
    .map((row) => ({ ...row, delay_h: row.arr_delay / 60 }));
}
