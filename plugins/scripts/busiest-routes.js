// The busiest routes from one airport, with the share of flights that left late.
// Params: {"origin": "JFK", "top": 10}. The query is built here, with a bind value.
function buildQuery(source, params) {
  return {
    text: "SELECT dest, dep_delay FROM flights WHERE origin = ?",
    params: [params.origin ?? "JFK"],
  };
}

const routes = new Map();

function transform(rows) {
  for (const { dest, dep_delay } of rows) {
    const route = routes.get(dest) ?? { flights: 0, late: 0 };
    route.flights += 1;
    if (dep_delay > 15) route.late += 1;
    routes.set(dest, route);
  }
  return [];
}

function finish() {
  return [...routes]
    .map(([dest, r]) => ({ dest, flights: BigInt(r.flights), late_share: r.late / r.flights }))
    .sort((a, b) => Number(b.flights - a.flights) || (a.dest < b.dest ? -1 : 1))
    .slice(0, params.top ?? 10);
}
