"""An aggregate, as plugins/examples/delay-stats in Rust: collects a delay column per
group while consuming every batch, then outputs one row per group from finish: its
count, mean, median and 95th percentile (nearest rank), groups in key order. It reads
only its two columns, and it merges: several instances can each collect part of the
rows, and one combines their groups before finish."""

import json

from quarry_plugin import Batch, Output, Plugin, export_aggregate, float64_column, int64_column, text_column


def group_key(value):
    """A group key as text, the way the Rust example writes it; None has no group."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def nearest_rank(percent, n):
    """The index of the percent-th percentile of n sorted values: ceil(percent * n / 100) - 1."""
    return (percent * n + 99) // 100 - 1


class DelayStats(Plugin):
    name = "delay-stats-py"
    description = "Count, mean, p50 and p95 of a delay column per group (Python)"
    params_schema = {
        "type": "object",
        "properties": {
            "column": {"type": "string", "default": "arr_delay", "description": "The numeric column to summarize"},
            "group_by": {"type": "string", "default": "carrier", "description": "The column to group by"},
        },
        "additionalProperties": False,
    }

    def __init__(self, source, params):
        super().__init__(source, params)
        self.column = params.get("column", "arr_delay")
        self.group_by = params.get("group_by", "carrier")
        # This run reads the two columns its params name.
        self.reads = [self.column, self.group_by]
        self.groups = {}

    def transform(self, batch):
        values = batch.column(self.column).floats()
        keys = batch.column(self.group_by).values()
        for key, value in zip(keys, values):
            key = group_key(key)
            if key is not None and value is not None:
                self.groups.setdefault(key, []).append(value)
        # Everything comes out of finish.
        return Output.none()

    def partial(self):
        """The groups as JSON, {key: [values]}: Python writes each float exactly, -0.0, NaN
        and infinities included, and reads it back the same."""
        return json.dumps(self.groups).encode()

    def merge(self, partials):
        for state in partials:
            for key, values in json.loads(state).items():
                self.groups.setdefault(key, []).extend(values)

    def finish(self):
        keys, counts, means, p50s, p95s = [], [], [], [], []
        for key in sorted(self.groups):
            values = sorted(self.groups[key])
            n = len(values)
            total = 0.0
            for v in values:
                total += v
            keys.append(key)
            counts.append(n)
            means.append(total / n)
            p50s.append(values[nearest_rank(50, n)])
            p95s.append(values[nearest_rank(95, n)])
        return Batch.of([
            text_column(self.group_by, keys),
            int64_column("count", counts),
            float64_column("mean", means),
            float64_column("p50", p50s),
            float64_column("p95", p95s),
        ])


WitWorld, Merge = export_aggregate(DelayStats)
