"""{{name}}: a map that adds `gain`, the minutes a flight made up in the air (departure
delay minus arrival delay), and keeps every input column."""

from quarry_plugin import Plugin, export, float64_column


class Gain(Plugin):
    name = "{{name}}"
    description = "Adds gain: departure delay minus arrival delay, in minutes"

    def transform(self, batch):
        # floats() reads integer and float columns alike, None for null.
        dep = batch.column("dep_delay").floats()
        arr = batch.column("arr_delay").floats()
        gain = [None if d is None or a is None else d - a for d, a in zip(dep, arr)]
        return batch.with_column(float64_column("gain", gain))


WitWorld = export(Gain)
