"""Scoring a library after the model changed: parallel workers and head-only updates give the
reference path's scores (prefrec.scoring.score_track on the saved model), real files throughout."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from prefrec.checkpoint import load_checkpoint
from prefrec.config import load_settings
from prefrec.model import ModelConfig, TasteModel
from prefrec.reps import RepCache, decode, encode, encoder_fingerprint
from prefrec.rescoring import job_for, score_tracks
from prefrec.scoring import decode_f32, score_track, track_score
from prefrec.service import Service
from prefrec.train import RepExample, TrainConfig, fit_head
from tests.helpers import built_once, cli


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def _by_style(tracks):
    by_style = {}
    for t in tracks:
        by_style.setdefault(t.style, []).append(t)
    return by_style


@pytest.fixture(scope="session")
def trained_3_epochs(scanned_library, tmp_path_factory):
    """The scanned library with 2 plucks liked, a drums and a wind track skipped and a model trained
    for 3 epochs, built once per run: (home, tracks by style). Copy it (`trained`) before changing it."""
    _, home, tracks = scanned_library
    by_style = _by_style(tracks)

    def build(base):
        shutil.copytree(home, base / "home")
        (base / "home" / "config.toml").write_text("train_max_epochs = 3\n")
        cli(base / "home", "like", str(by_style["plucks"][0].path))
        cli(base / "home", "like", str(by_style["plucks"][1].path))
        cli(base / "home", "skip", str(by_style["drums"][0].path))
        cli(base / "home", "skip", str(by_style["wind"][0].path), "--at", "5")
        cli(base / "home", "train")

    return built_once(tmp_path_factory, "trained-3-epochs", build) / "home", by_style


@pytest.fixture
def trained(trained_3_epochs, tmp_path):
    """A private copy of `trained_3_epochs`: (home, tracks by style)."""
    home, by_style = trained_3_epochs
    shutil.copytree(home, tmp_path / "home")
    return tmp_path / "home", by_style


def test_parallel_workers_give_the_reference_scores_and_store_representations(trained):
    home, _ = trained
    settings = load_settings(home)
    with Service(settings) as service:
        row = service.store.latest_model()
        model = load_checkpoint(row.file(home), sha256=row.sha256).model
        identities = sorted(service.store.present_identities())
        fingerprint = encoder_fingerprint(model)
        job = job_for(row, settings, fingerprint=fingerprint)
        out = {i: (p, e) for i, p, e in score_tracks(model, job, identities, workers=2, min_per_worker=2)}
        assert set(out) == set(identities)
        reps = RepCache(settings.reps_dir, fingerprint)
        for identity in identities:
            features = service.cache.load(identity)
            probs, embedding = score_track(model, features)
            np.testing.assert_allclose(decode_f32(out[identity][0]), probs, atol=1e-5)
            np.testing.assert_allclose(decode_f32(out[identity][1]), embedding, atol=1e-5)
            stored, n_frames = reps.load(identity)
            assert n_frames == features.shape[1]
            with torch.inference_mode():
                exact = model.track_representations(torch.from_numpy(features)).numpy()
            np.testing.assert_allclose(stored, exact, atol=1e-3, rtol=1e-3)  # float16 on disk


_DAMAGED_CHECKPOINT = """
import sys
from pathlib import Path
from prefrec.checkpoint import BadCheckpoint
from prefrec.model import ModelConfig, TasteModel
from prefrec.rescoring import ScoringJob, score_tracks

folder = Path(sys.argv[1])
(folder / "model.pt").write_bytes(b"not a checkpoint")
job = ScoringJob(str(folder / "model.pt"), None, str(folder / "features"))
try:
    list(score_tracks(TasteModel(ModelConfig()), job, ["a", "b", "c", "d"], workers=2, min_per_worker=1))
except BadCheckpoint as exc:
    print(exc)
"""


def test_a_checkpoint_the_workers_cannot_load_is_an_error_not_a_hang(tmp_path):
    # Loaded in the workers' initializer, a bad checkpoint made multiprocessing start new workers
    # forever; loaded with the first task, it reaches the trainer, which rebuilds the model.
    proc = subprocess.run([sys.executable, "-c", _DAMAGED_CHECKPOINT, str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "cannot read the model" in proc.stdout and proc.stdout.count("prefrec train") == 1, proc.stdout


def test_the_published_ranking_is_the_reference_one_after_a_full_train(trained):
    home, _ = trained
    with Service(load_settings(home)) as service:
        row = service.store.latest_model()
        model = load_checkpoint(row.file(home), sha256=row.sha256).model
        blobs = service.store.window_score_blobs(row.id)
        assert len(blobs) == len(service.store.present_identities())
        for identity, blob in blobs:
            np.testing.assert_allclose(decode_f32(blob), score_track(model, service.cache.load(identity))[0],
                                       atol=1e-5)


def test_a_head_update_keeps_the_encoder_and_ranks_as_its_model_does(trained):
    home, by_style = trained
    cli(home, "like", str(by_style["chiptune"][0].path))
    with Service(load_settings(home)) as service:
        base = service.store.latest_model()
        result, _ = service.learning.refresh_model(fast=True)
        assert result is not None and result.kind == "head"
        row = service.store.latest_model()
        assert row.id == result.model_id and row.config["head_update"]["encoder_model_id"] == base.id
        assert row.last_feedback_id == service.store.last_feedback_id()
        old = load_checkpoint(base.file(home), sha256=base.sha256).model
        new = load_checkpoint(row.file(home), sha256=row.sha256).model
        old_state, new_state = old.state_dict(), new.state_dict()
        for name, value in new_state.items():
            if name.startswith(new.HEAD_PREFIX):
                assert not torch.equal(value, old_state[name]), name  # the head learnt something
            else:
                assert torch.equal(value, old_state[name]), name  # the encoder is untouched
        # The published window scores (head on float16 representations) against the reference path
        # on the new checkpoint: within float16's rounding per window, and the same ranking.
        published, reference = {}, {}
        for identity, blob in service.store.window_score_blobs(row.id):
            ref = score_track(new, service.cache.load(identity))[0]
            np.testing.assert_allclose(decode_f32(blob), ref, atol=3e-3)
            published[identity], reference[identity] = track_score(decode_f32(blob)), track_score(ref)
        keys = sorted(published)
        assert len(keys) == len(service.store.present_identities())
        a, b = np.array([published[k] for k in keys]), np.array([reference[k] for k in keys])
        assert _spearman(a, b) >= 0.999
        assert np.abs(a - b).max() < 1e-3
        ranked = dict((i, s) for i, s, _ in service.store._read("SELECT identity, score, spread FROM rankings"))
        assert service.store.ranked_model_id() == row.id and set(ranked) == set(keys)


def test_a_full_train_after_head_updates_drops_the_old_representations(trained):
    home, by_style = trained
    settings = load_settings(home)
    cli(home, "skip", str(by_style["drums"][1].path))
    with Service(settings) as service:
        service.learning.refresh_model(fast=True)
        assert service.learning.full_retrain_due()
        before = {p.name for p in settings.reps_dir.iterdir()}
        result = service.learning.train()
        assert result.kind == "full" and not service.learning.full_retrain_due()
        after = {p.name for p in settings.reps_dir.iterdir()}
        row = service.store.latest_model()
        fingerprint = encoder_fingerprint(load_checkpoint(row.file(home)).model)
        assert after == {fingerprint[:32]} and after != before


def test_fit_head_learns_on_representations_and_is_repeatable():
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = TasteModel(ModelConfig(lstm_hidden=8)).eval()
    width = 8 + model.config.n_wide  # the LSTM's state, then the window's standardised statistics
    examples = []
    for k in range(8):
        label = float(k % 2)
        reps = rng.normal(label, 1.0, (30, width)).astype(np.float32)
        weights = np.ones(30, dtype=np.float32) if label else np.r_[np.ones(10), np.zeros(20)].astype(np.float32)
        examples.append(RepExample(f"t{k}", reps, label, weights))
    config = TrainConfig(head_steps=150)
    first, report = fit_head(model, examples, config=config)
    second, _ = fit_head(model, examples, config=config)
    assert report.losses[-1] < report.losses[0] * 0.8
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name
        if not name.startswith(model.HEAD_PREFIX):
            assert torch.equal(a, model.state_dict()[name]), name
    changed = [n for n, p in first.named_parameters() if not torch.equal(p, model.state_dict()[n])]
    assert sorted(changed) == ["head.bias", "head.weight", "wide_bias", "wide_weight"]  # deep head and wide part
    with torch.no_grad():
        liked = torch.sigmoid(first.head_logits(torch.from_numpy(examples[1].reps))).mean()
        skipped = torch.sigmoid(first.head_logits(torch.from_numpy(examples[0].reps))).mean()
    assert liked > skipped


def test_representation_files_round_trip_and_refuse_damage(tmp_path):
    reps = np.random.default_rng(1).normal(0, 1, (7, 5)).astype(np.float32)
    values, n_frames = decode(encode(reps, 700))
    assert n_frames == 700 and values.shape == (7, 5)
    np.testing.assert_allclose(values, reps, rtol=1e-3, atol=1e-3)
    cache = RepCache(tmp_path, "ab" * 32)
    cache.save("id-1", reps, 700)
    cache.path_for("id-1").write_bytes(encode(reps, 700)[:-3])
    assert cache.load("id-1") is None and not cache.path_for("id-1").exists()
    with pytest.raises(ValueError):
        decode(b"PRFQ" + bytes(40))


def test_columns_shared_by_every_window_are_stored_once_and_read_back(tmp_path):
    rng = np.random.default_rng(2)
    track = rng.normal(0, 1, 60).astype(np.float32)  # the track's statistics, the same in every window
    reps = np.concatenate([rng.normal(0, 1, (173, 124)), np.broadcast_to(track, (173, 60))], axis=1).astype(np.float32)
    blob = encode(reps, 9000)
    assert len(blob) < 2 * 173 * 124 + 2 * 60 + 64  # not 2 * 173 * 184
    values, n_frames = decode(blob)
    assert n_frames == 9000 and values.shape == (173, 184)
    np.testing.assert_array_equal(values, reps.astype(np.float16).astype(np.float32))  # only float16 rounding
    for odd in (reps[:1], reps[:, :124], np.zeros((0, 184), np.float32)):  # one window, none shared, no window
        np.testing.assert_array_equal(decode(encode(odd, 400))[0], odd.astype(np.float16).astype(np.float32))
    old_format = b"PRFR" + (1).to_bytes(4, "little") + (400).to_bytes(4, "little") + (2).to_bytes(4, "little") \
        + (3).to_bytes(4, "little") + np.arange(6, dtype="<f2").tobytes()  # format 1: every value stored
    np.testing.assert_array_equal(decode(old_format)[0], np.arange(6, dtype=np.float32).reshape(2, 3))
    with pytest.raises(ValueError):
        decode(blob[:-2])


_HEAP_GROWTH = """
import sys
from prefrec.analysis import retain_freed_memory

def heap_kb():
    with open("/proc/self/maps") as f:
        for line in f:
            if line.rstrip().endswith("[heap]"):
                start, end = (int(x, 16) for x in line.split()[0].split("-"))
                return (end - start) // 1024
    return 0

took = retain_freed_memory() if sys.argv[1] == "retain" else None
before = heap_kb()
block = bytearray(4 << 20)  # 4 MiB
print(took, heap_kb() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc")
def test_scoring_workers_keep_freed_memory_for_reuse():
    # glibc maps a 4 MiB block on its own (and unmaps it when freed) by default; after
    # retain_freed_memory it comes from the heap, whose freed memory is kept for the next track.
    runs = {mode: subprocess.run([sys.executable, "-c", _HEAP_GROWTH, mode], capture_output=True, text=True,
                                 check=True).stdout.split() for mode in ("default", "retain")}
    assert runs["retain"][0] == "True"
    assert int(runs["retain"][1]) >= 4096 > int(runs["default"][1])
