"""The music library on disk: which files are audio, how they are found, and path rules.

Shared by `scan` and the daemon so both decide the same way. Standard library only (the CLI
imports it on fast paths).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".flac", ".ogg", ".oga", ".opus", ".wav", ".m4a", ".aac", ".alac", ".wma",
     ".aiff", ".aif", ".mp4", ".webm", ".mka"}
)


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    mtime_ns: int




def is_audio_name(path: str) -> bool:
    """Whether `path` has the extension of an audio format prefrec reads."""
    return os.path.splitext(path)[1].lower() in AUDIO_EXTENSIONS


def under_any(path: str, roots: list[str]) -> bool:
    """Whether `path` is one of `roots` or lies below one of them (plain string paths)."""
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def printable_path(path: str) -> str:
    """`path` as text even when its name is not valid UTF-8 (undecodable bytes shown as \\xNN)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def stat_audio_file(path: str, real_roots: list[str]) -> tuple[os.stat_result | None, str]:
    """(its stat, "") when `path` may be analysed, else (None, why not): a name that is not valid
    UTF-8 cannot be stored, a symbolic link leading outside the resolved `real_roots` is not
    followed, and FIFOs, sockets and devices are not opened (reading a FIFO would block)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return None, "its name is not valid UTF-8, which the library cannot store; rename it"
    try:
        if os.path.islink(path) and not under_any(os.path.realpath(path), real_roots):
            return None, "a symbolic link to outside the library; not followed"
        st = os.stat(path)
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror})"
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a socket"
                if stat.S_ISSOCK(st.st_mode) else "a device or special file")
        return None, f"{kind}, not a regular file; not read"
    return st, ""


def discover(roots: list[str]) -> tuple[list[FileEntry], list[tuple[str, str]]]:
    """Audio files under `roots` (absolute, resolved), and (path, reason) of files passed over.

    Symbolic links are followed only when they lead to a regular file inside one of the roots,
    so a scan never reads outside the folders it was given; linked folders are not descended
    into (so a link loop cannot trap the walk). FIFOs, sockets and devices are passed over without
    being opened. A name that is not valid UTF-8 is passed over with its bytes shown escaped.
    """
    real_roots = [os.path.realpath(r) for r in roots]
    found: dict[str, FileEntry] = {}
    skipped: list[tuple[str, str]] = []
    for root in real_roots:
        for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
            for name in filenames:
                if not is_audio_name(name):
                    continue
                path = os.path.join(dirpath, name)
                st, reason = stat_audio_file(path, real_roots)
                if st is None:
                    skipped.append((printable_path(path), reason))
                    continue
                found[path] = FileEntry(path, st.st_size, st.st_mtime_ns)
    return sorted(found.values(), key=lambda e: e.path), skipped

