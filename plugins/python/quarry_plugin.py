"""Quarry's Python SDK: write a plugin as a class, build it with componentize-py.

A plugin subclasses `Plugin` and overrides what it does (`transform`, `finish`,
`build_query`); `export(MyPlugin)` gives the `WitWorld` class componentize-py looks for:

    from quarry_plugin import Plugin, export

    class Units(Plugin):
        name = "units-py"
        description = "Adds distance_km to flights"

        def transform(self, batch):
            km = [None if m is None else m * 1.609344 for m in batch.column("distance").floats()]
            return batch.with_column(float64_column("distance_km", km))

    WitWorld = export(Units)

Batches stay columnar: `Batch.column(name)` gives a `Column` whose `floats()`, `ints()`,
`texts()` and `values()` read the whole column into one list (None for nulls), which is
far cheaper in Python than a dict per row. `Batch.rows()` gives lightweight row views for
code that reads a few fields per row.

Errors: raise `PluginError(message, row=None)`; any other exception becomes a plugin
error carrying its type and message.
"""

import json
from typing import Any, Iterator, List, Optional

from componentize_py_types import Err
from wit_world.imports import types

__all__ = [
    "Batch",
    "Column",
    "Plugin",
    "PluginError",
    "Row",
    "export",
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
        rows = [i for i, k in enumerate(keep) if k]
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


class Plugin:
    """A plugin: set the class attributes, override what the plugin does."""

    name = "python-plugin"
    version = "0.1.0"
    description = ""
    #: JSON Schema of the params object (a dict), when the plugin takes params.
    params_schema: Optional[dict] = None

    def __init__(self, source: types.Source, params: dict):
        self.source = source
        self.params = params

    def build_query(self) -> Optional[types.Query]:
        """The query to run, or None when the user supplies it."""
        return None

    def transform(self, batch: Batch) -> Batch:
        """The rows to output for this batch."""
        return batch

    def finish(self) -> Optional[Batch]:
        """Trailing rows (aggregates) after the last batch, if any."""
        return None


def _error(e: BaseException) -> Err:
    if isinstance(e, PluginError):
        return Err(types.PluginError(message=e.message, row=e.row))
    return Err(types.PluginError(message=f"{type(e).__name__}: {e}", row=None))


def export(plugin: type) -> type:
    """The `WitWorld` class that componentize-py exports, running `plugin`."""

    overrides = lambda method: getattr(plugin, method) is not getattr(Plugin, method)

    class WitWorld:
        instance: Optional[Plugin] = None

        def describe(self) -> types.PluginInfo:
            schema = plugin.params_schema
            return types.PluginInfo(
                name=plugin.name,
                version=plugin.version,
                description=plugin.description,
                params_schema=None if schema is None else json.dumps(schema),
                builds_query=overrides("build_query"),
                transforms=overrides("transform") or overrides("finish"),
            )

        def init(self, source: types.Source, params: str) -> None:
            try:
                WitWorld.instance = plugin(source, json.loads(params or "{}"))
            except Exception as e:
                raise _error(e)

        def build_query(self) -> Optional[types.Query]:
            try:
                return WitWorld.instance.build_query()
            except Exception as e:
                raise _error(e)

        def transform(self, input: types.Batch) -> types.Batch:
            try:
                return WitWorld.instance.transform(Batch(input)).raw
            except Exception as e:
                raise _error(e)

        def finish(self) -> Optional[types.Batch]:
            try:
                out = WitWorld.instance.finish()
                return None if out is None else out.raw
            except Exception as e:
                raise _error(e)

    return WitWorld
