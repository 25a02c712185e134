//! A map: appends `distance_km`, `air_time_h` and `speed_kmh` to each batch of flights,
//! leaving the input columns as they are. It reads two columns and sends back only the
//! three it adds; the host keeps the rest of each batch.

use quarry_plugin::{Batch, Error, Float64Builder, Info, NoParams, Output, Plugin, Source};

const KM_PER_MILE: f64 = 1.609344;

struct Units;

impl Plugin for Units {
    type Params = NoParams;

    fn describe() -> Info {
        quarry_plugin::plugin_info!()
            .transforms()
            .reads(["distance", "air_time"])
            .stateless()
    }

    fn init(_source: &Source, _params: NoParams) -> Result<Self, Error> {
        Ok(Units)
    }

    fn transform(&mut self, input: Batch) -> Result<Output, Error> {
        // Integers in SQLite, maybe floats elsewhere: read both as f64.
        let distance = input.column("distance")?.expect_f64()?;
        let air_time = input.column("air_time")?.expect_f64()?;

        let mut distance_km = Float64Builder::new("distance_km");
        let mut air_time_h = Float64Builder::new("air_time_h");
        let mut speed_kmh = Float64Builder::new("speed_kmh");
        for column in [&mut distance_km, &mut air_time_h, &mut speed_kmh] {
            column.reserve(input.num_rows());
        }
        for (miles, minutes) in distance.f64s().zip(air_time.f64s()) {
            let converted = convert(miles, minutes);
            distance_km.push(converted.distance_km);
            air_time_h.push(converted.air_time_h);
            speed_kmh.push(converted.speed_kmh);
        }

        Ok(Output::unchanged()
            .set(distance_km.finish())
            .set(air_time_h.finish())
            .set(speed_kmh.finish()))
    }
}

/// One row's new values.
#[derive(Debug, PartialEq)]
struct Converted {
    distance_km: Option<f64>,
    air_time_h: Option<f64>,
    /// Null when either input is null or the air time is zero.
    speed_kmh: Option<f64>,
}

fn convert(miles: Option<f64>, minutes: Option<f64>) -> Converted {
    let distance_km = miles.map(|miles| miles * KM_PER_MILE);
    let air_time_h = minutes.map(|minutes| minutes / 60.0);
    let speed_kmh = match (distance_km, air_time_h) {
        (Some(km), Some(hours)) if hours != 0.0 => Some(km / hours),
        _ => None,
    };
    Converted {
        distance_km,
        air_time_h,
        speed_kmh,
    }
}

quarry_plugin::export!(Units);

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_plugin::Int64Builder;

    #[test]
    fn converts_a_row() {
        // EWR to IAH: 1400 miles in 227 minutes.
        let converted = convert(Some(1400.0), Some(227.0));
        assert_eq!(converted.distance_km, Some(1400.0 * 1.609344));
        assert_eq!(converted.air_time_h, Some(227.0 / 60.0));
        assert_eq!(
            converted.speed_kmh,
            Some((1400.0 * 1.609344) / (227.0 / 60.0))
        );
    }

    #[test]
    fn missing_or_zero_air_time_has_no_speed() {
        let cancelled = convert(Some(1400.0), None);
        assert_eq!((cancelled.air_time_h, cancelled.speed_kmh), (None, None));
        assert_eq!(cancelled.distance_km, Some(1400.0 * 1.609344));
        let instant = convert(Some(10.0), Some(0.0));
        assert_eq!((instant.air_time_h, instant.speed_kmh), (Some(0.0), None));
    }

    #[test]
    fn appends_three_columns_after_the_input() {
        let mut distance = Int64Builder::new("distance");
        distance.extend([Some(100), Some(200)]);
        let mut air_time = Int64Builder::new("air_time");
        air_time.extend([Some(30), None]);
        let input = Batch::new(vec![distance.finish(), air_time.finish()]).unwrap();

        let output = Units
            .transform(input.clone())
            .unwrap()
            .apply(input)
            .unwrap();
        let names: Vec<&str> = output.columns().iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "distance",
                "air_time",
                "distance_km",
                "air_time_h",
                "speed_kmh"
            ]
        );
        let speed: Vec<_> = output.column("speed_kmh").unwrap().f64s().collect();
        assert_eq!(speed, [Some(100.0 * 1.609344 / 0.5), None]);
    }
}
