//! {{name}}: a map that adds `gain`, the minutes a flight made up in the air (departure
//! delay minus arrival delay), and keeps every input column. It reads only the two delays
//! and sends back only `gain`: the host keeps the other columns.

use quarry_plugin::{Batch, Error, Float64Builder, Info, NoParams, Output, Plugin, Source};

struct Gain;

impl Plugin for Gain {
    type Params = NoParams;

    fn describe() -> Info {
        quarry_plugin::plugin_info!()
            .transforms()
            .reads(["dep_delay", "arr_delay"])
            .stateless()
    }

    fn init(_source: &Source, _params: NoParams) -> Result<Self, Error> {
        Ok(Gain)
    }

    fn transform(&mut self, input: Batch) -> Result<Output, Error> {
        // Integers in SQLite, maybe floats elsewhere: read both as f64.
        let dep = input.column("dep_delay")?.expect_f64()?;
        let arr = input.column("arr_delay")?.expect_f64()?;
        let mut gain = Float64Builder::new("gain");
        gain.extend(dep.f64s().zip(arr.f64s()).map(|(dep, arr)| Some(dep? - arr?)));
        Ok(Output::unchanged().set(gain.finish()))
    }
}

quarry_plugin::export!(Gain);

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_plugin::Int64Builder;

    fn delays(dep: &[Option<i64>], arr: &[Option<i64>]) -> Batch {
        let mut dep_delay = Int64Builder::new("dep_delay");
        dep_delay.extend(dep.iter().copied());
        let mut arr_delay = Int64Builder::new("arr_delay");
        arr_delay.extend(arr.iter().copied());
        Batch::new(vec![dep_delay.finish(), arr_delay.finish()]).unwrap()
    }

    #[test]
    fn gain_is_departure_minus_arrival_delay_null_when_either_is() {
        let input = delays(&[Some(10), None, Some(5)], &[Some(4), Some(1), None]);
        // What the host does with the plugin's output: the input, with `gain` added.
        let output = Gain.transform(input.clone()).unwrap().apply(input).unwrap();
        let names: Vec<&str> = output.columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, ["dep_delay", "arr_delay", "gain"]);
        let gain: Vec<_> = output.column("gain").unwrap().f64s().collect();
        assert_eq!(gain, [Some(6.0), None, None]);
    }

    #[test]
    fn a_batch_without_the_delays_fails_naming_the_missing_column() {
        let mut dep_delay = Int64Builder::new("dep_delay");
        dep_delay.extend([Some(1)]);
        let input = Batch::new(vec![dep_delay.finish()]).unwrap();
        let error = Gain.transform(input).unwrap_err().to_string();
        assert!(error.contains("no column `arr_delay`"), "{error}");
    }
}
