"""Write rows to JSONL or Parquet, chosen by the file's extension, atomically.

Parquet columns holding messages, tools or other free-form JSON use Arrow's canonical JSON
extension type (``list<arrow.json>``), so every message keeps exactly its own keys: a struct column
would merge the keys of all rows and fill the missing ones with nulls (a tool call's arguments
would then gain every other tool's parameters as ``null``). Hugging Face ``datasets`` reads such
columns back as ``Json`` features, i.e. as the original dicts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from palaestra.errors import UsageError
from palaestra.export.formats import Kind

BATCH = 512
EXTENSIONS = (".jsonl", ".parquet")


def file_format(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in EXTENSIONS:
        raise UsageError(f"cannot tell the file format of {str(path)!r}: name it FILE.jsonl or FILE.parquet")
    return ext[1:]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def check_overwrite(path: Path, overwrite: bool) -> None:
    """Refuse, with one line, to replace an existing ``path`` unless ``overwrite`` (exports, reports)."""
    if path.exists() and not overwrite:
        raise UsageError(f"{path} exists; pass --overwrite to replace it, or name another file with --out")


def write_rows(rows: Iterable[dict[str, Any]], path: Path, columns: Sequence[tuple[str, Kind]]) -> int:
    """Write ``rows`` (only ``columns``, in their order) to ``path``; return how many were written.

    The file appears only when it is complete: a failed export leaves no partial file behind.
    """
    kind = file_format(path)
    if not path.parent.exists():
        raise UsageError(f"directory {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        n = _write_jsonl(rows, tmp, columns) if kind == "jsonl" else _write_parquet(rows, tmp, columns)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def _write_jsonl(rows: Iterable[dict[str, Any]], path: Path, columns: Sequence[tuple[str, Kind]]) -> int:
    names = [name for name, _ in columns]
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(_dumps({k: row.get(k) for k in names}))
            f.write("\n")
            n += 1
    return n


def _arrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError(
            "writing Parquet needs pyarrow: pip install 'palaestra[export]' (or write FILE.jsonl)"
        ) from None
    if not hasattr(pa, "json_"):
        raise UsageError(
            f"writing Parquet needs pyarrow >= 19 (found {pa.__version__}): pip install -U pyarrow"
        )
    return pa, pq


def _schema(pa: Any, columns: Sequence[tuple[str, Kind]]) -> Any:
    types = {
        "str": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "json": pa.json_(),
        "json_list": pa.list_(pa.json_()),
    }
    return pa.schema([(name, types[kind]) for name, kind in columns])


def _column(pa: Any, kind: Kind, values: list[Any], typ: Any) -> Any:
    if kind == "json":
        storage = pa.array([None if v is None else _dumps(v) for v in values], type=pa.string())
        return pa.ExtensionArray.from_storage(typ, storage)
    if kind == "json_list":
        offsets: list[int] = [0]
        flat: list[str] = []
        for v in values:
            flat.extend(_dumps(x) for x in v or [])
            offsets.append(len(flat))
        items = pa.ExtensionArray.from_storage(typ.value_type, pa.array(flat, type=pa.string()))
        return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), items, type=typ)
    return pa.array(values, type=typ)


def _write_parquet(rows: Iterable[dict[str, Any]], path: Path, columns: Sequence[tuple[str, Kind]]) -> int:
    pa, pq = _arrow()
    schema = _schema(pa, columns)
    n = 0
    with pq.ParquetWriter(path, schema) as writer:
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            arrays = [
                _column(pa, kind, [r.get(name) for r in batch], schema.field(name).type)
                for name, kind in columns
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            batch.clear()

        for row in rows:
            batch.append(row)
            n += 1
            if len(batch) >= BATCH:
                flush()
        if batch or n == 0:
            flush()
    return n
