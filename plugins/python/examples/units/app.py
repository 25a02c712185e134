"""A map, as plugins/examples/units in Rust: appends distance_km, air_time_h and
speed_kmh to each batch of flights, leaving the input columns as they are. It reads two
columns and sends back only the three it adds; the host keeps the rest of each batch."""

from quarry_plugin import Output, Plugin, export, float64_column

KM_PER_MILE = 1.609344


class Units(Plugin):
    name = "units-py"
    description = "Adds distance_km, air_time_h and speed_kmh to flights (Python)"
    reads = ["distance", "air_time"]
    stateless = True

    def transform(self, batch):
        # Integers in SQLite, maybe floats elsewhere: read both as floats.
        km = [None if miles is None else miles * KM_PER_MILE for miles in batch.column("distance").floats()]
        hours = [None if minutes is None else minutes / 60.0 for minutes in batch.column("air_time").floats()]
        speed = [d / h if d is not None and h else None for d, h in zip(km, hours)]
        return (
            Output.unchanged()
            .set(float64_column("distance_km", km))
            .set(float64_column("air_time_h", hours))
            .set(float64_column("speed_kmh", speed))
        )


WitWorld = export(Units)
