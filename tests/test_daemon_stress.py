"""The daemon under concurrent CLI use and under SIGKILL: the listener's ratings are never lost
and the database never breaks. Real processes, real signals, generated audio."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest

from prefrec.synth import write_library
from tests.daemon_helpers import Daemon, query, tracks_by_path, wait_until
from tests.helpers import ROOT, run_cli

pytestmark = pytest.mark.slow  # minutes each: run by `.ci/run` after the default suite (pytest -m slow)

CLI_CLIENT = textwrap.dedent("""
    import contextlib, io, json, random, sys, time
    from prefrec.cli import main

    home, seed, n, paths = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    rng = random.Random(seed)
    done = []
    for _ in range(n):
        r = rng.random()
        if r < 0.5:
            args = [rng.choice(["like", "skip"]), rng.choice(paths)]
        elif r < 0.75:
            args = ["recommend", "--json"]
        else:
            args = ["status", "--json"]
        out, err, code = io.StringIO(), io.StringIO(), 0
        started = time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(["--home", home, *args])
            except SystemExit as exc:
                code = exc.code or 0
        done.append({"args": args, "code": code, "stderr": err.getvalue(),
                     "seconds": time.perf_counter() - started})
    print(json.dumps(done))
""")


def test_cli_while_the_daemon_analyses_and_trains(tmp_path):
    """500 CLI ratings and queries from 4 processes while the daemon analyses a burst of files and
    retrains: no 'database is locked', every acknowledged rating is in the feedback log."""
    music, home = tmp_path / "music", tmp_path / "home"
    write_library(music, ["plucks", "drums"], 4, seed=11, min_s=9, max_s=12)
    client = tmp_path / "client.py"
    client.write_text(CLI_CLIENT)
    with Daemon(home, music, PREFREC_WORKERS="2", PREFREC_QUIET_PERIOD_S="0.5",
                PREFREC_TRAIN_AFTER_EVENTS="60") as d:
        wait_until(lambda: len(tracks_by_path(home)) == 8, what="startup scan", daemon=d)
        paths = sorted(tracks_by_path(home))
        env = {"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}
        clients = [subprocess.Popen([sys.executable, str(client), str(home), str(seed), "125", *paths],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                   for seed in range(4)]
        write_library(music / "burst", ["chiptune", "wind"], 8, seed=12, min_s=9, max_s=12)
        results = []
        for c in clients:
            out, err = c.communicate(timeout=600)
            assert c.returncode == 0, err
            results += json.loads(out)
        wait_until(lambda: len(tracks_by_path(home)) == 24, what="the burst analysed", daemon=d)
        d.wait_idle(timeout=240)
        log = d.log()
        d.stop()
    assert len(results) == 500
    failures = [r for r in results if r["code"] != 0]
    locked = [r for r in results if "locked" in r["stderr"]]
    assert not locked and "locked" not in log
    assert not failures, failures[:3]
    acknowledged = Counter((r["args"][1], r["args"][0]) for r in results if r["args"][0] in ("like", "skip"))
    stored = Counter(query(home, "SELECT path, kind FROM feedback"))
    assert stored == acknowledged
    models = query(home, "SELECT count(*) FROM models")[0][0]
    assert models >= 1 and "training failed" not in log
    seconds = sorted(r["seconds"] for r in results)
    print(f"\n500 CLI operations ({sum(acknowledged.values())} ratings) during analysis of 16 files and "
          f"{models} trainings: 0 locked, median {seconds[250] * 1000:.0f} ms, max {seconds[-1] * 1000:.0f} ms")


def test_sigkill_during_analysis_and_training_loses_nothing(tmp_path):
    """SIGKILL the daemon 20 times while it analyses or trains, restarting it each time."""
    from prefrec.checkpoint import load_checkpoint
    from prefrec.config import load_settings
    from prefrec.service import Service

    music, home = tmp_path / "music", tmp_path / "home"
    write_library(music, ["plucks", "drums"], 3, seed=21, min_s=9, max_s=11)
    rng = random.Random(5)
    settings = dict(PREFREC_SETTLE_S="0.2", PREFREC_QUIET_PERIOD_S="0.2")
    acknowledged: dict[int, tuple[str, str]] = {}
    first_analysed: dict[str, float] = {}
    kinds_at_kill: Counter = Counter()

    def rate(service: Service) -> None:
        tracks = [t for t in service.store.tracks()]
        track = rng.choice(tracks)
        kind = "like" if "Plucks" in track.title or "Wind" in track.title else "skip"
        acknowledged[service.control.rate(track.path, kind).feedback_id] = (track.path, kind)

    def check_after_kill() -> None:
        assert query(home, "PRAGMA integrity_check") == [("ok",)]
        stored = {r[0]: (r[1], r[2]) for r in query(home, "SELECT id, path, kind FROM feedback")}
        assert {i: stored.get(i) for i in acknowledged} == acknowledged
        for path, (_, _, analysed_at, _) in tracks_by_path(home).items():
            assert first_analysed.setdefault(path, analysed_at) == analysed_at, f"{path} analysed twice"
        latest = query(home, "SELECT path, sha256 FROM models ORDER BY id DESC LIMIT 1")
        if latest:
            load_checkpoint(home / latest[0][0], sha256=latest[0][1])

    run_cli(home, "scan", "--no-train", str(music))
    with Service(load_settings(home)) as service:
        for track in service.store.tracks()[:1] + service.store.tracks()[-1:]:  # a drums and a plucks track
            kind = "like" if "Plucks" in track.title else "skip"
            acknowledged[service.control.rate(track.path, kind).feedback_id] = (track.path, kind)
    check_after_kill()

    for cycle in range(20):
        target = "training" if cycle % 2 else "scanning"
        if target == "scanning":
            # Enough audio that its analysis lasts a few seconds (it is fast: ~0.3 s per file here).
            write_library(music / f"new {cycle}", ["wind" if cycle % 4 else "chiptune"], 4,
                          seed=100 + cycle, min_s=40, max_s=60)
        with Service(load_settings(home)) as service:
            if target == "training":
                rate(service)
            # In analysis cycles a long quiet period keeps the retraining for later cycles.
            quiet = {"PREFREC_QUIET_PERIOD_S": "600"} if target == "scanning" else {}
            with Daemon(home, music, **{**settings, **quiet}) as d:
                wait_until(lambda d=d, target=target: (s := d.state()) and s["pid"] == d.proc.pid
                           and s["state"] == target,
                           timeout=120, what=target, daemon=d)
                if target == "training":
                    rate(service)  # a rating given while the daemon trains
                time.sleep(rng.uniform(0.1, 2.5))
                at_kill = d.state() or {}
                kinds_at_kill[f"{at_kill.get('state')}{' with files queued' if at_kill.get('queue') else ''}"] += 1
                d.kill()
        check_after_kill()

    with Daemon(home, music, **settings) as d:
        files = {str(p) for p in music.rglob("*.flac")}
        wait_until(lambda: {p for p, v in tracks_by_path(home).items() if not v[1]} == files,
                   timeout=240, what="all files analysed", daemon=d)
        last_feedback = max(acknowledged)

        def fresh() -> bool:
            model = query(home, "SELECT id, last_feedback_id FROM models ORDER BY id DESC LIMIT 1")
            ranked = query(home, "SELECT value FROM meta WHERE key = 'ranked_model_id'")
            return bool(model and ranked and model[0][1] == last_feedback and ranked[0][0] == str(model[0][0])
                        and query(home, "SELECT count(*) FROM rankings")[0][0] == len(files))

        wait_until(fresh, timeout=240, what="a model of all feedback, ranked", daemon=d)
        d.wait_idle(timeout=240)
        d.stop()
    check_after_kill()
    assert len(tracks_by_path(home)) == len(files)
    assert query(home, "SELECT count(*) FROM errors")[0][0] == 0
    assert query(home, "SELECT count(*) FROM rankings")[0][0] == len(files)
    print(f"\n20 SIGKILLs, state at the kill: {dict(kinds_at_kill)}; {len(acknowledged)} ratings kept, "
          f"{len(files)} files analysed once each")
