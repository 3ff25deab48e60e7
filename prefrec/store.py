"""The only code that talks SQL: the library database, its migrations and typed rows.

One SQLite file in the data dir, in WAL mode with a busy timeout on every connection. Writes go
in short `BEGIN IMMEDIATE` transactions; feedback is an append-only event log committed with
synchronous=FULL so an acknowledged rating survives a crash or power cut.
"""

from __future__ import annotations

import array
import json
import math
import sqlite3
import sys
import time
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefrec.errors import PrefrecError, StoreBusy, UsageError
from prefrec.features import WINDOW_FRAMES
from prefrec.feedback import Act, LogRow, Observation, mark_withdrawn
from prefrec.library import under_any

if TYPE_CHECKING:
    import sqlite_utils

# Append only: a database records how many of these it has run (PRAGMA user_version), so a shipped
# migration must never move or change (tests/test_store.py upgrades from every earlier version).
MIGRATIONS: list[str] = [
    # 1: the first schema.
    """
    CREATE TABLE tracks (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        identity TEXT NOT NULL,
        title TEXT NOT NULL,
        artist TEXT,
        album TEXT,
        search TEXT NOT NULL,
        duration_s REAL NOT NULL,
        n_frames INTEGER NOT NULL,
        truncated INTEGER NOT NULL DEFAULT 0,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        feature_version INTEGER NOT NULL,
        gone INTEGER NOT NULL DEFAULT 0,
        analysed_at REAL NOT NULL
    );
    CREATE INDEX tracks_identity ON tracks(identity);
    CREATE TABLE errors (
        path TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        at REAL NOT NULL
    );
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        identity TEXT NOT NULL,
        path TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('like', 'skip', 'forget')),
        position_s REAL,
        created_at REAL NOT NULL
    );
    CREATE INDEX feedback_identity ON feedback(identity, id);
    CREATE TRIGGER feedback_no_update BEFORE UPDATE ON feedback
        BEGIN SELECT RAISE(ABORT, 'feedback is append-only'); END;
    CREATE TRIGGER feedback_no_delete BEFORE DELETE ON feedback
        BEGIN SELECT RAISE(ABORT, 'feedback is append-only'); END;
    CREATE TABLE models (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL,
        created_at REAL NOT NULL,
        config TEXT NOT NULL,
        last_feedback_id INTEGER NOT NULL,
        n_rated INTEGER NOT NULL,
        train_s REAL NOT NULL
    );
    CREATE TABLE window_scores (
        identity TEXT NOT NULL,
        model_id INTEGER NOT NULL,
        scores BLOB NOT NULL,
        embedding BLOB,
        PRIMARY KEY (identity, model_id)
    );
    CREATE TABLE rankings (
        identity TEXT PRIMARY KEY,
        model_id INTEGER NOT NULL,
        score REAL NOT NULL
    );
    CREATE INDEX rankings_score ON rankings(score DESC);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: bans, and the spread (std) of each ranked track's window scores for --explore.
    """
    CREATE TABLE bans (
        kind TEXT NOT NULL CHECK (kind IN ('track', 'artist', 'album')),
        value TEXT NOT NULL,
        label TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (kind, value)
    );
    ALTER TABLE rankings ADD COLUMN spread REAL;
    UPDATE rankings SET spread = (SELECT prefrec_f32_std(w.scores) FROM window_scores w
                                  WHERE w.identity = rankings.identity AND w.model_id = rankings.model_id);
    CREATE INDEX tracks_present ON tracks(gone, identity, id);
    CREATE INDEX rankings_spread ON rankings(spread DESC);
    """,
    # 3: what the daemon is doing, for `prefrec status` (one row; stale once its lock is free).
    """
    CREATE TABLE daemon (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pid INTEGER NOT NULL,
        state TEXT NOT NULL,
        queue INTEGER NOT NULL DEFAULT 0,
        watcher TEXT,
        last_error TEXT,
        last_error_at REAL,
        started_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 4: why an analysed file was flagged (truncated, NaN samples replaced), '' when it was fine.
    """
    ALTER TABLE tracks ADD COLUMN note TEXT NOT NULL DEFAULT '';
    """,
    # 5: the feedback log holds acts and observations from every source (docs/feedback.md). SQLite
    # cannot widen a CHECK in place, so the table is rebuilt with its ids (the log's one sequence).
    """
    DROP TRIGGER feedback_no_update;
    DROP TRIGGER feedback_no_delete;
    CREATE TABLE feedback_v5 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        identity TEXT NOT NULL,
        path TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('like', 'skip', 'forget', 'forget_source', 'session', 'counts')),
        source TEXT NOT NULL DEFAULT 'cli',
        position_s REAL,
        created_at REAL NOT NULL,
        happened_at REAL,
        key TEXT,
        detail TEXT
    );
    INSERT INTO feedback_v5(id, identity, path, kind, source, position_s, created_at)
        SELECT id, identity, path, kind, 'cli', position_s, created_at FROM feedback ORDER BY id;
    DROP TABLE feedback;
    ALTER TABLE feedback_v5 RENAME TO feedback;
    CREATE INDEX feedback_identity ON feedback(identity, id);
    CREATE INDEX feedback_kind ON feedback(kind, identity, id);
    CREATE INDEX feedback_source_key ON feedback(source, key) WHERE key IS NOT NULL;
    CREATE TRIGGER feedback_no_update BEFORE UPDATE ON feedback
        BEGIN SELECT RAISE(ABORT, 'feedback is append-only'); END;
    CREATE TRIGGER feedback_no_delete BEFORE DELETE ON feedback
        BEGIN SELECT RAISE(ABORT, 'feedback is append-only'); END;
    """,
    # 6: a model's checkpoint is tied to its row by the file's SHA-256 (paths are relative to the
    # data dir from now on, so a moved or copied data dir keeps working).
    """
    ALTER TABLE models ADD COLUMN sha256 TEXT;
    """,
    # 7: the MusicBrainz recording id from a file's tags, to match imports (NULL: not read yet,
    # '': the file has none).
    """
    ALTER TABLE tracks ADD COLUMN mbid TEXT;
    CREATE INDEX tracks_mbid ON tracks(mbid) WHERE mbid IS NOT NULL AND mbid != '';
    """,
    # 8: whole-word search of tracks (FTS5 over tracks.search, kept in step by triggers; its
    # vocabulary answers "did you mean"), recordings (files of the same music found by their
    # acoustic fingerprint: re-encoded or truncated copies share one recording, and its ratings),
    # and the starter set offered before any rating (tracks spread over the library's sound).
    """
    CREATE VIRTUAL TABLE tracks_fts USING fts5(search, content='tracks', content_rowid='id',
                                               tokenize='unicode61 remove_diacritics 2');
    CREATE TRIGGER tracks_fts_insert AFTER INSERT ON tracks BEGIN
        INSERT INTO tracks_fts(rowid, search) VALUES (new.id, new.search);
    END;
    CREATE TRIGGER tracks_fts_delete AFTER DELETE ON tracks BEGIN
        INSERT INTO tracks_fts(tracks_fts, rowid, search) VALUES ('delete', old.id, old.search);
    END;
    CREATE TRIGGER tracks_fts_update AFTER UPDATE OF search ON tracks BEGIN
        INSERT INTO tracks_fts(tracks_fts, rowid, search) VALUES ('delete', old.id, old.search);
        INSERT INTO tracks_fts(rowid, search) VALUES (new.id, new.search);
    END;
    INSERT INTO tracks_fts(tracks_fts) VALUES ('rebuild');
    CREATE VIRTUAL TABLE tracks_vocab USING fts5vocab(tracks_fts, 'row');
    CREATE TABLE recordings (
        identity TEXT PRIMARY KEY,
        recording TEXT NOT NULL,
        fingerprint BLOB
    );
    CREATE INDEX recordings_recording ON recordings(recording);
    CREATE TABLE fingerprint_keys (
        key INTEGER NOT NULL,
        identity TEXT NOT NULL,
        PRIMARY KEY (key, identity)
    ) WITHOUT ROWID;
    CREATE TABLE starter (position INTEGER PRIMARY KEY, identity TEXT NOT NULL);
    """,
    # 9: the flagged tracks `status` lists, without reading every track of a large library
    # (the 400 frames of one window: prefrec.features.WINDOW_FRAMES, as Store.flagged asks).
    """
    CREATE INDEX tracks_flagged ON tracks(path) WHERE gone = 0 AND (note != '' OR n_frames < 400);
    """,
    # 10: an analysis that failed because of the machine (a full disk, the deadline, the memory
    # limit, a missing decoder), not because of the file: retried on the next scan.
    """
    ALTER TABLE errors ADD COLUMN transient INTEGER NOT NULL DEFAULT 0;
    """,
]

# The listener's current ratings as SQL: per identity, its latest like/skip that no later forget
# (of the identity) or forget_source (of its source) withdrew: a CTE named `rated` (identity, id);
# and per recording (files of the same music share one), the latest of its files' ratings:
# `rated_music` (recording, id).
_RATED_CTE = """
    lastforget AS (SELECT identity, max(id) AS fid FROM feedback WHERE kind = 'forget' GROUP BY identity),
    sourceforget AS (SELECT source, max(id) AS sid FROM feedback WHERE kind = 'forget_source' GROUP BY source),
    rated AS (
        SELECT f.identity, max(f.id) AS id FROM feedback f
        LEFT JOIN lastforget lf ON lf.identity = f.identity
        LEFT JOIN sourceforget sf ON sf.source = f.source
        WHERE f.kind IN ('like', 'skip') AND f.id > coalesce(lf.fid, 0) AND f.id > coalesce(sf.sid, 0)
        GROUP BY f.identity
    ),
    rated_music AS (
        SELECT coalesce(rc.recording, rated.identity) AS recording, max(rated.id) AS id
        FROM rated LEFT JOIN recordings rc ON rc.identity = rated.identity GROUP BY 1
    )
"""
# The recording of the identity in SQL expression `x` (the identity itself when it has no row).
_RECORDING_OF = "coalesce((SELECT rc.recording FROM recordings rc WHERE rc.identity = {x}), {x})"

_TRACK_COLUMNS = "id, path, identity, title, artist, album, duration_s, n_frames, truncated, gone, mbid, note"
_LOG_COLUMNS = "id, identity, path, kind, source, position_s, created_at, happened_at, key, detail"


def _log_row(r: tuple) -> LogRow:
    return LogRow(int(r[0]), r[1], r[2], r[3], r[4], r[5], float(r[6]), r[7], r[8], json.loads(r[9]) if r[9] else {})


def normalize_text(text: str) -> str:
    """Case- and accent-insensitive form used for matching what the listener types."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True)
class Track:
    """A file of the library that was analysed."""

    id: int
    path: str
    identity: str
    title: str
    artist: str | None
    album: str | None
    duration_s: float
    n_frames: int
    truncated: bool
    gone: bool
    mbid: str | None = None  # MusicBrainz recording id from the tags; '' none, None not read yet
    note: str = ""  # why analysis flagged it (truncated, NaN samples replaced), '' when it was fine

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple) -> Track:
        return cls(row[0], row[1], row[2], row[3], row[4], row[5], float(row[6]), int(row[7]),
                   bool(row[8]), bool(row[9]), row[10] if len(row) > 10 else None,
                   row[11] if len(row) > 11 else "")

    def flags(self, *, short_frames: int) -> list[str]:
        """Why it is not recommended by default: 'short' (fewer frames than `short_frames`, one
        window), 'truncated' (decoding stopped early), 'nan' (NaN samples replaced)."""
        flags = []
        if self.n_frames < short_frames:
            flags.append("short")
        if self.truncated:
            flags.append("truncated")
        if "NaN" in self.note:
            flags.append("nan")
        elif self.note and not self.truncated:
            flags.append("flagged")
        return flags


@dataclass(frozen=True)
class Rating:
    """The listener's current opinion of a piece of music: its latest like/skip not withdrawn."""

    identity: str
    kind: str  # 'like' | 'skip'
    position_s: float | None
    feedback_id: int
    created_at: float
    source: str = "cli"
    rated_identity: str | None = None  # the file's music it was given to, when another copy of it

    @property
    def via_copy(self) -> bool:
        """Whether the rating was given to another file of the same recording."""
        return self.rated_identity is not None and self.rated_identity != self.identity


@dataclass(frozen=True)
class ModelRow:
    """A fine-tuned model: its checkpoint (path relative to the data dir, or absolute for models
    saved before schema 6) and the file's SHA-256 (None before schema 6)."""

    id: int
    path: str
    created_at: float
    config: dict[str, Any]
    last_feedback_id: int
    n_rated: int
    train_s: float
    sha256: str | None = None

    def file(self, home: Path) -> Path:
        """Where the checkpoint is, for the data dir `home` (a moved data dir keeps its models)."""
        path = Path(self.path)
        if path.is_absolute() and not path.exists():
            return Path(home) / "models" / path.name  # an older absolute path into a moved data dir
        return Path(home) / path


@dataclass(frozen=True)
class Ranked:
    """A track in the current ranking: rank 1 is the best unrated track."""

    rank: int
    score: float
    track: Track
    spread: float | None = None  # std of its window scores: how unsure the model is within it


@dataclass(frozen=True)
class RecommendFilter:
    """Which ranked tracks may be recommended: names match case- and accent-insensitively as
    substrings; durations in seconds."""

    artist: str | None = None
    album: str | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    folder: str | None = None  # an absolute folder: only tracks at or below it
    include_flagged: bool = False  # also files too short for a window, truncated, or with NaN samples


@dataclass(frozen=True)
class Ban:
    """A track (value = identity) or artist/album (value = normalised name) never recommended."""

    kind: str  # 'track' | 'artist' | 'album'
    value: str
    label: str  # as the listener sees it
    created_at: float


@dataclass(frozen=True)
class FeedbackSource:
    """Where feedback came from (cli, mpd, mpris, import:NAME), with how many rows of the log it
    gave and how many of them still count (not withdrawn by a forget or forget_source)."""

    source: str
    rows: int
    live_rows: int
    last_at: float


@dataclass(frozen=True)
class FeedbackEvent:
    """One entry of the feedback log with the track it is about now (None when no file of that
    music is known, and for forget_source rows)."""

    row: LogRow
    track: Track | None
    means: str | None = None  # for a session: what the label rules make of it (labels.session_meanings)


class Store:
    """A connection to the library database. Use as a context manager, or call close()."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None,
                                        check_same_thread=False)
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
            _register_functions(self.conn)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils view of the same connection (for bulk inserts/upserts)."""
        import sqlite_utils

        if not hasattr(self, "_db"):
            self._db = sqlite_utils.Database(self.conn, execute_plugins=False)
        return self._db

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction (BEGIN IMMEDIATE ... COMMIT), rolled back on any error."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise _translate(exc, self.path) from exc
            raise

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        try:
            return self.conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise PrefrecError(
                f"{self.path}: written by a newer prefrec (schema {version}, this one knows "
                f"{len(MIGRATIONS)}); upgrade prefrec"
            )
        if version == len(MIGRATIONS):
            return
        with self.write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
            for number in range(version, len(MIGRATIONS)):
                for statement in _statements(MIGRATIONS[number]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")

    @property
    def schema_version(self) -> int:
        return int(self._read("PRAGMA user_version")[0][0])

    def integrity_ok(self) -> bool:
        return self._read("PRAGMA integrity_check")[0][0] == "ok"

    # -- meta --------------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as conn:
            conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # -- tracks and errors -------------------------------------------------------------------------

    def known_files(self, *, retry_failed: bool = False) -> dict[str, tuple[int, int]]:
        """(size, mtime_ns) of every path seen before, analysed or failed; files whose analysis
        failed because of the machine (transient) are left out, so they are analysed again, and
        with `retry_failed` every failed file is."""
        known = {p: (s, m) for p, s, m in self._read("SELECT path, size, mtime_ns FROM tracks")}
        if not retry_failed:
            known.update({p: (s, m) for p, s, m in
                          self._read("SELECT path, size, mtime_ns FROM errors WHERE transient = 0")})
        return known

    def record_analysed(self, rows: list[dict[str, Any]]) -> None:
        """Insert or update analysed files; rows have the `tracks` columns except id/search."""
        now = time.time()
        prepared = []
        for row in rows:
            name = Path(row["path"]).stem
            words = " ".join(x for x in (row["title"], row.get("artist"), row.get("album"), name) if x)
            prepared.append({**row, "search": normalize_text(words), "gone": 0, "analysed_at": now})
        # Plain SQL, not sqlite-utils' upsert_all: importing sqlite_utils (and the numpy it pulls in)
        # cost a scan's parent 0.45 s of CPU, taken from the analysis workers on a 2-core machine.
        columns = list(dict.fromkeys(key for row in prepared for key in row))
        names = ", ".join(f'"{c}"' for c in columns)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != "path")
        marks = ", ".join("?" for _ in columns)
        upsert = f"INSERT INTO tracks ({names}) VALUES ({marks}) ON CONFLICT(path) DO UPDATE SET {updates}"
        with self.write() as conn:
            if prepared:
                conn.executemany(upsert, [[row.get(c) for c in columns] for row in prepared])
            conn.executemany("DELETE FROM errors WHERE path = ?", [(r["path"],) for r in rows])

    def record_failed(self, failures: list[tuple[str, str, int, int, bool]]) -> None:
        """Record files that could not be used: (path, reason, size, mtime_ns, transient) each,
        transient meaning the machine was at fault (retried on the next scan), not the file: a
        track analysed before then keeps its row (and its place in the library) until the retry."""
        now = time.time()
        with self.write() as conn:
            for path, reason, size, mtime_ns, transient in failures:
                if not transient:
                    conn.execute("DELETE FROM tracks WHERE path = ?", (path,))
                conn.execute(
                    "INSERT INTO errors(path, reason, size, mtime_ns, at, transient) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(path) DO UPDATE SET reason = excluded.reason, size = excluded.size, "
                    "mtime_ns = excluded.mtime_ns, at = excluded.at, transient = excluded.transient",
                    (path, reason, size, mtime_ns, now, int(transient)),
                )

    def stale_feature_paths(self, feature_version: int) -> set[str]:
        """Paths of tracks analysed with another feature version (their features must be recomputed)."""
        return {r[0] for r in self._read("SELECT path FROM tracks WHERE feature_version != ?", (feature_version,))}

    def flagged(self, *, short_frames: int) -> list[tuple[str, str]]:
        """(path, note) of present tracks analysed with a warning, or shorter than `short_frames`."""
        # One window's frames has a partial index (migration 9): a few rows, not the whole table.
        index = "INDEXED BY tracks_flagged " if short_frames == WINDOW_FRAMES else ""
        return self._read(
            "SELECT path, CASE WHEN note != '' THEN note ELSE 'shorter than one window: scored from one "
            f"zero-padded window' END FROM tracks {index}WHERE gone = 0 AND (note != '' OR n_frames < {int(short_frames)}) "
            "ORDER BY path")

    def mark_missing(self, present: set[str], roots: list[str]) -> int:
        """Mark tracks under `roots` whose path is not in `present` as gone; forget their errors.

        Returns how many tracks were newly marked gone. Their feedback is kept.
        """
        gone_ids, stale_errors = [], []
        for track_id, path in self._read("SELECT id, path FROM tracks WHERE gone = 0"):
            if path not in present and under_any(path, roots):
                gone_ids.append((track_id,))
        for (path,) in self._read("SELECT path FROM errors"):
            if path not in present and under_any(path, roots):
                stale_errors.append((path,))
        if gone_ids or stale_errors:
            with self.write() as conn:
                conn.executemany("UPDATE tracks SET gone = 1 WHERE id = ?", gone_ids)
                conn.executemany("DELETE FROM errors WHERE path = ?", stale_errors)
        return len(gone_ids)

    def file_state(self, path: str, *, retry_failed: bool = False) -> tuple[int, int] | None:
        """(size, mtime_ns) recorded for `path` (analysed, or failed for a reason of the file's
        own: see known_files), None if never seen or to be analysed again."""
        rows = self._read("SELECT size, mtime_ns FROM tracks WHERE path = ? UNION ALL "
                          "SELECT size, mtime_ns FROM errors WHERE path = ? AND transient = 0 AND NOT ?",
                          (path, path, retry_failed))
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def move_paths(self, moves: list[tuple[str, str]]) -> int:
        """Apply renames/moves (old path, new path) to tracks and errors, in one transaction.

        A track keeps its row (identity, analysis, and so its feedback) under the new path; a row
        already at the new path (a file that was overwritten) is replaced. Returns tracks moved.
        """
        moved = 0
        with self.write() as conn:
            for old, new in moves:
                row = conn.execute("SELECT title, artist, album FROM tracks WHERE path = ?", (old,)).fetchone()
                if row is not None:
                    conn.execute("DELETE FROM tracks WHERE path = ?", (new,))
                    words = " ".join(x for x in (row[0], row[1], row[2], Path(new).stem) if x)
                    conn.execute("UPDATE tracks SET path = ?, search = ?, gone = 0 WHERE path = ?",
                                 (new, normalize_text(words), old))
                    moved += 1
                if conn.execute("SELECT 1 FROM errors WHERE path = ?", (old,)).fetchone():
                    conn.execute("DELETE FROM errors WHERE path = ?", (new,))
                    conn.execute("UPDATE errors SET path = ? WHERE path = ?", (new, old))
        return moved

    def paths_under(self, folder: str) -> list[str]:
        """Paths of present tracks and failed files at or below `folder`."""
        return [p for (p,) in self._read("SELECT path FROM tracks WHERE gone = 0 UNION "
                                         "SELECT path FROM errors ORDER BY 1") if under_any(p, [folder])]

    def feedback_after(self, feedback_id: int) -> tuple[int, float | None]:
        """How many feedback events came after `feedback_id`, and when the newest was given."""
        count, newest = self._read("SELECT count(*), max(created_at) FROM feedback WHERE id > ?",
                                   (feedback_id,))[0]
        return int(count), (float(newest) if newest is not None else None)

    # -- daemon state ------------------------------------------------------------------------------

    def set_daemon_state(self, *, pid: int, state: str, queue: int, watcher: str | None,
                         last_error: str | None, last_error_at: float | None, started_at: float) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO daemon(id, pid, state, queue, watcher, last_error, last_error_at, "
                "started_at, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
                (pid, state, queue, watcher, last_error, last_error_at, started_at, time.time()),
            )

    def clear_daemon_state(self, pid: int) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM daemon WHERE pid = ?", (pid,))

    def daemon_state(self) -> dict[str, Any] | None:
        """The row the daemon last wrote (it may be stale: check the daemon lock first)."""
        rows = self._read("SELECT pid, state, queue, watcher, last_error, last_error_at, started_at, "
                          "updated_at FROM daemon WHERE id = 1")
        if not rows:
            return None
        keys = ("pid", "state", "queue", "watcher", "last_error", "last_error_at", "started_at", "updated_at")
        return dict(zip(keys, rows[0]))

    def tracks(self) -> list[Track]:
        """Every present (not gone) track, in the order they were first analysed."""
        return [Track.from_row(r) for r in self._read(f"SELECT {_TRACK_COLUMNS} FROM tracks WHERE gone = 0 ORDER BY id")]

    def present_identities(self) -> set[str]:
        """Identities of the music present in the library (a piece with several files counts once)."""
        return {r[0] for r in self._read("SELECT DISTINCT identity FROM tracks WHERE gone = 0")}

    def tracks_by_path(self, path: str) -> list[Track]:
        rows = self._read(f"SELECT {_TRACK_COLUMNS} FROM tracks WHERE path = ?", (path,))
        return [Track.from_row(r) for r in rows]

    def paths_ending_with(self, suffix: str, *, limit: int = 20) -> list[str]:
        """Paths of present tracks that end with `suffix` (at most `limit`; a player's relative name)."""
        rows = self._read("SELECT path FROM tracks WHERE gone = 0 AND path LIKE ? ESCAPE '\\' LIMIT ?",
                          ("%" + _escape_like(suffix), limit))
        return [r[0] for r in rows]

    def played_since(self, since: float) -> dict[str, float]:
        """{identity: when its latest listening session started} for sessions started after
        `since` (unix time), withdrawn or not: a player's queue should not repeat them either way."""
        rows = self._read("SELECT identity, max(coalesce(happened_at, created_at)) FROM feedback "
                          "WHERE kind = 'session' AND coalesce(happened_at, created_at) >= ? GROUP BY identity",
                          (since,))
        return {r[0]: float(r[1]) for r in rows}

    def tracks_by_identity(self, identity: str) -> list[Track]:
        rows = self._read(f"SELECT {_TRACK_COLUMNS} FROM tracks WHERE identity = ? ORDER BY gone, id",
                          (identity,))
        return [Track.from_row(r) for r in rows]

    def match_words(self, words: list[str], *, limit: int = 1000, any_word: bool = False) -> list[Track]:
        """Present tracks whose title, artist, album or file name hold every one of `words` as a
        whole word (case and accents ignored; any_word: at least one, most relevant first).

        `words` are single words as `search_words` splits them. Uses the full-text index, so it
        stays fast on a large library.
        """
        words = [w for w in words if w]
        if not words:
            return []
        match = (" OR " if any_word else " ").join(f'"{w}"' for w in words)
        rows = self._read(
            f"SELECT {', '.join('t.' + c.strip() for c in _TRACK_COLUMNS.split(','))} FROM tracks_fts f "
            "JOIN tracks t ON t.id = f.rowid WHERE tracks_fts MATCH ? AND t.gone = 0 ORDER BY f.rank, t.id LIMIT ?",
            (match, limit))
        return [Track.from_row(r) for r in rows]

    def known_words(self, words: list[str]) -> set[str]:
        """Those of `words` that occur in some track's title, artist, album or file name."""
        rows = self._read("SELECT term FROM tracks_vocab WHERE term IN (SELECT value FROM json_each(?))",
                          (json.dumps(sorted(set(words))),))
        return {r[0] for r in rows}

    def vocabulary(self, *, initial: str, min_length: int, max_length: int) -> list[str]:
        """The words of the library's names that start with the letter `initial` and are between
        these lengths (for "did you mean": a range of the full-text index, fast on any library)."""
        return [r[0] for r in self._read("SELECT term FROM tracks_vocab WHERE term >= ? AND term < ? "
                                         "AND length(term) BETWEEN ? AND ?",
                                         (initial, chr(ord(initial) + 1), min_length, max_length))]

    def tracks_under(self, folder: str) -> list[Track]:
        """Present tracks at or below the absolute `folder`, in path order."""
        prefix = folder.rstrip("/") + "/"
        rows = self._read(f"SELECT {_TRACK_COLUMNS} FROM tracks WHERE path >= ? AND path < ? AND gone = 0 "
                          "ORDER BY path", (prefix, prefix[:-1] + "0"))  # '0' sorts right after '/'
        return [Track.from_row(r) for r in rows]

    def tracks_named(self, *, artist: str | None = None, album: str | None = None) -> list[Track]:
        """Present tracks whose artist and/or album equal these names (case and accents ignored)."""
        where, params = ["gone = 0"], []
        for field, name in (("artist", artist), ("album", album)):
            if name is not None:
                where.append(f"prefrec_norm({field}) = ?")
                params.append(normalize_text(name))
        rows = self._read(f"SELECT {_TRACK_COLUMNS} FROM tracks WHERE {' AND '.join(where)} ORDER BY path", params)
        return [Track.from_row(r) for r in rows]

    def list_tracks(self, *, artist: str | None = None, album: str | None = None,
                    folder: str | None = None) -> list[Track]:
        """Present tracks by path: artist/album containing these (case and accents ignored), at or
        below the absolute `folder`."""
        where, params = ["gone = 0"], []
        for field, wanted in (("artist", artist), ("album", album)):
            if wanted:
                where.append(f"prefrec_norm(coalesce({field}, '')) LIKE ? ESCAPE '\\'")
                params.append(f"%{_escape_like(normalize_text(wanted))}%")
        if folder is not None:
            prefix = folder.rstrip("/") + "/"
            where.append("path >= ? AND path < ?")
            params += [prefix, prefix[:-1] + "0"]
        rows = self._read(f"SELECT {_TRACK_COLUMNS} FROM tracks WHERE {' AND '.join(where)} ORDER BY path", params)
        return [Track.from_row(r) for r in rows]

    def scores_of(self, identities: list[str]) -> dict[str, float]:
        """Ranked score of those of `identities` in the current ranking."""
        rows = self._read("SELECT r.identity, r.score FROM json_each(?) j JOIN rankings r ON r.identity = j.value",
                          (json.dumps(sorted(set(identities))),))
        return {i: float(v) for i, v in rows}

    def has_tracks(self) -> bool:
        """Whether anything was ever analysed or tried (a scan has run)."""
        return bool(self._read("SELECT EXISTS (SELECT 1 FROM tracks) OR EXISTS (SELECT 1 FROM errors)")[0][0])

    def folders(self) -> list[str]:
        """The distinct folders holding present tracks, sorted."""
        return [r[0].rstrip("/") for r in self._read("SELECT DISTINCT rtrim(path, replace(path, '/', '')) FROM tracks "
                                         "WHERE gone = 0 ORDER BY 1")]

    def errors(self) -> list[tuple[str, str, bool]]:
        """(path, reason, transient) of every file that could not be analysed; transient: the
        machine was at fault (a full disk, the deadline, the memory limit), not the file."""
        return [(p, r, bool(t)) for p, r, t in self._read("SELECT path, reason, transient FROM errors ORDER BY path")]

    def counts(self) -> dict[str, int]:
        row = self._read(
            "SELECT (SELECT count(*) FROM tracks WHERE gone = 0),"
            " (SELECT count(*) FROM errors),"
            " (SELECT count(*) FROM feedback),"
            " (SELECT count(*) FROM tracks WHERE gone = 1)"
        )[0]
        return {"tracks": row[0], "errors": row[1], "feedback": row[2], "gone": row[3]}

    # -- recordings: files of the same music ------------------------------------------------------

    def unfingerprinted_paths(self, path: str | None = None) -> set[str]:
        """Paths of present tracks (or just `path`) whose music has no recordings row yet (analysed
        before fingerprints existed): a scan analyses them again to fingerprint them."""
        where, params = ("AND t.path = ?", (path,)) if path is not None else ("", ())
        return {r[0] for r in self._read("SELECT t.path FROM tracks t LEFT JOIN recordings r ON r.identity = "
                                         f"t.identity WHERE t.gone = 0 AND r.identity IS NULL {where}", params)}

    def known_recordings(self, identities: list[str]) -> set[str]:
        """Those of `identities` that already have a recordings row."""
        rows = self._read("SELECT r.identity FROM json_each(?) j JOIN recordings r ON r.identity = j.value",
                          (json.dumps(identities),))
        return {r[0] for r in rows}

    def fingerprint_candidates(self, keys: list[int], *, common: int) -> list[tuple[str, str, bytes]]:
        """(identity, recording, fingerprint) of music whose fingerprint shares one of `keys`,
        leaving out keys held by more than `common` identities (silence, test tones)."""
        if not keys:
            return []
        marks = ", ".join("?" * len(keys))
        return self._read(
            f"""SELECT r.identity, r.recording, r.fingerprint FROM recordings r
                WHERE r.fingerprint IS NOT NULL AND r.identity IN (
                    SELECT identity FROM fingerprint_keys WHERE key IN ({marks}) AND key NOT IN (
                        SELECT key FROM fingerprint_keys WHERE key IN ({marks}) GROUP BY key HAVING count(*) > ?))""",
            [*keys, *keys, common])

    def add_recordings(self, rows: list[tuple[str, str, bytes | None, list[int]]],
                       merges: list[tuple[str, str]]) -> None:
        """Record (identity, recording, fingerprint or None, keys) rows and merge recordings
        (old, new): every member of `old` joins `new`. One transaction."""
        with self.write() as conn:
            for old, new in merges:
                conn.execute("UPDATE recordings SET recording = ? WHERE recording = ?", (new, old))
            conn.executemany("INSERT OR REPLACE INTO recordings(identity, recording, fingerprint) VALUES (?, ?, ?)",
                             [(i, r, f) for i, r, f, _ in rows])
            conn.executemany("INSERT OR IGNORE INTO fingerprint_keys(key, identity) VALUES (?, ?)",
                             [(k, i) for i, _, _, keys in rows for k in keys])

    def recording_of(self, identity: str) -> str:
        """The recording `identity`'s music belongs to (itself when no other file shares it)."""
        rows = self._read("SELECT recording FROM recordings WHERE identity = ?", (identity,))
        return rows[0][0] if rows else identity

    def equivalents(self, identity: str) -> list[str]:
        """Every identity of the same recording as `identity` (itself included), sorted."""
        rows = self._read("SELECT identity FROM recordings WHERE recording = (SELECT recording FROM recordings "
                          "WHERE identity = ?) ORDER BY identity", (identity,))
        return [r[0] for r in rows] or [identity]

    def preferred_files(self) -> dict[str, str]:
        """identity -> the identity of its recording to recommend and learn from, for music that
        shares its recording with other files: a present file, untruncated and unflagged first,
        then the longest (a copy cut short loses to the whole)."""
        rows = self._read(
            """SELECT r.identity, (SELECT r2.identity FROM recordings r2 JOIN tracks t ON t.identity = r2.identity
                                   AND t.gone = 0 WHERE r2.recording = r.recording
                                   ORDER BY t.truncated, t.note != '', t.n_frames DESC, r2.identity LIMIT 1)
               FROM recordings r WHERE r.recording IN
                   (SELECT recording FROM recordings GROUP BY recording HAVING count(*) > 1)""")
        return {i: p for i, p in rows if p is not None}

    def recording_map(self) -> dict[str, str]:
        """identity -> recording for music that shares its recording with other files."""
        rows = self._read("SELECT identity, recording FROM recordings WHERE recording IN "
                          "(SELECT recording FROM recordings GROUP BY recording HAVING count(*) > 1)")
        return dict(rows)

    # -- feedback ----------------------------------------------------------------------------------

    def add_act(self, act: Act) -> int:
        """Append one act (like, skip, forget, forget_source) to the feedback log, durably. Returns its id."""
        return self.add_acts([act])[0]

    def add_acts(self, acts: list[Act]) -> list[int]:
        """Append several acts in one durable transaction (a folder or album rated at once)."""
        now = time.time()
        ids = []
        with self.write() as conn:
            for act in acts:
                ids.append(_insert_act(conn, act, now))
        return ids

    def has_live_feedback(self) -> bool:
        """Whether the log holds anything training can learn from: a like, skip, session or
        counts row that no later forget / forget_source withdrew."""
        return bool(self._read(
            "SELECT EXISTS (SELECT 1 FROM feedback f WHERE f.kind IN ('like', 'skip', 'session', 'counts') "
            "AND NOT EXISTS (SELECT 1 FROM feedback x WHERE x.kind = 'forget' AND x.identity = f.identity "
            "AND x.id > f.id) AND NOT EXISTS (SELECT 1 FROM feedback x WHERE x.kind = 'forget_source' "
            "AND x.source = f.source AND x.id > f.id))")[0][0])

    def add_import(self, acts: list[Act], observations: list[Observation]) -> list[int]:
        """Append what one import adds (acts, then counts) in one transaction: all of it or none."""
        now = time.time()
        with self.write() as conn:
            ids = [_insert_act(conn, act, now) for act in acts]
            return ids + [_insert_observation(conn, o, now) for o in observations]

    def add_observation(self, observation: Observation) -> int:
        """Append one observation (a player's listening session, imported counts), durably."""
        return self.add_observations([observation])[0]

    def add_observations(self, observations: list[Observation]) -> list[int]:
        """Append observations in one transaction; returns their ids in order."""
        now = time.time()
        with self.write() as conn:
            return [_insert_observation(conn, o, now) for o in observations]

    def feedback_log(self, *, identity: str | None = None) -> list[LogRow]:
        """Every row of the feedback log in id order (of one identity's music, plus the
        forget_source rows that may withdraw it), `withdrawn` marked (feedback.mark_withdrawn)."""
        where, params = "", ()
        if identity is not None:
            where, params = "WHERE identity = ? OR kind = 'forget_source'", (identity,)
        rows = self._read(f"SELECT {_LOG_COLUMNS} FROM feedback {where} ORDER BY id", params)
        return mark_withdrawn([_log_row(r) for r in rows])

    def ratings(self) -> dict[str, Rating]:
        """Current rating of the music of every identity: the latest like/skip not withdrawn
        given to it or to another file of its recording (a re-encoded or truncated copy)."""
        rows = self._read(f"""WITH {_RATED_CTE}
            SELECT coalesce(m.identity, rm.recording), f.kind, f.position_s, f.id, f.created_at, f.source, f.identity
            FROM rated_music rm JOIN feedback f ON f.id = rm.id
            LEFT JOIN recordings m ON m.recording = rm.recording""")
        return {r[0]: Rating(r[0], r[1], r[2], int(r[3]), float(r[4]), r[5], r[6]) for r in rows}

    def rating_of(self, identity: str) -> Rating | None:
        """The current rating of `identity`'s music (see ratings), None when unrated."""
        rating = None
        for member in self.equivalents(identity):
            for row in self.feedback_log(identity=member):
                if (row.kind in ("like", "skip") and row.identity == member and not row.withdrawn
                        and (rating is None or row.id > rating.feedback_id)):
                    rating = Rating(identity, row.kind, row.position_s, row.id, row.created_at, row.source, member)
        return rating

    def last_feedback_id(self) -> int:
        return int(self._read("SELECT coalesce(max(id), 0) FROM feedback")[0][0])

    def imported_keys(self, source: str) -> dict[str, list[LogRow]]:
        """Not-withdrawn rows of an import `source` by their key (to import only what is new)."""
        rows = self._read(f"SELECT {_LOG_COLUMNS} FROM feedback WHERE source = ? ORDER BY id", (source,))
        keyed: dict[str, list[LogRow]] = {}
        for row in mark_withdrawn([_log_row(r) for r in rows]):
            if row.key is not None and not row.withdrawn and row.kind != "forget_source":
                keyed.setdefault(row.key, []).append(row)
        return keyed

    def feedback_sources(self) -> list[FeedbackSource]:
        """Every source that gave feedback, most recent first (forget rows themselves not counted)."""
        rows = self._read(
            "WITH lastforget AS (SELECT identity, max(id) AS fid FROM feedback WHERE kind = 'forget' GROUP BY identity),"
            " sourceforget AS (SELECT source, max(id) AS sid FROM feedback WHERE kind = 'forget_source' GROUP BY source) "
            "SELECT f.source, count(*), sum(f.id > coalesce(sf.sid, 0) AND f.id > coalesce(lf.fid, 0)), max(f.created_at) "
            "FROM feedback f LEFT JOIN sourceforget sf ON sf.source = f.source "
            "LEFT JOIN lastforget lf ON lf.identity = f.identity "
            "WHERE f.kind NOT IN ('forget', 'forget_source') GROUP BY f.source ORDER BY max(f.id) DESC")
        return [FeedbackSource(r[0], int(r[1]), int(r[2]), float(r[3])) for r in rows]

    def tracks_without_mbid(self) -> list[tuple[int, str]]:
        """(id, path) of present tracks whose tags were never read for a MusicBrainz id."""
        return self._read("SELECT id, path FROM tracks WHERE gone = 0 AND mbid IS NULL ORDER BY id")

    def set_mbids(self, mbids: dict[int, str]) -> None:
        """Record tracks' MusicBrainz recording ids ('' for none) by track id."""
        with self.write() as conn:
            conn.executemany("UPDATE tracks SET mbid = ? WHERE id = ?", [(m, i) for i, m in mbids.items()])

    # -- models, scores, rankings ------------------------------------------------------------------

    def add_model(self, path: str, config: dict[str, Any], *, last_feedback_id: int, n_rated: int,
                  train_s: float, sha256: str | None = None) -> int:
        """Record a fine-tuned model: `path` relative to the data dir, `sha256` of the file."""
        with self.write() as conn:
            cur = conn.execute(
                "INSERT INTO models(path, created_at, config, last_feedback_id, n_rated, train_s, sha256) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (path, time.time(), json.dumps(config, sort_keys=True), last_feedback_id, n_rated, train_s, sha256),
            )
            return int(cur.lastrowid)

    def _models(self, where: str, params: tuple = ()) -> list[ModelRow]:
        rows = self._read("SELECT id, path, created_at, config, last_feedback_id, n_rated, train_s, sha256 "
                          f"FROM models {where}", params)
        return [ModelRow(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7]) for r in rows]

    def latest_model(self) -> ModelRow | None:
        """The newest model, published or not."""
        rows = self._models("ORDER BY id DESC LIMIT 1")
        return rows[0] if rows else None

    def model(self, model_id: int) -> ModelRow | None:
        rows = self._models("WHERE id = ?", (model_id,))
        return rows[0] if rows else None

    def model_paths(self) -> list[str]:
        """The checkpoint path of every model ever recorded (for pruning files prefrec wrote)."""
        return [r[0] for r in self._read("SELECT path FROM models ORDER BY id")]

    def ranked_model_id(self) -> int | None:
        """The model whose scores are in the rankings now (None before the first ranking)."""
        value = self.get_meta("ranked_model_id")
        return int(value) if value is not None else None

    def scored_identities(self, model_id: int) -> set[str]:
        return {r[0] for r in self._read("SELECT identity FROM window_scores WHERE model_id = ?", (model_id,))}

    def save_window_scores(self, model_id: int, rows: list[tuple[str, bytes, bytes]]) -> None:
        """Store (identity, window probabilities, track embedding) computed by `model_id`; both as
        little-endian float32 bytes ([n_windows] and [H], see scoring.encode_f32)."""
        with self.write() as conn:
            conn.executemany("INSERT OR REPLACE INTO window_scores(identity, model_id, scores, embedding) "
                             "VALUES (?, ?, ?, ?)", [(i, model_id, p, e) for i, p, e in rows])

    def window_score_blobs(self, model_id: int) -> list[tuple[str, bytes]]:
        """(identity, window probabilities as float32 bytes) of every track `model_id` scored."""
        return self._read("SELECT identity, scores FROM window_scores WHERE model_id = ?", (model_id,))

    def embedding_blobs(self, model_id: int) -> list[tuple[str, bytes]]:
        """(identity, track embedding as float32 bytes) under `model_id`, in identity order."""
        return self._read("SELECT identity, embedding FROM window_scores WHERE model_id = ? "
                          "AND embedding IS NOT NULL ORDER BY identity", (model_id,))

    def embeddings_of(self, model_id: int, identities: list[str]) -> dict[str, list[float]]:
        """Track embeddings [H] of those of `identities` scored by `model_id`, by identity in
        identity order, as Python floats (no numpy: for fast paths that need a few)."""
        rows = self._read("SELECT w.identity, w.embedding FROM json_each(?) j JOIN window_scores w "
                          "ON w.identity = j.value AND w.model_id = ? WHERE w.embedding IS NOT NULL "
                          "ORDER BY w.identity", (json.dumps(identities), model_id))
        return {identity: _f32_list(blob) for identity, blob in rows}

    def window_score_list(self, identity: str, model_id: int) -> list[float] | None:
        """Window probabilities of `identity` under `model_id` as Python floats [n_windows] (no numpy)."""
        rows = self._read("SELECT scores FROM window_scores WHERE identity = ? AND model_id = ?",
                          (identity, model_id))
        return _f32_list(rows[0][0]) if rows else None

    def publish_rankings(self, model_id: int, ranked: list[tuple[str, float, float]]) -> int:
        """Swap in `model_id`'s ranking, (identity, track score, spread of its window scores) per
        track (scoring.ranking computes them), atomically.

        Window scores of older models are dropped in the same transaction; a newer model's (a
        trainer still writing them) are kept. Returns the number ranked.
        """
        with self.write() as conn:
            conn.execute("DELETE FROM rankings")
            conn.executemany("INSERT INTO rankings(identity, model_id, score, spread) VALUES (?, ?, ?, ?)",
                             [(identity, model_id, score, spread) for identity, score, spread in ranked])
            conn.execute("DELETE FROM window_scores WHERE model_id < ?", (model_id,))
            conn.execute("INSERT INTO meta(key, value) VALUES ('ranked_model_id', ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(model_id),))
            conn.execute("INSERT INTO meta(key, value) VALUES ('ranked_at', ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(time.time()),))
        return len(ranked)

    def set_starter(self, identities: list[str]) -> None:
        """Replace the starter set's order (best first) with `identities`."""
        with self.write() as conn:
            conn.execute("DELETE FROM starter")
            conn.executemany("INSERT INTO starter(position, identity) VALUES (?, ?)", list(enumerate(identities)))

    def starter_tracks(self) -> list[Track]:
        """The starter set's tracks in its order, one present file per identity."""
        rows = self._read(f"SELECT {', '.join('t.' + c.strip() for c in _TRACK_COLUMNS.split(','))} FROM starter s "
                          "JOIN tracks t ON t.id = (SELECT min(x.id) FROM tracks x WHERE x.identity = s.identity "
                          "AND x.gone = 0) ORDER BY s.position")
        return [Track.from_row(r) for r in rows]

    def clear_rankings(self) -> None:
        """Set the published ranking aside (every rating was withdrawn: it describes no one's taste)."""
        with self.write() as conn:
            conn.execute("DELETE FROM rankings")
            conn.execute("DELETE FROM meta WHERE key IN ('ranked_model_id', 'ranked_at')")

    def candidates(self, filters: RecommendFilter, *, by: str = "score",
                   short_frames: int = WINDOW_FRAMES) -> Iterator[Ranked]:
        """Unrated, present, not banned ranked tracks passing `filters`, one file per recording
        (files of the same music: its best-ranked file), best score first (by="score") or most
        spread-out window scores first (by="spread"). Unless filters.include_flagged, files
        flagged by analysis (truncated, NaN samples) or shorter than `short_frames` are left out.

        "Unrated" and "banned" cover every file of a recording. Yields lazily (rank 0), so a
        caller may stop early; the ranking is read as one snapshot.
        """
        if by not in ("score", "spread"):
            raise ValueError(by)
        recording = _RECORDING_OF.format(x="r.identity")
        where, params = [f"{recording} NOT IN (SELECT recording FROM rated_music)"], []
        bans: dict[str, list[str]] = {}
        for ban in self.bans():
            bans.setdefault(ban.kind, []).append(ban.value)
        if bans.get("track"):
            banned = sorted({self.recording_of(identity) for identity in bans["track"]})
            where.append(f"{recording} NOT IN ({', '.join('?' * len(banned))})")
            params += banned
        for field in ("artist", "album"):
            if bans.get(field):
                where.append(f"(t.{field} IS NULL OR prefrec_norm(t.{field}) NOT IN "
                             f"({', '.join('?' * len(bans[field]))}))")
                params += bans[field]
        for field, wanted in (("artist", filters.artist), ("album", filters.album)):
            if wanted:
                where.append(f"prefrec_norm(coalesce(t.{field}, '')) LIKE ? ESCAPE '\\'")
                params.append(f"%{_escape_like(normalize_text(wanted))}%")
        if filters.min_duration_s is not None:
            where.append("t.duration_s >= ?")
            params.append(filters.min_duration_s)
        if filters.max_duration_s is not None:
            where.append("t.duration_s <= ?")
            params.append(filters.max_duration_s)
        if filters.folder is not None:
            where.append("t.path LIKE ? ESCAPE '\\'")
            params.append(_escape_like(filters.folder.rstrip("/")) + "/%")
        if not filters.include_flagged:
            where.append("t.note = '' AND t.truncated = 0 AND t.n_frames >= ?")
            params.append(short_frames)
        # Walks rankings in index order (score or spread), one present file per identity through
        # tracks_present, so the first rows come back without sorting the whole library.
        order = "r.score DESC" if by == "score" else "r.spread DESC, r.score DESC"  # NULL spread last
        sql = f"""
            WITH {_RATED_CTE}
            SELECT r.score, r.spread, {recording}, {', '.join('t.' + c.strip() for c in _TRACK_COLUMNS.split(','))}
            FROM rankings r
            JOIN tracks t ON t.id = (SELECT min(x.id) FROM tracks x WHERE x.identity = r.identity AND x.gone = 0)
            WHERE {' AND '.join(where)}
            ORDER BY {order}, t.id
            """
        seen: set[str] = set()
        preferred = self.preferred_files()
        try:
            cursor = self.conn.execute(sql, params)
            for row in cursor:
                if row[2] in seen or preferred.get(row[5], row[5]) != row[5]:
                    continue  # another file of music already listed, or of music with a better file
                seen.add(row[2])
                yield Ranked(0, float(row[0]), Track.from_row(row[3:]), None if row[1] is None else float(row[1]))
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc

    # -- bans --------------------------------------------------------------------------------------

    def add_ban(self, kind: str, value: str, label: str) -> bool:
        """Ban a track (value: its identity) or an artist/album (value: its normalised name).
        Returns False when it was banned already."""
        with self.write() as conn:
            cur = conn.execute("INSERT OR IGNORE INTO bans(kind, value, label, created_at) VALUES (?, ?, ?, ?)",
                               (kind, value, label, time.time()))
            return cur.rowcount == 1

    def remove_ban(self, kind: str, value: str) -> bool:
        """Lift a ban; returns False when there was none."""
        with self.write() as conn:
            return conn.execute("DELETE FROM bans WHERE kind = ? AND value = ?", (kind, value)).rowcount == 1

    def bans(self) -> list[Ban]:
        """Every ban, oldest first."""
        return [Ban(*r) for r in self._read("SELECT kind, value, label, created_at FROM bans ORDER BY created_at")]

    def distinct_names(self, field: str) -> list[str]:
        """Distinct artist or album names of present tracks, sorted."""
        if field not in ("artist", "album"):
            raise ValueError(field)
        return [r[0] for r in self._read(f"SELECT DISTINCT {field} FROM tracks WHERE gone = 0 "
                                         f"AND {field} IS NOT NULL ORDER BY {field}")]

    # -- history -----------------------------------------------------------------------------------

    def history(self, limit: int, *, source: str | None = None) -> list[FeedbackEvent]:
        """The latest `limit` rows of the feedback log (of one `source` if given), newest first,
        `withdrawn` marked, with the track each is about now (a present file of the same music if
        there is one, else the file rated, if still known)."""
        limit = min(limit, 2**62)  # SQLite integers are 64-bit; `history -n 99999999999999999999` means all
        where, params = ("WHERE source = ?", [source]) if source is not None else ("", [])
        rows = self._read(
            f"""
            SELECT {', '.join('f.' + c.strip() for c in _LOG_COLUMNS.split(','))},
                   {', '.join('t.' + c.strip() for c in _TRACK_COLUMNS.split(','))}
            FROM (SELECT * FROM feedback {where} ORDER BY id DESC LIMIT ?) f
            LEFT JOIN tracks t ON t.id = (SELECT id FROM tracks WHERE identity = f.identity ORDER BY gone, id LIMIT 1)
            ORDER BY f.id DESC
            """,
            [*params, limit],
        )
        n = len(_LOG_COLUMNS.split(","))
        log = [_log_row(r[:n]) for r in rows]
        withdrawn = self._withdrawn_ids([r.id for r in log])
        return [FeedbackEvent(replace(row, withdrawn=row.id in withdrawn),
                              Track.from_row(r[n:]) if r[n] is not None else None) for row, r in zip(log, rows)]

    def _withdrawn_ids(self, ids: list[int]) -> set[int]:
        """Which of the log rows `ids` a later forget (of their identity) or forget_source (of
        their source) withdrew."""
        if not ids:
            return set()
        rows = self._read(
            "SELECT f.id FROM json_each(?) j JOIN feedback f ON f.id = j.value WHERE f.kind != 'forget_source' AND ("
            "EXISTS (SELECT 1 FROM feedback x WHERE x.kind = 'forget' AND x.identity = f.identity AND x.id > f.id) OR "
            "EXISTS (SELECT 1 FROM feedback x WHERE x.kind = 'forget_source' AND x.source = f.source AND x.id > f.id))",
            (json.dumps(ids),))
        return {int(r[0]) for r in rows}

    def rank_of(self, identity: str) -> tuple[int, float, int] | None:
        """(rank among all ranked identities, score, how many are ranked), rank 1 = best; None if
        `identity` is not ranked."""
        rows = self._read(
            "SELECT score, (SELECT count(*) FROM rankings b WHERE b.score > a.score) + 1, "
            "(SELECT count(*) FROM rankings) FROM rankings a WHERE identity = ?", (identity,)
        )
        return (int(rows[0][1]), float(rows[0][0]), int(rows[0][2])) if rows else None


def _insert_act(conn: sqlite3.Connection, act: Act, now: float) -> int:
    detail = json.dumps({"source": act.source}) if act.kind == "forget_source" else None
    cur = conn.execute(
        "INSERT INTO feedback(identity, path, kind, source, position_s, created_at, happened_at, key, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (act.identity, act.path, act.kind, act.source, act.position_s, now, act.happened_at, act.key, detail),
    )
    return int(cur.lastrowid)


def _insert_observation(conn: sqlite3.Connection, o: Observation, now: float) -> int:
    cur = conn.execute(
        "INSERT INTO feedback(identity, path, kind, source, created_at, happened_at, key, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (o.identity, o.path, o.kind, o.source, now, o.happened_at, o.key, o.detail()),
    )
    return int(cur.lastrowid)


def _f32_list(blob: bytes) -> list[float]:
    """A little-endian float32 blob as Python floats (no numpy)."""
    values = array.array("f", blob)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()


def _f32_std(blob: bytes | None) -> float | None:
    """Population std of a float32 little-endian blob (SQL function prefrec_f32_std; no numpy)."""
    if blob is None:
        return None
    values = _f32_list(blob)
    if not values:
        return None
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def _register_functions(conn: sqlite3.Connection) -> None:
    """SQL functions: prefrec_norm(text) (normalize_text) and prefrec_f32_std(blob)."""
    conn.create_function("prefrec_norm", 1, lambda t: None if t is None else normalize_text(t),
                         deterministic=True)
    conn.create_function("prefrec_f32_std", 1, _f32_std, deterministic=True)


def _statements(script: str) -> list[str]:
    """Split a migration into statements (triggers contain ';' inside BEGIN ... END)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _translate(exc: sqlite3.DatabaseError, path: Path) -> PrefrecError:
    message = str(exc)
    if "pattern too complex" in message or "Expression tree is too large" in message:
        # what the listener typed is beyond SQLite's limits (a LIKE pattern of 50,000 bytes, an
        # expression of 1,000 terms): a usage problem, not a damaged database
        return UsageError("what you typed is too long to search for; give a few words of the title, artist "
                          "or file name")
    if "locked" in message or "busy" in message:
        return StoreBusy(f"{path}: the database stayed locked by another prefrec process; try again")
    if "disk is full" in message or "disk I/O" in message:
        return PrefrecError(f"{path}: could not write ({message}); free some disk space and retry")
    if "readonly" in message or "unable to open" in message:
        return PrefrecError(f"{path}: cannot open the database for writing ({message}); check permissions")
    if "not a database" in message or "malformed" in message:
        return PrefrecError(f"{path}: the database file is damaged ({message}); restore it from a backup")
    return PrefrecError(f"{path}: database error ({message})")
