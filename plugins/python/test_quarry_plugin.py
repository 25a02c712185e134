"""Unit tests of the SDK, run natively (scripts/python-plugins.sh runs them) with the
contract's Python bindings on the path: `componentize-py -d plugins/wit/v0.2 -w plugin
bindings BINDINGS`, then `PYTHONPATH=BINDINGS python3 -m unittest discover -s plugins/python`."""

import json
import unittest

from componentize_py_types import Err
from wit_world.imports import types

from quarry_plugin import (
    Batch,
    Output,
    Plugin,
    PluginError,
    bool_column,
    export,
    export_aggregate,
    int64_column,
    text_column,
)

DEMO = types.Source(name="demo", backend=types.Backend.SQLITE)


def names(batch):
    return [column.name for column in batch.columns]


class OutputTest(unittest.TestCase):
    def setUp(self):
        self.input = Batch.of([int64_column("a", [1, 2, 3]), text_column("b", ["x", "y", None])])

    def test_an_edit_sets_columns_in_place_or_after_the_others(self):
        self.assertEqual(Output.unchanged().apply(self.input).raw, self.input.raw)
        mapped = Output.unchanged().set(int64_column("c", [7, 8, 9])).set(text_column("a", ["1", "2", "3"]))
        output = mapped.apply(self.input)
        self.assertEqual(names(output), ["a", "b", "c"])
        self.assertEqual(output.column("a").texts(), ["1", "2", "3"])

    def test_an_edit_keeps_rows_in_the_order_asked(self):
        filtered = Output.keep_where([False, True, True]).set(bool_column("d", [True, None])).apply(self.input)
        self.assertEqual(names(filtered), ["a", "b", "d"])
        self.assertEqual(filtered.column("b").values(), ["y", None])
        self.assertEqual(Output.keep([2, 0]).apply(self.input).column("a").values(), [3, 1])
        self.assertEqual(names(Output.keep([]).apply(self.input)), ["a", "b"], "no rows, every column")
        with self.assertRaisesRegex(PluginError, "column `c` has 2 rows, but the output has 1"):
            Output.keep([1]).set(int64_column("c", [1, 2])).apply(self.input)
        with self.assertRaisesRegex(PluginError, "row 3 is out of range: the batch has 3 rows"):
            Output.keep([3]).apply(self.input)

    def test_rows_replace_the_input_and_none_outputs_nothing(self):
        rows = Output.rows(Batch.of([int64_column("n", [3])])).set(int64_column("m", [4])).apply(self.input)
        self.assertEqual(names(rows), ["n", "m"])
        none = Output.none().apply(self.input)
        self.assertEqual((none.num_rows, names(none)), (0, []))


class Counter(Plugin):
    """Counts the rows it sees; reads one column, named by its params; merges its counts."""

    name = "counter"
    reads = ["x"]
    stateless = True

    def __init__(self, source, params):
        super().__init__(source, params)
        if "column" in params:
            self.reads = [params["column"]]
        self.seen = 0

    def transform(self, batch):
        if batch.num_rows == 0:
            raise PluginError("empty batch", row=0)
        self.seen += batch.num_rows
        return Output.keep([0]).set(int64_column("seen", [self.seen]))

    def finish(self):
        return Batch.of([int64_column("rows", [self.seen])])

    def partial(self):
        return json.dumps(self.seen).encode()

    def merge(self, partials):
        self.seen += sum(json.loads(state) for state in partials)


class ExportTest(unittest.TestCase):
    def test_describe_declares_reads_and_stateless(self):
        info = export(Counter)().describe()
        self.assertEqual((info.name, info.reads, info.stateless, info.transforms), ("counter", ["x"], True, True))
        default = export(Plugin)().describe()
        self.assertEqual((default.reads, default.stateless, default.transforms), (None, False, False))

    def test_init_narrows_reads_per_run_and_transform_passes_edits_and_batches_on(self):
        world = export(Counter)()
        self.assertEqual(world.init(DEMO, '{"column": "y"}'), ["y"])
        self.assertEqual(world.init(DEMO, ""), ["x"], "the class's reads")
        output = world.transform(Batch.of([int64_column("x", [5, 6])]).raw)
        self.assertIsInstance(output, types.Output_Edit)
        self.assertEqual(output.value.rows, [0])
        self.assertEqual(Batch(types.Batch(num_rows=1, columns=output.value.columns)).column("seen").values(), [2])

        class Passing(Plugin):
            def transform(self, batch):
                return batch

        passing = export(Passing)()
        self.assertIsNone(passing.init(DEMO, "{}"))
        batch = Batch.of([int64_column("a", [1])]).raw
        self.assertEqual(passing.transform(batch), types.Output_Rows(batch))

    def test_errors_become_plugin_errors_and_need_a_successful_init(self):
        world = export(Counter)()
        with self.assertRaises(Err) as caught:
            world.transform(Batch.empty().raw)
        self.assertEqual(caught.exception.value.message, "`transform` was called before a successful `init`")
        world.init(DEMO, "{}")
        with self.assertRaises(Err) as caught:
            world.transform(Batch.empty().raw)
        self.assertEqual((caught.exception.value.message, caught.exception.value.row), ("empty batch", 0))
        with self.assertRaises(Err) as caught:
            world.init(DEMO, "{")
        self.assertTrue(caught.exception.value.message.startswith("JSONDecodeError: "))
        with self.assertRaises(Err):
            world.finish()

    def test_an_aggregate_merges_partial_states_into_one_instance(self):
        worlds, merges = zip(*(export_aggregate(Counter) for _ in range(2)))
        first, second = (world() for world in worlds)
        with self.assertRaises(Err):
            merges[0]().partial()
        for world in (first, second):
            world.init(DEMO, "{}")
        first.transform(Batch.of([int64_column("x", [1, 2, 3])]).raw)
        second.transform(Batch.of([int64_column("x", [4])]).raw)
        merges[1]().merge([merges[0]().partial()])
        self.assertEqual(Batch(second.finish()).column("rows").values(), [4])
        with self.assertRaisesRegex(TypeError, "Plugin has no `partial` method"):
            export_aggregate(Plugin)


if __name__ == "__main__":
    unittest.main()
