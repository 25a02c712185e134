"""Quarry's Python SDK: write a plugin as a class, build it with componentize-py.

A plugin subclasses `Plugin` and overrides what it does (`transform`, `finish`,
`build_query`); `export(MyPlugin)` gives the `WitWorld` class componentize-py looks for:

    from quarry_plugin import Output, Plugin, export, float64_column

    class Km(Plugin):
        name = "km"
        description = "Adds distance_km to flights"
        reads = ["distance"]
        stateless = True

        def transform(self, batch):
            km = [None if m is None else m * 1.609344 for m in batch.column("distance").floats()]
            return Output.unchanged().set(float64_column("distance_km", km))

    WitWorld = export(Km)

`reads` names the columns `transform` reads: only those cross into the plugin.
`transform` returns an `Output`, an edit that the host applies to the whole input batch
(rows to keep, columns to set), or rows of its own (`Output.rows`, or a `Batch`). An
aggregate whose instances can each take part of the rows also defines `partial` and
`merge`, and is exported with `WitWorld, Merge = export_aggregate(MyAggregate)`.

Batches stay columnar: `Batch.column(name)` gives a `Column` whose `floats()`, `ints()`,
`texts()` and `values()` read the whole column into one list (None for nulls), which is
far cheaper in Python than a dict per row. `Batch.rows()` gives lightweight row views for
code that reads a few fields per row.

Errors: raise `PluginError(message, row=None)`; any other exception becomes a plugin
error carrying its type and message.
"""

import json
from typing import Any, Callable, Iterator, List, Optional, Tuple, TypeVar

from componentize_py_types import Err
from wit_world.imports import types

__all__ = [
    "Batch",
    "Column",
    "Output",
    "Plugin",
    "PluginError",
    "Row",
    "export",
    "export_aggregate",
    "float64_column",
    "int64_column",
    "text_column",
    "bool_column",
]


class PluginError(Exception):
    """A failure to report to the user; `row` is the batch row that caused it, if any."""

    def __init__(self, message: str, row: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.row = row


class Column:
    """One column of a batch: a name, a data type and one value or null per row."""

    def __init__(self, raw: types.Column):
        self.raw = raw

    @property
    def name(self) -> str:
        return self.raw.name

    @property
    def data_type(self) -> types.DataType:
        return self.raw.data_type

    def __len__(self) -> int:
        values = self.raw.values
        if isinstance(values, (types.Vector_Text, types.Vector_Bytes)):
            return len(values.value.offsets) - 1
        return len(values.value)

    def valid(self) -> List[bool]:
        """Whether each row holds a value (False for null)."""
        bits = self.raw.validity
        if bits is None:
            return [True] * len(self)
        return [bool(bits[i >> 3] >> (i & 7) & 1) for i in range(len(self))]

    def values(self) -> List[Any]:
        """Every row as a Python value: bool, int, float, str or bytes; None for null."""
        values = self.raw.values
        if isinstance(values, (types.Vector_Text, types.Vector_Bytes)):
            var = values.value
            offsets, data = var.offsets, var.data
            cells = [data[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
            if isinstance(values, types.Vector_Text):
                cells = [cell.decode("utf-8") for cell in cells]
        else:
            cells = values.value
        if self.raw.validity is None:
            return list(cells)
        return [cell if ok else None for cell, ok in zip(cells, self.valid())]

    def floats(self) -> List[Optional[float]]:
        """Every row of a numeric column as a float (int64 columns converted)."""
        values = self.raw.values
        if not isinstance(values, (types.Vector_Int64, types.Vector_Float64)):
            raise PluginError(f"column `{self.name}` is {type_name(self.data_type)}, expected a number")
        return [None if v is None else float(v) for v in self.values()]

    def ints(self) -> List[Optional[int]]:
        """Every row of an int64-stored column (int64, timestamp, date)."""
        if not isinstance(self.raw.values, types.Vector_Int64):
            raise PluginError(f"column `{self.name}` is {type_name(self.data_type)}, expected an integer")
        return self.values()

    def texts(self) -> List[Optional[str]]:
        """Every row of a text-stored column (text, uuid, decimal, json)."""
        if not isinstance(self.raw.values, types.Vector_Text):
            raise PluginError(f"column `{self.name}` is {type_name(self.data_type)}, expected text")
        return self.values()


class Row:
    """Row `index` of a batch, read by column name: `row["carrier"]`."""

    __slots__ = ("_batch", "_index")

    def __init__(self, batch: "Batch", index: int):
        self._batch = batch
        self._index = index

    def __getitem__(self, name: str) -> Any:
        return self._batch._cells(name)[self._index]


class Batch:
    """A slice of a result set: columns that each hold `num_rows` values."""

    def __init__(self, raw: types.Batch):
        self.raw = raw
        self._read: dict = {}

    @staticmethod
    def of(columns: List[types.Column]) -> "Batch":
        """A batch of built columns, which must all have the same number of rows."""
        lengths = {len(Column(c)) for c in columns}
        if len(lengths) > 1:
            raise PluginError(f"columns of different lengths: {sorted(lengths)}")
        return Batch(types.Batch(num_rows=lengths.pop() if lengths else 0, columns=list(columns)))

    @staticmethod
    def empty() -> "Batch":
        """No rows and no columns; returned from `transform`, it outputs nothing (`Output.none()`)."""
        return Batch(types.Batch(num_rows=0, columns=[]))

    @property
    def num_rows(self) -> int:
        return self.raw.num_rows

    @property
    def columns(self) -> List[Column]:
        return [Column(c) for c in self.raw.columns]

    def column(self, name: str) -> Column:
        for c in self.raw.columns:
            if c.name == name:
                return Column(c)
        names = ", ".join(c.name for c in self.raw.columns)
        raise PluginError(f"no column `{name}`; the columns are: {names}")

    def with_column(self, column: types.Column) -> "Batch":
        """This batch with `column` appended."""
        if any(c.name == column.name for c in self.raw.columns):
            raise PluginError(f"the batch already has a column `{column.name}`")
        if self.raw.columns and len(Column(column)) != self.num_rows:
            raise PluginError(
                f"column `{column.name}` has {len(Column(column))} rows, but the batch has {self.num_rows}"
            )
        return Batch.of(self.raw.columns + [column])

    def filter(self, keep: List[bool]) -> "Batch":
        """The rows whose entry in `keep` is true, in order."""
        if len(keep) != self.num_rows:
            raise PluginError(f"the filter mask has {len(keep)} entries for {self.num_rows} rows")
        return self.take([i for i, k in enumerate(keep) if k])

    def take(self, rows: List[int]) -> "Batch":
        """The rows at these indices, in this order (an index may repeat)."""
        for row in rows:
            if not 0 <= row < self.num_rows:
                raise PluginError(f"row {row} is out of range: the batch has {self.num_rows} rows")
        columns = []
        for c in self.raw.columns:
            values = Column(c).values()
            columns.append(build(c.name, c.data_type, [values[i] for i in rows]))
        return Batch(types.Batch(num_rows=len(rows), columns=columns))

    def rows(self) -> Iterator[Row]:
        """Every row, as a view that reads cells by column name."""
        return (Row(self, i) for i in range(self.num_rows))

    def _cells(self, name: str) -> List[Any]:
        cells = self._read.get(name)
        if cells is None:
            cells = self._read[name] = self.column(name).values()
        return cells


def validity(values: List[Any]) -> Optional[bytes]:
    """The Arrow validity bitmap of `values` (None marks a null), or None without nulls."""
    if all(v is not None for v in values):
        return None
    bits = bytearray((len(values) + 7) // 8)
    for i, v in enumerate(values):
        if v is not None:
            bits[i >> 3] |= 1 << (i & 7)
    return bytes(bits)


def build(name: str, data_type: types.DataType, values: List[Any]) -> types.Column:
    """A column of `data_type` from Python values (None for null)."""
    if data_type == types.DataType.BOOLEAN:
        vector = types.Vector_Boolean([bool(v) if v is not None else False for v in values])
    elif data_type == types.DataType.FLOAT64:
        vector = types.Vector_Float64([float(v) if v is not None else 0.0 for v in values])
    elif data_type in (types.DataType.INT64, types.DataType.TIMESTAMP, types.DataType.DATE):
        vector = types.Vector_Int64([int(v) if v is not None else 0 for v in values])
    else:
        chunks = [b"" if v is None else (v if isinstance(v, bytes) else str(v).encode("utf-8")) for v in values]
        offsets = [0]
        for chunk in chunks:
            offsets.append(offsets[-1] + len(chunk))
        var = types.VarData(offsets=offsets, data=b"".join(chunks))
        vector = types.Vector_Bytes(var) if data_type == types.DataType.BYTES else types.Vector_Text(var)
    return types.Column(name=name, data_type=data_type, validity=validity(values), values=vector)


def float64_column(name: str, values: List[Optional[float]]) -> types.Column:
    return build(name, types.DataType.FLOAT64, values)


def int64_column(name: str, values: List[Optional[int]]) -> types.Column:
    return build(name, types.DataType.INT64, values)


def text_column(name: str, values: List[Optional[str]]) -> types.Column:
    return build(name, types.DataType.TEXT, values)


def bool_column(name: str, values: List[Optional[bool]]) -> types.Column:
    return build(name, types.DataType.BOOLEAN, values)


def type_name(data_type: types.DataType) -> str:
    return data_type.name.lower()


class Output:
    """What `transform` returns for one batch: an edit of the input, or rows of its own.

    Most transforms edit their input: a map sets columns, a filter keeps some rows. An edit
    sends back only what it changes and the host applies it to the whole batch, columns the
    plugin did not read included:

        Output.unchanged().set(float64_column("gain", gain))   # a map
        Output.keep_where(late)                                 # a filter

    A transform that reshapes its input (a row per group, say) returns `Output.rows(batch)`,
    or the batch itself. `set` returns the output, for chaining.
    """

    def __init__(self, raw: types.Output):
        self.raw = raw

    @staticmethod
    def unchanged() -> "Output":
        """Every input row, every column as it came."""
        return Output(types.Output_Edit(types.Edit(rows=None, columns=[])))

    @staticmethod
    def keep(rows: List[int]) -> "Output":
        """The input rows at these indices, in this order; columns `set` then hold one value per kept row."""
        return Output(types.Output_Edit(types.Edit(rows=list(rows), columns=[])))

    @staticmethod
    def keep_where(mask: List[bool]) -> "Output":
        """The input rows whose entry in `mask` (one per input row) is true."""
        return Output.keep([i for i, keep in enumerate(mask) if keep])

    @staticmethod
    def none() -> "Output":
        """Nothing for this batch, neither rows nor columns: what an aggregate that answers
        from `finish` returns. (A filter that keeps no row returns `keep([])`, which keeps
        the input's columns.)"""
        return Output.rows(Batch.empty())

    @staticmethod
    def rows(batch: Batch) -> "Output":
        """These rows instead of the input's."""
        return Output(types.Output_Rows(types.Batch(num_rows=batch.num_rows, columns=list(batch.raw.columns))))

    def set(self, column: types.Column) -> "Output":
        """Outputs `column` in place of the input column of the same name, or after the
        others when there is none (in the batch of `Output.rows`, likewise)."""
        _set_column(self.raw.value.columns, column)
        return self

    def apply(self, input: Batch) -> Batch:
        """The batch the host makes of `input` with this output, for a plugin's own tests."""
        raw = self.raw
        # The rows: the output's own, or the input's that the edit keeps; then its columns.
        if isinstance(raw, types.Output_Rows):
            base = Batch(types.Batch(num_rows=raw.value.num_rows, columns=[]))
        elif raw.value.rows is None:
            base = input
        else:
            base = input.take(raw.value.rows)
        columns = list(base.raw.columns)
        for column in raw.value.columns:
            if len(Column(column)) != base.num_rows:
                raise PluginError(
                    f"column `{column.name}` has {len(Column(column))} rows, but the output has {base.num_rows}"
                )
            _set_column(columns, column)
        return Batch(types.Batch(num_rows=base.num_rows, columns=columns))


def _set_column(columns: List[types.Column], column: types.Column) -> None:
    """Puts `column` in place of the one of the same name in `columns`, or after them."""
    for i, existing in enumerate(columns):
        if existing.name == column.name:
            columns[i] = column
            return
    columns.append(column)


class Plugin:
    """A plugin: set the class attributes, override what the plugin does. One instance per run.

    An aggregate whose instances can each take part of the rows also defines
    `partial(self) -> bytes` (its state after its last batch, in any encoding: JSON, say)
    and `merge(self, partials: List[bytes]) -> None` (folds other instances' states into
    its own before `finish`), and is exported with `export_aggregate`.
    """

    name = "python-plugin"
    version = "0.1.0"
    description = ""
    #: JSON Schema of the params object (a dict), when the plugin takes params.
    params_schema: Optional[dict] = None
    #: The input columns `transform` reads; only these cross into the plugin, and the host
    #: keeps the others for the output. None: all of them. A plugin whose columns depend on
    #: its params sets `self.reads` in `__init__`, for the run.
    reads: Optional[List[str]] = None
    #: `transform` keeps no state from one batch to the next (a map, a filter), so the host
    #: may send batches through several instances at once.
    stateless = False

    def __init__(self, source: types.Source, params: dict):
        self.source = source
        self.params = params

    def build_query(self) -> Optional[types.Query]:
        """The query to run, or None when the user supplies it."""
        return None

    def transform(self, batch: Batch) -> "Output | Batch":
        """The rows to output for this batch: an edit of `batch` (see `Output`), or rows of
        the plugin's own (a returned `Batch` replaces the input's rows); by default the batch
        unchanged. `batch` holds the columns the plugin reads. `Output.none()` outputs nothing."""
        return Output.unchanged()

    def finish(self) -> Optional[Batch]:
        """Trailing rows (aggregates) after the last batch, if any."""
        return None


def _error(e: BaseException) -> Err:
    if isinstance(e, PluginError):
        return Err(types.PluginError(message=e.message, row=e.row))
    return Err(types.PluginError(message=f"{type(e).__name__}: {e}", row=None))


T = TypeVar("T")


class _Run:
    """The instance of the run, made by a successful `init`, that the exports call."""

    def __init__(self, plugin: type):
        self.plugin = plugin
        self.instance: Optional[Plugin] = None

    def call(self, export: str, body: Callable[[Plugin], T]) -> T:
        """`body` applied to the instance; what it raises becomes the export's plugin-error."""
        try:
            if self.instance is None:
                raise PluginError(f"`{export}` was called before a successful `init`")
            return body(self.instance)
        except Exception as e:
            raise _error(e)


def export(plugin: type) -> type:
    """The `WitWorld` class that componentize-py exports for world `plugin`, running
    `plugin`: `WitWorld = export(MyPlugin)`."""
    return _world(_Run(plugin))


def export_aggregate(plugin: type) -> Tuple[type, type]:
    """The `WitWorld` and `Merge` classes that componentize-py exports for world
    `aggregate` (build with `-w aggregate`), running `plugin`, which defines `partial` and
    `merge`: `WitWorld, Merge = export_aggregate(MyAggregate)`."""
    for method in ("partial", "merge"):
        if not callable(getattr(plugin, method, None)):
            raise TypeError(f"{plugin.__name__} has no `{method}` method: an aggregate needs `partial` and `merge`")
    run = _Run(plugin)

    class Merge:
        def partial(self) -> bytes:
            return run.call("partial", lambda instance: bytes(instance.partial()))

        def merge(self, partials: List[bytes]) -> None:
            run.call("merge", lambda instance: instance.merge(partials))

    return _world(run), Merge


def _world(run: _Run) -> type:
    """The plugin world's exports, calling `run`'s instance."""
    plugin = run.plugin
    overrides = lambda method: getattr(plugin, method) is not getattr(Plugin, method)

    class WitWorld:
        def describe(self) -> types.PluginInfo:
            schema = plugin.params_schema
            return types.PluginInfo(
                name=plugin.name,
                version=plugin.version,
                description=plugin.description,
                params_schema=None if schema is None else json.dumps(schema),
                builds_query=overrides("build_query"),
                transforms=overrides("transform") or overrides("finish"),
                reads=None if plugin.reads is None else list(plugin.reads),
                stateless=plugin.stateless,
            )

        def init(self, source: types.Source, params: str) -> Optional[List[str]]:
            # A failed init must not leave the previous run's instance answering.
            run.instance = None
            try:
                instance = plugin(source, json.loads(params or "{}"))
                # The class's reads, or those the instance set for this run.
                reads = None if instance.reads is None else list(instance.reads)
            except Exception as e:
                raise _error(e)
            run.instance = instance
            return reads

        def build_query(self) -> Optional[types.Query]:
            return run.call("build-query", lambda instance: instance.build_query())

        def transform(self, input: types.Batch) -> types.Output:
            return run.call("transform", lambda instance: _output(instance.transform(Batch(input))))

        def finish(self) -> Optional[types.Batch]:
            return run.call("finish", lambda instance: _batch(instance.finish()))

    return WitWorld


def _output(returned: "Output | Batch") -> types.Output:
    """The contract's output for what `transform` returned: a batch replaces the input's rows."""
    return returned.raw if isinstance(returned, Output) else types.Output_Rows(returned.raw)


def _batch(returned: Optional[Batch]) -> Optional[types.Batch]:
    """The contract's batch for what `finish` returned."""
    return None if returned is None else returned.raw
