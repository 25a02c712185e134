//! Test fixture: `describe` never returns, for the host's upload validation, which must
//! give up on it rather than hang.

use std::hint::black_box;

use quarry_plugin::{Error, Info, NoParams, Plugin, Source};

struct DescribeLoop;

impl Plugin for DescribeLoop {
    type Params = NoParams;

    fn describe() -> Info {
        let mut counter = 0u64;
        loop {
            counter = black_box(counter.wrapping_add(1));
        }
    }

    fn init(_source: &Source, _params: NoParams) -> Result<Self, Error> {
        Ok(DescribeLoop)
    }
}

quarry_plugin::export!(DescribeLoop);
