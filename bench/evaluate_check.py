"""Does `prefrec evaluate` agree with the persona benchmark, and does a persona with no signal get
the warning? Both through the CLI, on copies of a scanned data dir of the benchmark corpus.

1. Persona PERSONA, repeat R, K rated tracks (persona_lib.make_splits, the benchmark's split):
   `prefrec like`/`skip` each, `prefrec train`, `prefrec recommend --json`, `prefrec evaluate --json`.
   The benchmark's figure for that split is ROC-AUC over the unrated tracks (computed here from
   `recommend`, and compared with the in-process run's row when --rows is given); `evaluate`
   estimates it from the rated tracks alone, with a 95% interval: is the benchmark's inside?
2. No-signal personas: K tracks rated at random (a fixed seed each, a third liked): `prefrec train`
   must say "your ratings don't separate yet"; how often it does is reported.

The data dir copies get the pretrained encoder the in-process benchmark uses (PRETRAINED, as
`prefrec scan` makes it: the library's tracks in identity order, seed 0), installed as the service
installs a pretraining's checkpoint, so no copy pretrains again. Usage:

    python bench/evaluate_check.py BASE PRETRAINED [--persona auto] [--repeat 0] [--k 40] \
        [--random 3] [--rows rows.json ...] --out check.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import persona_lib as pl  # noqa: E402
from personas import cli  # noqa: E402


def install_pretrained(home: Path, pretrained: Path) -> None:
    """Put `pretrained` in `home` as Learning.pretrain_if_needed saves a pretraining's result."""
    from prefrec.checkpoint import load_checkpoint, save_checkpoint
    from prefrec.config import load_settings
    from prefrec.pretrain import PRETRAIN_VERSION, PretrainConfig, library_fingerprint
    from prefrec.service import Service

    model = load_checkpoint(pretrained).model
    with Service(load_settings(home)) as service:
        cache = service.cache
        present = sorted(i for i in service.store.present_identities() if cache.has(i))
        config = PretrainConfig(seed=service.settings.train_seed)
        sha256 = save_checkpoint(model, service.learning.pretrained_path, extra={
            "kind": "pretrained", "pretrain_version": PRETRAIN_VERSION, "pretrain_config": asdict(config),
            "fingerprint": library_fingerprint(present), "identities": present,
        })
        service.store.set_meta("pretrained_sha256", sha256)
        assert service.learning.load_pretrained() is not None


def rate_and_train(home: Path, corpus: pl.Corpus, rated: list[int], liked: np.ndarray) -> tuple[str, float]:
    for i in rated:
        cli(home, "like" if liked[i] else "skip", corpus.paths[i])
    said: list[str] = []
    t = time.perf_counter()
    cli(home, "train", stderr=said)
    return said[-1], time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base", type=Path)
    ap.add_argument("pretrained", type=Path)
    ap.add_argument("--corpus", type=Path, default=pl.CORPUS)
    ap.add_argument("--persona", default="auto", help="a persona, or auto: the first with enough "
                    "likes in its split for `evaluate`")
    ap.add_argument("--repeat", type=int, default=0)
    ap.add_argument("--k", type=int, default=40)
    ap.add_argument("--random", type=int, default=3, help="no-signal personas (random ratings) to train")
    ap.add_argument("--rows", type=Path, nargs="*", default=[])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prefrec-evalcheck-"))
    base = work / "base"
    shutil.copytree(args.base, base)
    (base / "trainer.lock").unlink(missing_ok=True)
    cli(base, "status")  # migrates the copy once
    install_pretrained(base, args.pretrained)
    corpus = pl.load_corpus(base, args.corpus)
    result: dict = {}

    from prefrec.service.learning import MIN_EVALUATION_RATINGS

    personas = pl.default_personas(corpus) if args.persona == "auto" else [args.persona]
    ks = (10, 20, 40) if args.k in (10, 20, 40) else (args.k,)
    candidates = [s for s in pl.make_splits(corpus, ks=ks, repeats=1, personas=personas, first_repeat=args.repeat)
                  if s.k == args.k]
    # auto: the first persona (persona_lib's order) whose split has enough likes for `evaluate`
    split = next((s for s in candidates if MIN_EVALUATION_RATINGS <= s.labels[s.rated].sum()
                  <= len(s.rated) - MIN_EVALUATION_RATINGS), candidates[0])
    home = work / "persona"
    shutil.copytree(base, home)
    said, train_s = rate_and_train(home, corpus, split.rated, split.labels)
    recs = json.loads(cli(home, "recommend", "--json", "-n", "100000"))
    by_path = {r["path"]: r["score"] for r in recs}
    index = {p: i for i, p in enumerate(corpus.paths)}
    scores = {index[p]: s for p, s in by_path.items() if p in index}
    auc, p10 = pl.metrics(split, scores)
    t = time.perf_counter()
    evaluation = json.loads(cli(home, "evaluate", "--json"))
    bench = [r for path in args.rows for r in json.loads(path.read_text())
             if (r["persona"], r["repeat"], r["k"]) == (split.persona, split.repeat, split.k)]
    track = evaluation["splits"]["track"]
    est = track["prefrec"]["auc"]
    result["persona"] = {
        "persona": split.persona, "repeat": split.repeat, "k": split.k, "train_stderr": said, "train_s": train_s,
        "benchmark_auc_cli": auc, "benchmark_p10_cli": p10,
        "benchmark_rows": {r["method"]: r["auc"] for r in bench},
        "evaluate_s": time.perf_counter() - t, "evaluate": evaluation,
        "inside": est["low"] <= auc <= est["high"],
    }
    print(f"{split.persona} r={split.repeat} K={split.k}: benchmark ROC-AUC (CLI) {auc:.3f}, in-process rows "
          f"{result['persona']['benchmark_rows']}; evaluate by track {est['value']:.3f} "
          f"({est['low']:.3f}-{est['high']:.3f}) -> inside: {result['persona']['inside']}; "
          f"baseline {track['baseline']['auc']['value']:.3f} "
          f"({track['baseline']['auc']['low']:.3f}-{track['baseline']['auc']['high']:.3f}); "
          f"by album {evaluation['splits']['album'].get('prefrec', {}).get('auc')}", flush=True)

    result["random"] = []
    for seed in range(args.random):
        rng = np.random.default_rng(1000 + seed)
        rated = [int(i) for i in rng.choice(len(corpus.paths), args.k, replace=False)]
        liked = np.zeros(len(corpus.paths))
        liked[rng.choice(rated, args.k // 3, replace=False)] = 1.0
        home = work / f"random-{seed}"
        shutil.copytree(base, home)
        said, train_s = rate_and_train(home, corpus, rated, liked)
        warned = "your ratings don't separate yet" in said
        rec_said: list[str] = []
        cli(home, "recommend", stderr=rec_said)
        result["random"].append({"seed": seed, "warned": warned, "recommend_warned":
                                 "your ratings don't separate yet" in rec_said[-1], "train_stderr": said,
                                 "train_s": train_s})
        print(f"random ratings, seed {seed}: train warned {warned}; recommend warned "
              f"{result['random'][-1]['recommend_warned']}\n{said.strip()}", flush=True)
        args.out.write_text(json.dumps(result, indent=1))
    args.out.write_text(json.dumps(result, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
