import sqlite3

import pytest

from prefrec.errors import PrefrecError
from prefrec.store import MIGRATIONS, Store, normalize_text


def test_new_database_is_migrated_in_wal_mode(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.integrity_ok()
    with Store(tmp_path / "db.sqlite") as store:  # reopening does not migrate again
        assert store.schema_version == len(MIGRATIONS)


def test_database_from_a_newer_prefrec_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(PrefrecError, match="newer prefrec"):
        Store(tmp_path / "db.sqlite")


def test_feedback_is_append_only(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        store.add_feedback("a1-x", "/m/x.flac", "like")
        with pytest.raises(PrefrecError, match="append-only"):
            with store.write() as conn:
                conn.execute("DELETE FROM feedback")
        with pytest.raises(PrefrecError, match="append-only"):
            with store.write() as conn:
                conn.execute("UPDATE feedback SET kind = 'skip'")
        assert store.counts()["feedback"] == 1


def test_latest_rating_wins_and_forget_withdraws_it(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        store.add_feedback("a1-x", "/m/x.flac", "like")
        store.add_feedback("a1-x", "/m/x.flac", "skip", 12.0)
        store.add_feedback("a1-y", "/m/y.flac", "like")
        store.add_feedback("a1-y", "/m/y.flac", "forget")
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
