"""Files prefrec writes: atomically (temporary file, fsync, rename), and only its own.

A temporary file is named `.prefrec-tmp-<pid>-<random>.part` in the target's folder, so a writer
killed between writing and renaming leaves something recognisably prefrec's; the sweep that
removes such leftovers touches nothing else, whatever its name. Standard library only.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

# What prefrec keeps in a data dir. A folder holding anything else (and no database) is not one.
DATABASE_NAME = "prefrec.sqlite"
DATA_DIR_ENTRIES = frozenset({DATABASE_NAME, f"{DATABASE_NAME}-wal", f"{DATABASE_NAME}-shm",
                              f"{DATABASE_NAME}-journal", "config.toml", "daemon.lock", "trainer.lock",
                              "logs", "features", "models"})

TEMP_PREFIX = ".prefrec-tmp-"
TEMP_SUFFIX = ".part"
STALE_TEMP_S = 3600.0  # a temporary file untouched this long was left by a writer that was killed


def check_data_dir(home: Path, *, create: bool) -> None:
    """Make sure `home` is prefrec's data dir (or may become one) before anything is written there.

    A folder that holds prefrec's database is one. An existing folder holding only what prefrec
    puts there (nothing at all, or just a config.toml) may become one. Any other folder is refused
    (UsageError): prefrec never writes among files it did not create. With `create` False (a
    command that only reads) nothing is created: a missing data dir raises NotReady.
    """
    from prefrec.errors import NotReady, UsageError

    home = Path(home)
    fix = "check --home (or $PREFREC_HOME)"
    if not home.exists():
        if not create:
            raise NotReady(f"{home}: no prefrec data dir here yet; run `prefrec scan FOLDER` to create one, or {fix}")
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{home}: cannot create the data dir ({exc.strerror}); {fix}") from exc
        return
    if not home.is_dir():
        raise UsageError(f"{home}: is a file, not a folder; {fix}")
    if (home / DATABASE_NAME).is_file():
        return
    try:
        foreign = sorted(name for name in os.listdir(home) if name not in DATA_DIR_ENTRIES)
    except OSError as exc:
        raise UsageError(f"{home}: cannot read the folder ({exc.strerror}); {fix}") from exc
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise UsageError(f"{home}: not a prefrec data dir and not empty (it holds {shown}); prefrec writes "
                         f"only into an empty folder or its own data dir: {fix}")
    if not create:
        raise NotReady(f"{home}: no music analysed yet: run `prefrec scan FOLDER` first")


def is_own_temporary(name: str) -> bool:
    """Whether a file name is one of prefrec's temporary files."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


@contextmanager
def atomic_file(path: Path, *, fsync: bool = True) -> Iterator[BinaryIO]:
    """Write `path` through a temporary file renamed over it when the block succeeds (fsynced
    first when `fsync`); on any error the temporary file is removed and `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if fsync:
        _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Replace `path` with `data` atomically (see atomic_file)."""
    with atomic_file(path, fsync=fsync) as f:
        f.write(data)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sweep_stale_temporaries(root: Path, *, older_than_s: float = STALE_TEMP_S) -> list[Path]:
    """Delete prefrec's own temporary files under `root` (any depth) not modified for `older_than_s`
    seconds, and return them: what writers killed between writing and renaming left behind (a live
    writer's file is seconds old, so it is never touched). Files of any other name are left alone."""
    removed: list[Path] = []
    if not Path(root).is_dir():
        return removed
    cutoff = time.time() - older_than_s
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            if not is_own_temporary(name):
                continue
            path = Path(dirpath) / name
            try:
                if path.lstat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:  # renamed or removed meanwhile
                pass
    return removed
