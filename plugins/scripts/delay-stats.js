// Count, mean, median and 95th percentile of a delay column per group, as the Rust
// example plugins/examples/delay-stats does. Params: {"column": "arr_delay", "group_by": "carrier"}.
// Try it with: SELECT carrier, arr_delay FROM flights
const column = params.column ?? "arr_delay";
const groupBy = params.group_by ?? "carrier";
const groups = new Map();

function transform(rows) {
  for (const row of rows) {
    const key = row[groupBy];
    const value = row[column];
    if (key == null || value == null) continue;
    const values = groups.get(String(key));
    if (values) values.push(value);
    else groups.set(String(key), [value]);
  }
  return []; // everything comes out of finish()
}

// The index of the percent-th percentile of n sorted values (nearest rank).
const nearestRank = (percent, n) => Math.ceil((percent * n) / 100) - 1;

function finish() {
  const keys = [...groups.keys()].sort();
  log(`${keys.length} groups`);
  return keys.map((key) => {
    const values = groups.get(key).sort((a, b) => a - b);
    let total = 0;
    for (const v of values) total += v;
    return {
      [groupBy]: key,
      count: BigInt(values.length), // a BigInt makes an int64 column
      mean: total / values.length,
      p50: values[nearestRank(50, values.length)],
      p95: values[nearestRank(95, values.length)],
    };
  });
}
