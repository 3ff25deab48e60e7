"""Reading another program's SQLite database without ever changing it, even while it runs.

Players keep their database open (and sometimes locked) while they run. prefrec must read it
anyway and must not leave a trace: no write, no journal, no `-wal`/`-shm` files it created.

- A database in rollback-journal mode is opened with `?mode=ro`, which reads in place and creates
  nothing. If the player holds a write lock, the file (and its hot journal, if any) is copied to a
  temporary folder and the copy is opened instead: SQLite rolls the copy back to the last commit,
  so what is read is consistent.
- A database in WAL mode whose `-wal` file is absent was closed cleanly and nobody is writing:
  it is opened `immutable=1` (a read-only `mode=ro` open would create `-wal`/`-shm` next to it).
  When the `-wal` file is there, the player is running; `mode=ro` then shares its files as any
  reader does. If that fails (a read-only folder), the database is read through a copy.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from prefrec.importers.base import ImportSourceError

SQLITE_MAGIC = b"SQLite format 3\x00"


def is_sqlite(path: Path) -> bool:
    """True when the file starts with SQLite's header."""
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def _uri(path: Path, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"file:{quote(str(path.resolve()))}?{query}"


def _is_wal(path: Path) -> bool:
    with open(path, "rb") as handle:
        header = handle.read(20)
    return len(header) >= 20 and header[18] == 2


def _probe(conn: sqlite3.Connection) -> None:
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()


@contextmanager
def open_readonly(path: Path, notes: list[str], *, busy_timeout_s: float = 1.0) -> Iterator[sqlite3.Connection]:
    """A connection that can only read `path` (rows as sqlite3.Row), closed on exit.

    How it was read, when not in place (a copy, because the database was locked), is appended to
    `notes`. Raises ImportSourceError when the file is not a readable SQLite database.
    """
    path = Path(path)
    if not is_sqlite(path):
        raise ImportSourceError(f"{path} is not an SQLite database; check the file name")
    wal = _is_wal(path)
    sidecar_wal = Path(str(path) + "-wal")
    if wal and not sidecar_wal.exists():
        uri = _uri(path, mode="ro", immutable="1")
    else:
        uri = _uri(path, mode="ro")
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only = 1")
        _probe(conn)
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        conn = None
        reason = str(exc)
    if conn is not None:
        try:
            yield conn
        finally:
            conn.close()
        return
    with tempfile.TemporaryDirectory(prefix="prefrec-import-") as tmp:
        copy = _copy_with_journal(path, Path(tmp))
        notes.append(f"read from a copy of {path.name}: {reason} (the program using it is probably running)")
        try:
            conn = sqlite3.connect(str(copy), timeout=busy_timeout_s)
            conn.row_factory = sqlite3.Row
            _probe(conn)
        except sqlite3.DatabaseError as exc:
            raise ImportSourceError(f"cannot read {path}: {exc}; close the program that uses it and "
                                    "try again") from exc
        try:
            yield conn
        finally:
            conn.close()


def _copy_with_journal(path: Path, folder: Path) -> Path:
    """Copy the database and whatever holds its latest state (`-journal`, `-wal`) into `folder`."""
    target = folder / path.name
    try:
        shutil.copyfile(path, target)
        for suffix in ("-journal", "-wal"):
            side = Path(str(path) + suffix)
            if side.exists():
                shutil.copyfile(side, Path(str(target) + suffix))
    except OSError as exc:
        raise ImportSourceError(f"cannot copy {path} to read it: {exc.strerror or exc}") from exc
    return target


def table_columns(conn: sqlite3.Connection) -> dict[str, set[str]]:
    """{table name: column names} of every table in the database."""
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: {r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')} for t in tables}
