"""The tables of bench/RESULTS.md's issue-12 reported run from personas_inprocess.py rows: per K
(ROC-AUC, paired difference with its standard error, precision@10, ECE of the calibrated scores,
how often `train` warned) and per persona (mean ROC-AUC against the baseline). Usage:

    python bench/persona_summary.py rows-0.json [rows-1.json ...]
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefrec.calibration import expected_calibration_error  # noqa: E402

KS = (10, 20, 40)


def main() -> None:
    rows = [r for path in sys.argv[1:] for r in json.loads(Path(path).read_text())]
    pre = {(r["persona"], r["k"], r["repeat"]): r for r in rows if r["method"] == "prefrec"}
    base = {(r["persona"], r["k"], r["repeat"]): r for r in rows if r["method"] == "baseline"}
    keys = sorted(pre)
    personas = sorted({k[0] for k in keys})
    present = [k for k in KS if any(x[1] == k for x in keys)]  # a run of some K only
    print(f"splits: {len(keys)}; repeats {sorted({k[2] for k in keys})}; personas {len(personas)}")
    print("\n| K | splits | prefrec ROC-AUC | baseline ROC-AUC | paired Δ (± s.e.) | better on | prefrec P@10 | "
          "baseline P@10 | ECE pooled (per split) | warned | fit s (mean) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for k in present:
        ks = [x for x in keys if x[1] == k]
        a = np.array([pre[x]["auc"] for x in ks])
        b = np.array([base[x]["auc"] for x in ks])
        d = a - b
        p10 = np.mean([pre[x]["p10"] for x in ks]), np.mean([base[x]["p10"] for x in ks])
        pooled = np.array([s for x in ks for s in pre[x]["scores"]])
        ece = expected_calibration_error(pooled[:, 0], pooled[:, 1])
        per_split = np.mean([pre[x]["ece"] for x in ks])
        warned = sum(pre[x]["warned"] for x in ks)
        fit = np.mean([pre[x]["fit_s"] for x in ks])
        print(f"| {k} | {len(ks)} | {a.mean():.3f} ± {a.std():.3f} | {b.mean():.3f} ± {b.std():.3f} | "
              f"**{d.mean():+.3f}** ± {d.std(ddof=1) / np.sqrt(len(d)):.3f} | {int((d > 0).sum())}/{len(d)} | "
              f"{p10[0]:.3f} | {p10[1]:.3f} | {ece:.3f} ({per_split:.3f}) | {warned}/{len(ks)} | {fit:.0f} |")
    every = np.array([s for x in keys for s in pre[x]["scores"]])
    print(f"\nECE pooled over every split and K: {expected_calibration_error(every[:, 0], every[:, 1]):.3f}")
    print("\nPer persona: mean ROC-AUC prefrec vs baseline (Δ) over the repeats; ✗ marks Δ < −0.02\n")
    print("| persona | n | " + " | ".join(f"K = {k}" for k in present) + " |")
    print("|---|---|" + "---|" * len(present))
    worst: dict[int, tuple[float, str]] = {}
    for persona in personas:
        cells = []
        for k in present:
            ks = [x for x in keys if x[0] == persona and x[1] == k]
            a = float(np.mean([pre[x]["auc"] for x in ks]))
            b = float(np.mean([base[x]["auc"] for x in ks]))
            if a - b < worst.get(k, (9.0, ""))[0]:
                worst[k] = (a - b, persona)
            cells.append(f"{a:.3f} vs {b:.3f} ({a - b:+.3f}){' ✗' if a - b < -0.02 else ''}")
        n = len([x for x in keys if x[0] == persona and x[1] == present[0]])
        print(f"| {persona} | {n} | " + " | ".join(cells) + " |")
    print("\nworst persona Δ per K:", {k: (round(v[0], 3), v[1]) for k, v in worst.items()})


if __name__ == "__main__":
    main()
