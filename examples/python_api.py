"""Use prefrec from Python: build a library, rate a few tracks, train, read the recommendations.

    python examples/python_api.py [WORKDIR]

Generates 4 tracks each of two synthetic styles in WORKDIR/music (default: a temporary dir),
keeps prefrec's data in WORKDIR/home, likes two "plucks" tracks, skips two "wind" tracks and
prints the recommendations, best first, as "style<TAB>score<TAB>title".
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from prefrec.config import load_settings
from prefrec.service import Service
from prefrec.synth import write_library


def main(workdir: Path) -> None:
    library = write_library(workdir / "music", ["plucks", "wind"], 4, seed=11, min_s=12, max_s=18)
    style_of = {str(t.path): t.style for t in library}
    with Service(load_settings(workdir / "home")) as service:
        service.library.scan([str(workdir / "music")])
        for track in [t for t in library if t.style == "plucks"][:2]:
            service.control.rate(str(track.path), "like")
        for track in [t for t in library if t.style == "wind"][:2]:
            service.control.rate(str(track.path), "skip", at="0:06")
        service.learning.train()
        for item in service.queries.recommend(10).items:
            print(f"{style_of[item.track.path]}\t{item.score:.3f}\t{item.track.title}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="prefrec-example-")))
