"""Files in the episode's scratch directory. Paths are relative to it; nothing outside is reachable."""

from __future__ import annotations

import csv
import io
import math
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from palaestra import ToolError, record_undo, tool
from palaestra.envs.tools.state import WorldState

MAX_WRITE = 100_000
MAX_READ = 20_000
_DRIVE = re.compile(r"^[A-Za-z]:")


class FileTools(WorldState):
    def _path(self, path: str) -> Path:
        if self.root is None:
            raise ToolError("there is no scratch directory in this episode.")
        p = path.strip().replace("\\", "/")
        if not p:
            raise ToolError("the path is empty.")
        if len(p) > 200 or any(len(part) > 100 for part in p.split("/")):
            raise ToolError("the path is too long (200 characters at most, 100 per name).")
        if "\x00" in p:
            raise ToolError("the path contains a NUL character.")
        if p.startswith(("/", "~")) or _DRIVE.match(p):
            raise ToolError(
                f"{path!r} is absolute; paths are relative to the scratch directory, e.g. 'notes.txt'."
            )
        if ".." in PurePosixPath(p).parts:
            raise ToolError(f"{path!r} leaves the scratch directory; '..' is not allowed.")
        full = self.root / p
        if not full.resolve().is_relative_to(self.root.resolve()):
            raise ToolError(f"{path!r} leaves the scratch directory.")
        return full

    def _rel(self, full: Path) -> str:
        assert self.root is not None
        rel = full.relative_to(self.root).as_posix()
        return rel or "."

    def _file(self, path: str) -> Path:
        full = self._path(path)
        if full.is_dir():
            raise ToolError(
                f"{self._rel(full)!r} is a directory, not a file (list_files shows its contents)."
            )
        if not full.is_file():
            raise ToolError(f"no file {self._rel(full)!r}; list_files shows what exists.")
        return full

    def _text(self, full: Path) -> str:
        try:
            return full.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise ToolError(f"cannot read {self._rel(full)!r} as text.") from None

    def _write(self, full: Path, content: str, append: bool = False) -> None:
        if len(content) > MAX_WRITE:
            raise ToolError(f"content too long ({len(content)} characters; at most {MAX_WRITE}).")
        if full.is_dir():
            raise ToolError(f"{self._rel(full)!r} is a directory.")
        try:
            full.parent.mkdir(parents=True, exist_ok=True)
            with full.open("a" if append else "w", encoding="utf-8") as fh:
                fh.write(content)
        except OSError:
            raise ToolError(f"cannot write {self._rel(full)!r} (is a parent a file?).") from None

    def _keep_paths(self, *fulls: Path) -> None:
        """Before a reversible tool changes these paths: keep each one's bytes (``None``: no file
        there) and the folders that do not exist yet (writing may create them), for undo."""
        assert self.root is not None
        root = self.root.resolve()
        files = {self._rel(f): f.read_bytes() if f.is_file() else None for f in fulls}
        missing = {
            self._rel(d)
            for f in fulls
            for d in (f, *f.parents)
            if d.resolve().is_relative_to(root) and d.resolve() != root and not d.exists()
        }
        record_undo(files=files, dirs=sorted(missing))

    def _undo_files(self, files: dict[str, bytes | None], dirs: list[str]) -> None:
        """Undo one change that :meth:`_keep_paths` prepared for: the files as they were, and the
        folders it created removed (when empty)."""
        assert self.root is not None
        for rel, content in files.items():
            full = self.root / rel
            if content is None:
                if full.is_file():
                    full.unlink()
            else:
                full.parent.mkdir(parents=True, exist_ok=True)
                full.write_bytes(content)
        for rel in sorted(dirs, key=lambda r: r.count("/"), reverse=True):  # the deepest first
            d = self.root / rel
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()

    @tool
    def list_files(self, directory: str = ".") -> list[dict[str, Any]]:
        """All files under a directory of the scratch space (recursively), with their sizes in bytes.

        Args:
            directory: directory relative to the scratch root; "." for everything.
        """
        full = self._path(directory) if directory.strip() not in ("", ".", "./") else self._path(".")
        if not full.is_dir():
            raise ToolError(f"no directory {directory!r}.")
        out = []
        for f in sorted(full.rglob("*"), key=lambda x: x.as_posix()):
            if f.is_file():
                out.append({"path": self._rel(f), "size": f.stat().st_size})
            elif f.is_dir() and not any(f.iterdir()):
                out.append({"path": self._rel(f) + "/", "size": 0})
        return out

    @tool
    def read_file(self, path: str) -> str:
        """The text content of a file.

        Args:
            path: file path relative to the scratch root, e.g. "notes.txt".
        """
        text = self._text(self._file(path))
        if len(text) > MAX_READ:
            return text[:MAX_READ] + f"\n[... truncated: {len(text) - MAX_READ} more characters]"
        return text

    @tool(reversible=True, undo="_undo_files")
    def write_file(self, path: str, content: str) -> str:
        """Create a file or replace its whole content (missing folders are created).

        Args:
            path: file path relative to the scratch root.
            content: the complete new text of the file.
        """
        full = self._path(path)
        self._keep_paths(full)
        self._write(full, content)
        return f"Wrote {len(content.encode())} bytes to {self._rel(full)}."

    @tool(reversible=True, undo="_undo_files")
    def append_to_file(self, path: str, content: str) -> str:
        """Add text at the end of a file (creating it if needed). Include a newline yourself where wanted.

        Args:
            path: file path relative to the scratch root.
            content: the text to add.
        """
        full = self._path(path)
        self._keep_paths(full)
        self._write(full, content, append=True)
        return f"Appended {len(content.encode())} bytes to {self._rel(full)}."

    @tool(reversible=True, undo="_undo_files")
    def delete_file(self, path: str) -> str:
        """Delete a file (not a directory).

        Args:
            path: file path relative to the scratch root.
        """
        full = self._file(path)
        self._keep_paths(full)
        full.unlink()
        return f"Deleted {self._rel(full)}."

    @tool(reversible=True, undo="_undo_files")
    def copy_file(self, source: str, destination: str) -> str:
        """Copy a file to a new path (the destination must not exist yet).

        Args:
            source: existing file path.
            destination: new file path.
        """
        src, dst = self._file(source), self._path(destination)
        if dst.exists():
            raise ToolError(f"{self._rel(dst)!r} exists already; delete it first or pick another name.")
        self._keep_paths(dst)
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        except OSError:
            raise ToolError(f"cannot copy to {self._rel(dst)!r} (is a parent a file?).") from None
        return f"Copied {self._rel(src)} to {self._rel(dst)}."

    @tool(reversible=True, undo="_undo_files")
    def move_file(self, source: str, destination: str) -> str:
        """Move or rename a file (the destination must not exist yet).

        Args:
            source: existing file path.
            destination: new file path.
        """
        src, dst = self._file(source), self._path(destination)
        if dst.exists():
            raise ToolError(f"{self._rel(dst)!r} exists already; delete it first or pick another name.")
        self._keep_paths(src, dst)
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            src.rename(dst)
        except OSError:
            raise ToolError(f"cannot move to {self._rel(dst)!r} (is a parent a file?).") from None
        return f"Moved {self._rel(src)} to {self._rel(dst)}."

    @tool
    def get_file_size(self, path: str) -> int:
        """Size of a file in bytes.

        Args:
            path: file path relative to the scratch root.
        """
        return self._file(path).stat().st_size

    @tool
    def file_exists(self, path: str) -> bool:
        """Whether a file exists at a path.

        Args:
            path: file path relative to the scratch root.
        """
        return self._path(path).is_file()

    @tool(reversible=True, undo="_undo_files")
    def create_directory(self, path: str) -> str:
        """Create a directory (and missing parents).

        Args:
            path: directory path relative to the scratch root.
        """
        full = self._path(path)
        if full.is_file():
            raise ToolError(f"{self._rel(full)!r} is a file.")
        self._keep_paths(full)
        try:
            full.mkdir(parents=True, exist_ok=True)
        except OSError:
            raise ToolError(f"cannot create {self._rel(full)!r} (is a parent a file?).") from None
        return f"Created {self._rel(full)}/."

    @tool
    def search_in_files(self, text: str) -> list[str]:
        """Lines of all files that contain a text (case-insensitive), as "path:line_number: line".

        Args:
            text: the text to look for.
        """
        q = text.strip().lower()
        if not q:
            raise ToolError("the search text is empty.")
        root = self._path(".")
        out = []
        for f in sorted(root.rglob("*"), key=lambda x: x.as_posix()):
            if f.is_file():
                try:
                    lines = f.read_text(encoding="utf-8").splitlines()
                except (OSError, UnicodeDecodeError):
                    continue
                out += [f"{self._rel(f)}:{i}: {line}" for i, line in enumerate(lines, 1) if q in line.lower()]
        return out[:100]

    @tool
    def count_lines_in_file(self, path: str) -> int:
        """Number of lines in a text file.

        Args:
            path: file path relative to the scratch root.
        """
        return len(self._text(self._file(path)).splitlines())

    @tool
    def count_words_in_file(self, path: str) -> int:
        """Number of words (whitespace-separated) in a text file.

        Args:
            path: file path relative to the scratch root.
        """
        return len(self._text(self._file(path)).split())

    @tool
    def sum_csv_column(
        self, path: str, column: str, filter_column: str = "", filter_value: str = ""
    ) -> float:
        """Sum of a numeric column of a CSV file with a header row, optionally only over the rows
        where filter_column equals filter_value.

        Args:
            path: CSV file path relative to the scratch root.
            column: header name of the column to add up.
            filter_column: header name of a column to filter on (optional).
            filter_value: value that filter_column must have (optional).
        """
        rows = list(csv.DictReader(io.StringIO(self._text(self._file(path)))))
        header = list(rows[0]) if rows else []
        for col in (column, filter_column):
            if col and col not in header:
                raise ToolError(f"no column {col!r}; the columns are {', '.join(header) or '(none)'}.")
        total = 0.0
        for r in rows:
            if filter_column and (r[filter_column] or "").strip().lower() != filter_value.strip().lower():
                continue
            try:
                total += float(r[column])
            except (TypeError, ValueError):
                raise ToolError(f"{r[column]!r} in column {column!r} is not a number.") from None
        if not math.isfinite(total):
            raise ToolError("the sum is not finite.")
        return round(total, 2)
