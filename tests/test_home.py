"""prefrec never touches files it did not create: the data dir guard, read-only commands on a
mistyped --home, the demo on a data dir in use, pruning of models/ and the temporary-file sweep."""

from __future__ import annotations

import pytest

from tests.helpers import cli, db_rows, plant_temporaries, write_music


def tree(folder):
    """Every path under `folder` (relative), or None when it does not exist."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else None


@pytest.mark.parametrize("command", [["scan", "MUSIC"], ["status"], ["train"], ["like", "song"],
                                     ["recommend"], ["daemon", "MUSIC"]])
def test_a_folder_that_is_not_a_data_dir_is_refused_and_left_as_it_was(tmp_path, command):
    music = tmp_path / "music"
    write_music(music / "a.flac", 3.0)
    home = tmp_path / "thesis"
    home.mkdir()
    (home / "chapter1.tex").write_text("my work")
    (home / "notes").mkdir()
    before = tree(home)
    ran = cli(home, *[str(music) if a == "MUSIC" else a for a in command], check=False)
    assert ran.returncode == 2, ran
    assert ran.stderr.count("\n") == 1 and "not a prefrec data dir and not empty" in ran.stderr
    assert "chapter1.tex" in ran.stderr and "--home" in ran.stderr
    assert tree(home) == before


def test_an_empty_folder_or_one_with_only_a_config_becomes_a_data_dir(tmp_path):
    music = tmp_path / "music"
    write_music(music / "a.flac", 3.0)
    empty, configured = tmp_path / "empty", tmp_path / "configured"
    empty.mkdir()
    configured.mkdir()
    (configured / "config.toml").write_text("workers = 1\n")
    for home in (empty, configured):
        cli(home, "scan", "--no-train", str(music))
        assert db_rows(home, "SELECT count(*) FROM tracks") == [(1,)]
        assert cli(home, "status", "--json").json()["analysed"] == 1  # and it is one from now on
    assert (configured / "config.toml").read_text() == "workers = 1\n"


@pytest.mark.parametrize("command", [["status"], ["status", "--json"], ["recommend"], ["history"],
                                     ["explain", "song"], ["similar", "song"], ["like", "song"],
                                     ["skip", "song"], ["forget", "song"], ["ban", "--artist", "x"], ["train"],
                                     ["search", "song"], ["list"]])
def test_a_mistyped_home_with_a_command_that_does_not_scan_creates_nothing(tmp_path, command):
    typo = tmp_path / "prefrce"
    ran = cli(typo, *command, check=False)
    message = (f"{typo}: no prefrec data dir here yet; run `prefrec scan FOLDER` to create one, or check "
               "--home (or $PREFREC_HOME)\n")
    if command[0] == "status":  # status reports that there is nothing, and succeeds
        assert ran.returncode == 0 and ran.stderr == message
        assert str(typo) in ran.stdout
    else:
        assert ran.returncode == 1 and ran.stdout == "" and ran.stderr == f"prefrec: {message}"
    assert not typo.exists()


def test_demo_refuses_a_data_dir_that_holds_a_library(library):
    _, home, _ = library
    before = db_rows(home, "SELECT count(*), max(analysed_at) FROM tracks")
    ran = cli(home, "demo", check=False)
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1
    assert "already holds a library (20 tracks" in ran.stderr and "--home" in ran.stderr
    assert db_rows(home, "SELECT count(*), max(analysed_at) FROM tracks") == before


def test_pruning_models_deletes_only_checkpoints_the_models_table_records(trained):
    _, home, _ = trained
    models = home / "models"
    foreign = [models / "model-1700000000000-3.pt", models / "notes.txt", models / ".tmp-foo",
               models / "keep" / "model-0-0.pt"]
    for path in foreign:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"mine, not prefrec's")
    recorded = [home / p for (p,) in db_rows(home, "SELECT path FROM models ORDER BY id")]
    for _ in range(3):  # 4 models in all: the oldest one's checkpoint is pruned (3 are kept)
        cli(home, "train", env={"PREFREC_TRAIN_MAX_EPOCHS": "1"})
    paths = [home / p for (p,) in db_rows(home, "SELECT path FROM models ORDER BY id")]
    assert len(paths) == 4 and paths[0] == recorded[0]
    assert not paths[0].exists() and all(p.exists() for p in paths[1:])
    assert all(p.read_bytes() == b"mine, not prefrec's" for p in foreign)


def test_the_sweep_removes_only_prefrecs_own_old_temporaries(tmp_path):
    home, music = tmp_path / "home", tmp_path / "music"
    write_music(music / "a.flac", 3.0)
    stale, kept = plant_temporaries(home)
    cli(home, "scan", "--no-train", str(music))
    assert [p for p in stale if p.exists()] == []
    assert [p for p in kept if p.exists()] == kept
