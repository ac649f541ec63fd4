"""Reading data for validation: CSV or Parquet (file or directory), whole or in batches.

Every failure to read becomes one ``DataError`` line naming the file and the problem; no
Arrow traceback reaches the user. CSV types are inferred by Arrow from the first block; when
a later block holds a value that does not fit (a "mixed-type" column) the read starts over
with that column read as text, so the dtype rule reports it instead of the reader failing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from mlci.errors import DataError
from mlci.sources import COMPRESSED, PARQUET_SUFFIXES, data_format



class Retype(Exception):
    """Internal: a CSV column needs to be read as text; the reader starts over."""

    def __init__(self, column: str):
        super().__init__(column)
        self.column = column


def _arrow_errors() -> tuple[type[BaseException], ...]:
    import pyarrow as pa

    return (pa.ArrowException, OSError, ValueError, TypeError, UnicodeDecodeError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else type(exc).__name__
    msg = "".join(c if c.isprintable() and c != "\ufffd" else "?" for c in msg)
    return msg if len(msg) <= 300 else msg[:297] + "..."


def detect_format(path: Path) -> str:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        if any(p.suffix in PARQUET_SUFFIXES for p in path.rglob("*") if p.is_file()):
            return "parquet-dir"
        raise DataError(f"{path}: is a directory without Parquet files; expected a CSV or Parquet file")
    fmt = data_format(path.name)
    if fmt:
        return fmt
    try:
        with path.open("rb") as fh:
            if fh.read(4) == b"PAR1":
                return "parquet"
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    raise DataError(f"{path}: unsupported file type `{path.suffix or '(none)'}`; "
                    "expected .csv, .tsv or .parquet")


@dataclass
class DataSource:
    """A data file opened for validation. ``batches()`` may be called more than once."""

    path: Path
    chunk_rows: int | None = None
    text_columns: set[str] = field(default_factory=set)
    fmt: str = ""
    opener: Callable[[], Any] | None = None  # a part of a source (mlci.sources): opens it, `path` names it
    label: str = ""

    def __post_init__(self) -> None:
        self.label = self.label or str(self.path)
        if self.opener is not None:
            from mlci.sources import data_format

            self.fmt = data_format(self.label) or "csv"
            return
        self.path = Path(self.path)
        self.fmt = detect_format(self.path)
        if self.fmt == "csv":
            try:
                if self.path.stat().st_size == 0:
                    raise DataError(f"{self.path}: file is empty (no header, no rows)")
            except OSError as exc:
                raise DataError(f"{self.path}: cannot read: {exc.strerror or exc}") from None

    # -- helpers -------------------------------------------------------------------------
    def _input(self) -> Any:
        """What pyarrow reads: the path (Arrow detects compression from its name), or a new file
        object over the part (decompressed here, as its name says)."""
        if self.opener is None:
            return self.path
        import pyarrow as pa

        codec = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}.get(Path(self.label).suffix.lower())
        return pa.CompressedInputStream(self.opener(), codec) if codec else self.opener()

    def _fail(self, exc: BaseException, what: str | None = None) -> DataError:
        kind = what or ("CSV" if self.fmt == "csv" else "Parquet")
        msg = _first_line(exc)
        if "magic bytes" in msg or "file size is 0" in msg.lower():
            msg = "not a Parquet file (or truncated): " + msg
        return DataError(f"{self.label}: cannot read {kind}: {msg}")

    def _csv_options(self, block_size: int | None = None) -> tuple[Any, Any, Any]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        suffixes = [s.lower() for s in Path(self.label).suffixes if s.lower() not in COMPRESSED]
        delimiter = "\t" if suffixes and suffixes[-1] == ".tsv" else ","
        read = pacsv.ReadOptions(block_size=block_size) if block_size else pacsv.ReadOptions()
        parse = pacsv.ParseOptions(delimiter=delimiter)
        convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in self.text_columns},
                                       strings_can_be_null=True)
        return read, parse, convert

    def _retype_from(self, exc: BaseException, names: list[str]) -> str | None:
        m = re.search(r"CSV column #(\d+)", str(exc))
        if m and "conversion error" in str(exc):
            idx = int(m.group(1))
            if 0 <= idx < len(names) and names[idx] not in self.text_columns:
                return names[idx]
        return None

    def _csv_header(self) -> list[str]:
        import pyarrow.csv as pacsv

        read, parse, convert = self._csv_options(block_size=1 << 16)
        try:
            reader = pacsv.open_csv(self._input(), read_options=read, parse_options=parse,
                                    convert_options=convert)
            return list(reader.schema.names)
        except _arrow_errors() as exc:
            raise self._fail(exc) from None

    def _check_text(self, schema: Any) -> None:
        """CSV text that is not UTF-8 arrives as a binary column: refuse it clearly."""
        import pyarrow as pa

        for f in schema:
            if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type):
                raise DataError(f"{self.label}: column `{f.name}` holds bytes that are not valid UTF-8 "
                                "text; save the file as UTF-8")

    def _check_names(self, names: list[str]) -> None:
        seen: set[str] = set()
        for n in names:
            if n in seen:
                raise DataError(f"{self.label}: duplicate column name `{n}`")
            seen.add(n)
        if not names:
            raise DataError(f"{self.label}: no columns")

    # -- reading -------------------------------------------------------------------------
    def read_all(self) -> Any:
        """The whole file as a pyarrow Table."""
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        if self.fmt == "csv":
            for _ in range(1000):
                read, parse, convert = self._csv_options()
                try:
                    table = pacsv.read_csv(self._input(), read_options=read, parse_options=parse,
                                           convert_options=convert)
                    break
                except _arrow_errors() as exc:
                    column = self._retype_from(exc, self._csv_header())
                    if column is None:
                        raise self._fail(exc) from None
                    self.text_columns.add(column)
        else:
            try:
                if self.fmt == "parquet-dir":
                    import pyarrow.dataset as ds

                    table = ds.dataset(self.path, format="parquet").to_table()
                else:
                    table = pq.read_table(self._input(), pre_buffer=self.opener is None)
            except _arrow_errors() as exc:
                raise self._fail(exc) from None
        self._check_names(list(table.column_names))
        if self.fmt == "csv":
            self._check_text(table.schema)
        return table

    def batches(self) -> Iterator[Any]:
        """Record batches of about ``chunk_rows`` rows (one Table of everything when unset).

        Raises ``Retype`` when a CSV column turns out to be mixed-type mid-stream: the
        caller adds nothing and starts over (``text_columns`` now holds the column).
        """
        if not self.chunk_rows:
            yield self.read_all()
            return
        if self.fmt == "csv":
            yield from self._csv_batches()
        else:
            yield from self._parquet_batches()

    def _parquet_batches(self) -> Iterator[Any]:
        import pyarrow.parquet as pq

        try:
            if self.fmt == "parquet-dir":
                import pyarrow.dataset as ds

                dataset = ds.dataset(self.path, format="parquet")
                self._check_names(list(dataset.schema.names))
                # file by file: Arrow's dataset scanner reads ahead, and its memory grows with the files
                it = (b for f in dataset.get_fragments() for b in _file_batches(f, dataset.schema, self.chunk_rows))
                schema = dataset.schema
            else:
                pf = pq.ParquetFile(self._input(), pre_buffer=False)
                self._check_names(list(pf.schema_arrow.names))
                it = pf.iter_batches(batch_size=self.chunk_rows)
                schema = pf.schema_arrow
        except _arrow_errors() as exc:
            raise self._fail(exc) from None
        n = 0
        while True:
            try:
                batch = next(it)
            except StopIteration:
                break
            except _arrow_errors() as exc:
                raise self._fail(exc) from None
            n += 1
            yield batch
        if n == 0:
            yield _empty_batch(schema)

    def _csv_batches(self) -> Iterator[Any]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        names = self._csv_header()
        self._check_names(names)
        # Arrow streams CSV by bytes; size blocks so that a block holds about chunk_rows rows
        # (of the decompressed text, for a .csv.gz)
        try:
            with pa.input_stream(self._input()) as stream:
                head = stream.read(1 << 16)
        except _arrow_errors() as exc:
            raise self._fail(exc) from None
        per_row = max(8, len(head) / max(1, head.count(b"\n")))
        block = int(min(max(per_row * self.chunk_rows, 1 << 16), 1 << 30))
        # Arrow's streaming reader reads up to 32 blocks ahead of the batches taken, so memory
        # would grow with the file up to 32 chunks of text. Types are inferred from one
        # chunk-sized block as before, then the file is read in blocks of 1/16 of that, with
        # those types (read ahead: 2 chunks), and the small batches are put back together.
        types = self._csv_types(block)
        read, parse, convert = self._csv_options(block_size=max(block // 16, 1 << 14))
        convert.column_types = {**types, **convert.column_types}
        try:
            reader = pacsv.open_csv(self._input(), read_options=read, parse_options=parse,
                                    convert_options=convert)
        except _arrow_errors() as exc:
            raise self._csv_fail(exc, names) from None
        n = 0
        held: list[Any] = []
        rows = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except _arrow_errors() as exc:
                raise self._csv_fail(exc, names) from None
            if n == 0:
                self._check_text(batch.schema)
            n += 1
            held.append(batch)
            rows += batch.num_rows
            while rows >= self.chunk_rows:
                table = pa.Table.from_batches(held)
                yield table.slice(0, self.chunk_rows)
                rest = table.slice(self.chunk_rows)
                held, rows = rest.to_batches(), rest.num_rows
        if rows or n == 0:
            yield pa.Table.from_batches(held, schema=reader.schema)

    def _csv_types(self, block: int) -> dict[str, Any]:
        """The column types Arrow infers from the first ``block`` bytes of the CSV."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        read, parse, convert = self._csv_options(block_size=block)
        try:
            with pa.input_stream(self._input()) as stream:
                head = stream.read(block)
                more = stream.read(1)
        except _arrow_errors() as exc:
            raise self._fail(exc) from None
        if more and b"\n" in head:
            head = head[: head.rindex(b"\n") + 1]  # whole lines (Arrow completes the last row too)
        try:
            schema = pacsv.open_csv(pa.BufferReader(head), read_options=read, parse_options=parse,
                                    convert_options=convert).schema
        except _arrow_errors() as exc:
            raise self._csv_fail(exc, self._csv_header()) from None
        return {f.name: f.type for f in schema}

    def _csv_fail(self, exc: BaseException, names: list[str]) -> BaseException:
        """Retype when a column turned out to hold text, else the one-line DataError."""
        column = self._retype_from(exc, names)
        if column is not None:
            self.text_columns.add(column)
            return Retype(column)
        return self._fail(exc)


def _file_batches(fragment: Any, schema: Any, chunk_rows: int) -> Iterator[Any]:
    """One Parquet file of a directory in batches of the directory's schema."""
    import pyarrow.parquet as pq

    # pre_buffer=False: pre-buffering reads every row group's bytes up front, so memory would
    # grow with the file; without it a row group is read when it is decoded
    pf = pq.ParquetFile(fragment.path, pre_buffer=False, filesystem=fragment.filesystem)
    if pf.schema_arrow != schema:  # a file that differs: the dataset casts it (or fills nulls)
        yield from fragment.to_batches(schema=schema, batch_size=chunk_rows)
        return
    yield from pf.iter_batches(batch_size=chunk_rows)


def _empty_batch(schema: Any) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_pylist([], schema=schema)


def table_from_pandas(df: Any) -> Any:
    """A pandas DataFrame as an Arrow table; mixed-type object columns become text."""
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        fixed = df.copy()
        for name in fixed.columns:
            try:
                pa.array(fixed[name], from_pandas=True)
            except (pa.ArrowException, TypeError, ValueError):
                fixed[name] = fixed[name].map(lambda v: None if v is None or v != v else str(v))
        return pa.Table.from_pandas(fixed, preserve_index=False)


def iter_source(source: Any, chunk_rows: int | None = None) -> tuple[str, Any]:
    """(label, object with batches()) for a path, a pyarrow Table or a pandas DataFrame."""
    import pyarrow as pa

    from mlci.sources import Source, open_source

    if isinstance(source, (str, Path)):
        if Path(source).is_file():
            return str(source), DataSource(Path(source), chunk_rows=chunk_rows)
        source = open_source(str(source), None, "data")
    if isinstance(source, Source):
        single = source.single_file
        if single is not None:
            return str(single), DataSource(single, chunk_rows=chunk_rows)
        return source.label, PartsSource(source, chunk_rows)
    if isinstance(source, pa.Table):
        return "(table)", _TableSource(source, chunk_rows)
    if hasattr(source, "columns") and hasattr(source, "dtypes"):
        return "(dataframe)", _TableSource(table_from_pandas(source), chunk_rows)
    raise DataError(f"cannot validate a {type(source).__name__}; expected a path or a DataFrame")


@dataclass
class _TableSource:
    table: Any
    chunk_rows: int | None = None
    text_columns: set[str] = field(default_factory=set)

    def batches(self) -> Iterator[Any]:
        if not self.chunk_rows:
            yield self.table
            return
        batches = self.table.to_batches(max_chunksize=self.chunk_rows)
        yield from batches or [_empty_batch(self.table.schema)]


@dataclass
class PartsSource:
    """A source of several files or objects (mlci.sources): each part read as a DataSource, hive
    partition columns added, Parquet parts cast to one schema (or one line naming the parts that
    differ), the same columns required of every part."""

    source: Any
    chunk_rows: int | None = None
    text_columns: set[str] = field(default_factory=set)

    def _part(self, part: Any) -> DataSource:
        if not self.source.remote:  # a local file: Arrow reads its path natively
            return DataSource(Path(part.location), self.chunk_rows, self.text_columns)
        return DataSource(Path(part.name), self.chunk_rows, self.text_columns,
                          opener=lambda: self.source.open(part), label=self.source.display(part))

    def _schema(self) -> Any:
        """The unified Arrow schema of Parquet parts (their footers only)."""
        import pyarrow.parquet as pq

        from mlci.data import unify_tables, with_partitions

        partitions = self.source.partition_values()
        empty = []
        from mlci.sources import iter_parts

        for part, src in iter_parts(self.source):
            try:
                schema = pq.ParquetFile(src, pre_buffer=False).schema_arrow
            except _arrow_errors() as exc:
                raise self._part(part)._fail(exc) from None
            empty.append((part.name, with_partitions(schema.empty_table(), partitions.get(part.name, {}),
                                                     self.source.display(part))))
        return unify_tables(self.source, empty).schema

    def batches(self) -> Iterator[Any]:
        import pyarrow as pa

        from mlci.data import with_partitions

        partitions = self.source.partition_values()
        schema = self._schema() if self.source.format == "parquet" else None
        first: list[str] | None = None
        tables = []
        for part in self.source.parts():
            for batch in self._part(part).batches():
                batch = with_partitions(batch, partitions.get(part.name, {}), self.source.display(part))
                names = list(batch.schema.names)
                if first is None:
                    first = names
                elif set(names) != set(first):
                    from mlci.data import _same_columns

                    _same_columns(self.source, [(self.source.parts()[0].name, first), (part.name, names)])
                if schema is not None:
                    batch = batch.select(schema.names).cast(schema)
                else:
                    batch = batch.select(first)
                if self.chunk_rows:
                    yield batch
                else:
                    tables.append(batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch]))
        if not self.chunk_rows:
            yield pa.concat_tables(tables, promote_options="permissive")
