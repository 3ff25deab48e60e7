"""A checkpoint is tied to its model row, through the command line: a moved or copied data dir
keeps working, a tampered or replaced model file is never used to score (scan and train say in
one line that it was rebuilt), and an interrupted training leaves the published model current."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import by_style, cli, db_rows, write_music


def current_model(home):
    (path, model_id), = db_rows(home, "SELECT m.path, m.id FROM models m JOIN meta ON meta.key = 'ranked_model_id' "
                                "AND m.id = CAST(meta.value AS INTEGER)")
    return home / path, model_id


def test_a_moved_and_a_copied_data_dir_keep_working(trained, tmp_path):
    _, home, tracks = trained
    ranked = cli(home, "recommend", "--json").json()
    moved = tmp_path / "elsewhere" / "prefrec"
    moved.parent.mkdir()
    shutil.move(home, moved)
    copy = tmp_path / "copy"
    shutil.copytree(moved, copy)
    shutil.rmtree(moved / "features")  # the copy must not lean on the original's files
    for where in (copy, moved):
        if where == moved:
            shutil.copytree(copy / "features", moved / "features")
        assert cli(where, "recommend", "--json").json() == ranked
        unrated = by_style(tracks, "chiptune")[0]
        assert "best segments:" in cli(where, "explain", str(unrated.path)).stdout
        trained_again = cli(where, "train", env={"PREFREC_TRAIN_MAX_EPOCHS": "2"})
        assert "could not be used" not in trained_again.stderr
        model, _ = current_model(where)
        assert model.parent == where / "models" and model.is_file()


@pytest.mark.parametrize("damage", ["garbage", "other model"])  # a missing one: test_daemon's rebuild test
def test_a_tampered_model_is_never_used_and_scan_says_it_was_rebuilt(trained, damage):
    music, home, tracks = trained
    model, old_id = current_model(home)
    if damage == "garbage":
        model.write_bytes(b"\x80\x04not a model at all")
    else:
        shutil.copyfile(home / "models" / "pretrained.pt", model)  # a valid checkpoint, but not this one
    write_music(music / "new" / "late arrival.flac", 9.0, seed=42)  # needs scoring: the model is loaded
    try:
        scan = cli(home, "scan", str(music), env={"PREFREC_TRAIN_MAX_EPOCHS": "2"})
    finally:
        shutil.rmtree(music / "new")
    lines = [line for line in scan.stderr.splitlines() if "previous model could not be used" in line]
    assert len(lines) == 1 and lines[0].endswith("; rebuilt it"), scan.stderr
    assert str(model) in lines[0]
    new_model, new_id = current_model(home)
    assert new_id > old_id and new_model.is_file()
    scored_by = {m for (m,) in db_rows(home, "SELECT DISTINCT model_id FROM rankings")}
    assert scored_by == {new_id}  # every ranked track, the new one included, scored by the rebuilt model
    assert db_rows(home, "SELECT count(*) FROM rankings")[0][0] == len(tracks) + 1


def test_train_says_when_the_model_it_replaces_was_altered(trained):
    _, home, _ = trained
    model, _ = current_model(home)
    model.write_bytes(model.read_bytes()[:-10] + b"0123456789")
    ran = cli(home, "train", env={"PREFREC_TRAIN_MAX_EPOCHS": "2"})
    (line,) = [line for line in ran.stderr.splitlines() if "previous model could not be used" in line]
    assert "not the one prefrec saved" in line and line.endswith("; rebuilt it")


def test_an_interrupted_training_leaves_the_published_model_current(trained):
    from prefrec.config import load_settings
    from prefrec.service import Service

    _, home, _ = trained
    _, published = current_model(home)
    ranked_before = cli(home, "recommend", "--json").json()

    def interrupt(stage, done, total):  # Ctrl-C while the new model scores the library
        if stage == "scoring":
            raise KeyboardInterrupt

    with Service(load_settings(home)) as service, pytest.raises(KeyboardInterrupt):
        service.learning.train(progress=interrupt)
    (newest,), = db_rows(home, "SELECT max(id) FROM models")
    assert newest > published  # its checkpoint was written and recorded, not published
    status = cli(home, "status", "--json").json()
    assert status["model"]["id"] == published
    assert status["unpublished_model"] == {"id": newest, "state": "interrupted"}
    assert f"model:    #{published}," in cli(home, "status").stdout
    assert f"model #{newest} was never published" in cli(home, "status").stdout
    assert cli(home, "recommend", "--json").json() == ranked_before
