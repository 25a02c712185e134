//! Test fixture: a transform that returns every batch unchanged, by not overriding
//! `Plugin::transform`. The host's tests use it to check batches survive the round trip.

use quarry_plugin::{Error, Info, NoParams, Plugin, Source};

struct Identity;

impl Plugin for Identity {
    type Params = NoParams;

    fn describe() -> Info {
        quarry_plugin::plugin_info!().transforms()
    }

    fn init(_source: &Source, _params: NoParams) -> Result<Self, Error> {
        Ok(Identity)
    }
}

quarry_plugin::export!(Identity);
