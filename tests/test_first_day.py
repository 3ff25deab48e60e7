"""The first day and messages that match the state (issue 13, points 3-5): the starter set covers
the library's sound and folders, withdrawing every rating brings it back with no stale ranking,
like/skip say who retrains, and progress is labelled by stage and fits 80 columns."""

import io
import json
import sqlite3

import numpy as np
import pytest

from prefrec.starter import starter_order
from tests.helpers import cli, cli_json, invoke


def test_the_starter_order_represents_every_cluster_of_sound_before_repeating_one():
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 10, size=(5, 16))
    sizes = [40, 25, 10, 10, 3]  # a big cluster, two middling ones, a small one, a few outliers
    vectors = np.concatenate([c + rng.normal(0, 1, size=(n, 16)) for c, n in zip(centres, sizes)])
    cluster = np.repeat(np.arange(5), sizes)
    order = starter_order(vectors, [("all", "one folder")] * len(vectors))
    assert len(order) == len(vectors) and sorted(order) == list(range(len(vectors)))
    assert set(cluster[order[:5]]) == {0, 1, 2, 3, 4}, "five picks: one from each cluster"
    assert cluster[order[0]] == 0, "the first is the most typical track"
    # picks are representatives, not the extremes farthest-point sampling would take
    first = order[0]
    members = np.flatnonzero(cluster == 0)
    spread = np.linalg.norm(vectors[members] - vectors[members].mean(axis=0), axis=1)
    assert np.linalg.norm(vectors[first] - vectors[members].mean(axis=0)) <= np.median(spread)


def test_the_starter_order_spreads_over_top_folders_then_folders_before_sound():
    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(30, 8))
    groups = [(f"artist {i % 3}", f"folder {i % 6}") for i in range(30)]  # 3 artists, 2 folders each
    order = starter_order(vectors, groups, count=12)
    assert {groups[i][0] for i in order[:3]} == {"artist 0", "artist 1", "artist 2"}
    assert {groups[i][1] for i in order[:6]} == {f"folder {k}" for k in range(6)}
    assert starter_order(np.zeros((0, 8)), []) == []


def test_library_groups_follow_the_layout_whatever_the_tags():
    from prefrec.starter import library_groups

    nested = library_groups(["/m/Artist A/Album 1/01.ogg", "/m/Artist A/Album 2/01.ogg", "/m/Artist B/X/01.ogg"],
                            ["A", "Various", None])
    assert [g[0] for g in nested] == ["/m/Artist A", "/m/Artist A", "/m/Artist B"]
    assert [g[1] for g in nested] == ["/m/Artist A/Album 1", "/m/Artist A/Album 2", "/m/Artist B/X"]
    sources = library_groups(["/c/flare/a.ogg", "/c/nexuiz/b.ogg"], ["Some Composer", None])
    assert [g[0] for g in sources] == ["/c/flare", "/c/nexuiz"]
    flat = library_groups(["/m/a.ogg", "/m/b.ogg"], ["X", "Y"])
    assert [g[0] for g in flat] == ["/m", "/m"] and [g[2] for g in flat] == ["x", "y"]


def test_withdrawing_every_rating_sets_the_ranking_aside_and_brings_the_starter_set_back(library):
    _, home, tracks = library
    starter = cli_json(home, "recommend", "--json", "-n", "5")
    cli(home, "like", str(tracks[0].path))
    cli(home, "skip", str(tracks[-1].path))
    cli(home, "train")
    ranked = cli_json(home, "recommend", "--json")
    assert ranked and not any(r["starter"] for r in ranked)
    cli(home, "forget", str(tracks[0].path))
    proc = cli(home, "forget", str(tracks[-1].path))
    assert "no rating is left: the ranking is set aside" in proc.stderr
    again = cli_json(home, "recommend", "--json", "-n", "5")
    assert again == starter, "back to the same starter set, not a stale ranking"
    status = cli_json(home, "status", "--json")
    assert status["ranked_at"] is None and status["model"]["in_use"] is False and not status["model"]["stale"]
    assert "set aside" in cli(home, "status").stdout
    code, _, err = invoke(home, "explain", str(tracks[1].path))
    assert code == 1 and "no model yet" in err
    # a ranking published meanwhile (a training that started before the forget) is set aside by the
    # next training attempt, which has nothing to learn from
    conn = sqlite3.connect(home / "prefrec.sqlite")
    conn.execute("INSERT INTO meta(key, value) VALUES ('ranked_model_id', '1')")
    conn.execute("INSERT INTO rankings(identity, model_id, score) SELECT identity, 1, 0.5 FROM tracks")
    conn.commit()
    conn.close()
    assert cli_json(home, "status", "--json")["model"]["in_use"] is True
    code, _, err = invoke(home, "train")
    assert code == 1 and "no feedback yet" in err
    assert cli_json(home, "status", "--json")["model"]["in_use"] is False
    # and the next rating starts over: only a like so far, so more tracks to rate meanwhile
    cli(home, "like", str(tracks[0].path))
    proc = cli(home, "recommend")
    assert "needs a skip as well" in proc.stderr and "1." in proc.stdout


def test_like_and_skip_say_the_running_daemon_will_retrain(library):
    from prefrec.lock import DAEMON_LOCK, PidLock

    _, home, tracks = library
    code, _, err = invoke(home, "like", str(tracks[0].path))
    assert "run `prefrec train`" in err and "daemon (pid" not in err
    with PidLock(home / DAEMON_LOCK, what="the daemon"):  # the lock a running daemon holds
        import os

        code, _, err = invoke(home, "skip", str(tracks[1].path), "--at", "3")
        assert code == 0 and f"the daemon (pid {os.getpid()}) will retrain" in err and "prefrec train" not in err
        code, _, err = invoke(home, "forget", str(tracks[1].path))
        assert "the daemon (pid" in err


def test_stages_are_labelled_and_each_line_fits_80_columns():
    from rich.console import Console

    from prefrec.render import Stages

    def shown(stages):
        console = Console(file=io.StringIO(), width=80, record=True, color_system=None)
        console.print(stages.progress.make_tasks_table(stages.progress.tasks))
        return [line for line in console.export_text().splitlines() if line.strip()]

    stages = Stages(Console(file=io.StringIO(), width=80))
    stages.on_result(type("R", (), {"duration_s": 180.0})())
    stages("analysing", 99_999, 100_000)
    lines = shown(stages)
    assert len(lines) == 1 and lines[0].startswith("analysing") and "99999/100000" in lines[0]
    stages("pretraining", 1_234, 1_500)
    stages("fine-tuning", 40, 100)
    stages("scoring", 100_000, 100_000)
    lines = shown(stages)
    labels = ["analysing", "learning the library's sound", "fine-tuning", "scoring"]
    assert [next(label for label in labels if line.startswith(label)) for line in lines] == labels, lines
    assert "100000/100000" in lines[0]  # a stage is complete when the next starts
    assert "1500/1500" in lines[1] and "100/100" in lines[2] and "epochs" in lines[2] and "steps" in lines[1]
    assert all(len(line) <= 80 for line in lines), [len(line) for line in lines]


def test_train_reports_fine_tuning_epochs_then_scoring_never_an_unknown_total(library):
    from prefrec.config import load_settings
    from prefrec.service import Service

    _, home, tracks = library
    cli(home, "like", str(tracks[0].path))
    cli(home, "skip", str(tracks[-1].path))
    calls = []
    with Service(load_settings(str(home))) as service:
        result = service.learning.train(progress=lambda stage, done, total: calls.append((stage, done, total)))
    stages = [c[0] for c in calls]
    assert stages[0] == "fine-tuning" and stages[-1] == "scoring"
    assert stages.index("scoring") == stages.count("fine-tuning")  # every epoch first, then scoring
    assert all(total > 0 and done <= total for _, done, total in calls)
    epochs = [c for c in calls if c[0] == "fine-tuning"]
    assert epochs[-1][1] == epochs[-1][2]  # it ends at its total
    assert calls[-1] == ("scoring", len(tracks), len(tracks)) and result.scored == len(tracks)


def test_pretraining_reports_its_steps():
    from prefrec.pretrain import PretrainConfig, pretrain

    rng = np.random.default_rng(0)
    library = [rng.normal(size=(20, 900)).astype(np.float32) for _ in range(4)]
    calls = []
    _, report = pretrain(library, config=PretrainConfig(min_steps=6, max_steps=6, batch_tracks=4),
                         progress=lambda done, total: calls.append((done, total)))
    assert calls == [(k, 6) for k in range(1, 7)]
    assert report.embeddings.shape == (4, 64) and np.isfinite(report.embeddings).all()


def test_the_scan_summary_gives_the_rates_of_analysis_alone():
    from typer.testing import CliRunner

    from prefrec.render import scan_report
    from prefrec.service.library import ScanReport

    report = ScanReport(found=10, analysed=10, audio_seconds=1000.0, seconds=100.0, analysis_seconds=2.0)
    with CliRunner().isolation() as (_, err, _):
        scan_report(report)
        text = err.getvalue().decode()
    assert "analysis 2.0 s, 5.0 tracks/s, 500× real time" in text


@pytest.mark.parametrize("command", [["recommend", "--json"], ["recommend", "--m3u"], ["recommend"]])
def test_the_starter_set_is_offered_in_every_format(library, command):
    _, home, tracks = library
    proc = cli(home, *command, "-n", "3")
    if command[-1] == "--json":
        items = json.loads(proc.stdout)
        assert len(items) == 3 and all(i["starter"] for i in items)
    elif command[-1] == "--m3u":
        assert proc.stdout.count("#EXTINF:") == 3 and "starter set" in proc.stdout
    else:
        assert "starter set" in proc.stderr and proc.stdout.count("–") >= 3


def test_counts_in_messages_agree_with_their_nouns():
    from prefrec.errors import NotReady
    from prefrec.train import fit, make_example
    from prefrec.trainer import TrainerOutcome

    one_like = [make_example("a", np.zeros((20, 500), dtype=np.float32), "like", None)]
    with pytest.raises(NotReady, match=r"have 1 like, 0 skips\)"):
        fit(one_like, [])
    done = TrainerOutcome(0, [{"event": "pretrained", "tracks": 1, "steps": 1, "seconds": 2.0},
                              {"event": "trained", "likes": 1, "skips": 2, "train_s": 1.0, "scored": 1, "model_id": 3},
                              {"event": "scored", "tracks": 1}, {"event": "done"}])
    assert done.message == ("pretrained on 1 track (1 step, 2 s); trained on 1 like and 2 skips in 1.0 s, "
                              "ranked 1 track (model #3); scored 1 new track")
