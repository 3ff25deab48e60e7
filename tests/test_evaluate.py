"""`prefrec evaluate`, and the warning of `train` and `recommend` when ratings do not separate."""


import pytest

from prefrec.service.learning import separation_warning
from tests.helpers import cli, cli_json


def _rate(home, tracks, likes, skips):
    for t in likes:
        cli(home, "like", str(t.path))
    for t in skips:
        cli(home, "skip", str(t.path))


def test_evaluate_refuses_with_too_few_ratings_and_says_how_many_more(library):
    _, home, tracks = library
    plucks = [t for t in tracks if t.style == "plucks"]
    wind = [t for t in tracks if t.style == "wind"]
    _rate(home, tracks, plucks[:3], wind[:5])
    proc = cli(home, "evaluate", check=False)
    assert proc.returncode == 1
    assert "have 3 and 5" in proc.stderr and "rate 2 more you like" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow  # about 30 s of CPU: 10 fold fits and a full train through the CLI
def test_evaluate_reports_prefrec_and_the_baseline_on_the_same_folds_with_intervals(library, tmp_path):
    pytest.importorskip("matplotlib")
    _, home, tracks = library
    plucks = [t for t in tracks if t.style == "plucks"]
    others = [t for t in tracks if t.style in ("wind", "drums")]
    _rate(home, tracks, plucks, others)
    plot = tmp_path / "quality.png"
    result = cli_json(home, "evaluate", "--json", "--repeats", "1", "--plot", str(plot))
    assert (result["likes"], result["skips"], result["repeats"]) == (5, 10, 1)
    by_track, by_album = result["splits"]["track"], result["splits"]["album"]
    assert by_track["groups"] == 15 and by_track["tracks"] == 15
    assert by_album["groups"] == 6  # two albums per style: plucks, wind, drums
    for split in (by_track, by_album):
        for method in ("prefrec", "baseline"):
            for metric in ("auc", "p10"):
                e = split[method][metric]
                assert 0 <= e["low"] <= e["value"] <= e["high"] <= 1, (method, metric, e)
        d = split["difference"]["auc"]
        assert d["value"] == pytest.approx(split["prefrec"]["auc"]["value"] - split["baseline"]["auc"]["value"])
        assert 0 <= split["ece"] <= 1 and sum(b["tracks"] for b in split["reliability"]) == split["tracks"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    status = cli_json(home, "status", "--json")
    assert status["evaluation"]["splits"]["track"]["prefrec"] == by_track["prefrec"]
    text = cli(home, "status").stdout
    assert "evaluate: ROC-AUC" in text and "just now" in text
    human = cli(home, "evaluate", "--repeats", "1").stdout
    assert "by track" in human and "by album" in human and "baseline" in human and "difference" in human


def test_train_and_recommend_warn_when_the_ratings_carry_no_signal(library):
    _, home, tracks = library
    # likes and skips spread evenly over the styles: nothing in the music tells them apart
    by_style = {s: [t for t in tracks if t.style == s] for s in ("plucks", "wind", "chiptune")}
    likes = [ts[i] for ts in by_style.values() for i in (0, 2)]
    skips = [ts[i] for ts in by_style.values() for i in (1, 3)]
    _rate(home, tracks, likes, skips)
    trained = cli(home, "train")
    assert "your ratings don't separate yet" in trained.stderr, trained.stderr
    rec = cli(home, "recommend")
    assert "your ratings don't separate yet" in rec.stderr
    status = cli_json(home, "status", "--json")
    quality = status["model"]["quality"]
    assert quality["separates"] is False and quality["oof_tracks"] == 12
    assert quality["oof_auc"]["low"] <= 0.5 <= quality["oof_auc"]["high"]


def test_the_warning_follows_the_held_out_interval():
    base = {"likes": 3, "skips": 9, "calibration": {"scale": 1, "bias": 0}, "oof_tracks": 12}
    clear = {**base, "oof_auc": {"value": 0.9, "low": 0.7, "high": 1.0}, "separates": True}
    assert separation_warning(clear) is None
    vague = {**base, "oof_auc": {"value": 0.7, "low": 0.45, "high": 0.9}, "separates": False}
    assert "don't separate yet" in separation_warning(vague) and "of what you like" in separation_warning(vague)
    more_likes = {**vague, "likes": 9, "skips": 3}
    assert "of what you do not like" in separation_warning(more_likes)
    unknown = {**base, "oof_auc": None, "separates": None}
    assert "too few ratings" in separation_warning(unknown)
    assert separation_warning(None) is None  # models from before the check say nothing


def test_a_grouping_whose_held_out_music_is_all_of_one_kind_is_unavailable_not_nan():
    """Likes all in one album: holding it out leaves nothing liked to learn from, so no album
    fold scores a liked track and the album-grouped ROC-AUC does not exist; evaluate says so
    (before training anything) instead of reporting NaN."""
    from types import SimpleNamespace

    from prefrec.service.learning import _cross_validated
    from prefrec.train import TrainConfig

    identities = [f"t{i:02d}" for i in range(30)]
    explicit = {i: SimpleNamespace(identity=i, label=1.0 if n < 6 else 0.0) for n, i in enumerate(identities)}
    group_of = {i: "album:liked" if n < 6 else f"album:other-{n % 6}" for n, i in enumerate(identities)}
    result = _cross_validated(list(explicit.values()), explicit, identities, group_of, None, TrainConfig(), None,
                              repeats=2, progress=lambda done, total: None)
    assert "unavailable" in result and "like" in result["unavailable"], result
