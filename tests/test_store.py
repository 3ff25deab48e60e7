import sqlite3

import pytest

from prefrec.errors import PrefrecError
from prefrec.feedback import Act
from prefrec.store import MIGRATIONS, Store, normalize_text


def test_new_database_is_migrated_in_wal_mode(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.integrity_ok()
    with Store(tmp_path / "db.sqlite") as store:  # reopening does not migrate again
        assert store.schema_version == len(MIGRATIONS)


# What each released schema version added, in order: a database that stopped at version v (made by
# the prefrec of that time) holds the first v of these. Migrations are append-only; moving one
# would make such a database run another's SQL (e.g. "table bans already exists").
ADDED_BY_VERSION = [("tracks", None), ("bans", None), ("daemon", None), ("tracks", "note"), ("feedback", "source"),
                    ("models", "sha256"), ("tracks", "mbid"), ("recordings", None), ("index", "tracks_flagged"),
                    ("errors", "transient")]


def _has(conn, table, column) -> bool:
    if table == "index":
        return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (column,)).fetchall())
    if column is None:
        return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchall())
    return column in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _schema(conn) -> set:
    return set(conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS)))
def test_a_database_of_every_earlier_version_upgrades_to_the_current_schema(tmp_path, version):
    from prefrec.store import _register_functions, _statements

    assert len(ADDED_BY_VERSION) == len(MIGRATIONS), "a new migration: add what it adds to ADDED_BY_VERSION"
    old = sqlite3.connect(tmp_path / "old.sqlite")
    _register_functions(old)
    for script in MIGRATIONS[:version]:
        for statement in _statements(script):
            old.execute(statement)
    old.execute(f"PRAGMA user_version = {version}")
    old.commit()
    assert [_has(old, *added) for added in ADDED_BY_VERSION] == [i < version for i in range(len(MIGRATIONS))]
    old.close()
    with Store(tmp_path / "old.sqlite") as upgraded, Store(tmp_path / "new.sqlite") as fresh:
        assert upgraded.schema_version == len(MIGRATIONS)
        assert _schema(upgraded.conn) == _schema(fresh.conn)


def test_database_from_a_newer_prefrec_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(PrefrecError, match="newer prefrec"):
        Store(tmp_path / "db.sqlite")


def test_feedback_is_append_only(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        store.add_act(Act("a1-x", "/m/x.flac", "like"))
        with pytest.raises(PrefrecError, match="append-only"):
            with store.write() as conn:
                conn.execute("DELETE FROM feedback")
        with pytest.raises(PrefrecError, match="append-only"):
            with store.write() as conn:
                conn.execute("UPDATE feedback SET kind = 'skip'")
        assert store.counts()["feedback"] == 1


def test_latest_rating_wins_and_forget_withdraws_it(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        store.add_act(Act("a1-x", "/m/x.flac", "like"))
        store.add_act(Act("a1-x", "/m/x.flac", "skip", position_s=12.0))
        store.add_act(Act("a1-y", "/m/y.flac", "like"))
        store.add_act(Act("a1-y", "/m/y.flac", "forget"))
        ratings = store.ratings()
        assert set(ratings) == {"a1-x"}
        assert ratings["a1-x"].kind == "skip" and ratings["a1-x"].position_s == 12.0
        assert store.rating_of("a1-y") is None
        assert store.counts()["feedback"] == 4  # nothing was deleted


def test_a_corrupt_database_gives_a_clear_error(tmp_path):
    (tmp_path / "db.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(PrefrecError, match="damaged|not a database"):
        Store(tmp_path / "db.sqlite")


def test_text_is_matched_without_case_or_accents():
    assert normalize_text("Beyoncé ÉTÉ") == "beyonce ete"
