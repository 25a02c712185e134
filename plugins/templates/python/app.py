"""{{name}}: a map that adds `gain`, the minutes a flight made up in the air (departure
delay minus arrival delay), and keeps every input column. It reads only the two delays
and sends back only the column it adds; the host keeps the rest of each batch."""

from quarry_plugin import Output, Plugin, export, float64_column


class Gain(Plugin):
    name = "{{name}}"
    description = "Adds gain: departure delay minus arrival delay, in minutes"
    reads = ["dep_delay", "arr_delay"]
    stateless = True

    def transform(self, batch):
        # floats() reads integer and float columns alike, None for null.
        dep = batch.column("dep_delay").floats()
        arr = batch.column("arr_delay").floats()
        gain = [None if d is None or a is None else d - a for d, a in zip(dep, arr)]
        return Output.unchanged().set(float64_column("gain", gain))


WitWorld = export(Gain)
