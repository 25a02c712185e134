"""Unit tests of app.py, run natively with `python3 -m unittest` after ./build.sh, which
writes the contract's Python bindings (that the SDK imports) into bindings/."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bindings"))

from wit_world.imports import types  # noqa: E402

from app import Gain, WitWorld  # noqa: E402
from quarry_plugin import Batch, PluginError, int64_column  # noqa: E402

DEMO = types.Source(name="demo", backend=types.Backend.SQLITE)


class GainTest(unittest.TestCase):
    def test_gain_is_departure_minus_arrival_delay_null_when_either_is(self):
        batch = Batch.of([int64_column("dep_delay", [10, None, 5]), int64_column("arr_delay", [4, 1, None])])
        # apply() makes of the returned edit the batch the host outputs.
        output = Gain(DEMO, {}).transform(batch).apply(batch)
        self.assertEqual([c.name for c in output.columns], ["dep_delay", "arr_delay", "gain"])
        self.assertEqual(output.column("gain").values(), [6.0, None, None])

    def test_only_the_two_delays_cross_into_the_plugin_which_keeps_no_state(self):
        info = WitWorld().describe()
        self.assertEqual(info.reads, ["dep_delay", "arr_delay"])
        self.assertTrue(info.stateless)

    def test_a_batch_without_the_delays_fails_naming_the_missing_column(self):
        batch = Batch.of([int64_column("dep_delay", [1])])
        with self.assertRaisesRegex(PluginError, "no column `arr_delay`; the columns are: dep_delay"):
            Gain(DEMO, {}).transform(batch)


if __name__ == "__main__":
    unittest.main()
