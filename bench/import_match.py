"""Match rate of `prefrec import` on a realistic source: real music, a library that has moved on.

    .venv/bin/python bench/import_match.py [--corpus DIR] [-n 60] [--seed 1] [--via matcher|cli]

Takes n tracks of the real-music corpus (../shared/bench/corpus.sh), round-robin over its sources,
and builds the situation a listener importing an old playlist is in:
  - the playlist (M3U8, #EXTINF written from the tags as a player writes it) and an iTunes
    Library.xml were written on the old machine, under /home/olduser/Music (Music Folder);
  - the library now lives elsewhere: most files are unchanged, some were renamed (half to a
    tagger's '07 - Name', half to a name with nothing of the old one, 'Track 042', which only
    tags can recognise), some re-encoded to MP3 with ffmpeg (tags copied; the .ogg removed), some
    deleted.
Every entry is matched against the library as prefrec sees it (tags via mutagen, title falling back
to the file name). Reports, per source format: entries, how each was matched, and the rate of
correct matches among entries whose music is still in the library; wrong matches are counted
separately, and deleted tracks must stay unmatched.

--via matcher (default) matches in-process against the tags read from the files; --via cli scans
the library with `prefrec scan --no-train` into a fresh data dir and reads `prefrec import
--dry-run --json` (phase 2 of issue 14).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

OLD_ROOT = "/home/olduser/Music"


def pick(corpus: Path, n: int, seed: int) -> list[Path]:
    rows = [line.split("\t") for line in (corpus / "manifest.tsv").read_text().splitlines() if line.strip()]
    by_source: dict[str, list[str]] = {}
    for rel, source in rows:
        by_source.setdefault(source, []).append(rel)
    rng = random.Random(seed)
    for files in by_source.values():
        rng.shuffle(files)
    chosen: list[Path] = []
    while len(chosen) < n and any(by_source.values()):
        for source in sorted(by_source):
            if by_source[source] and len(chosen) < n:
                chosen.append(Path(by_source[source].pop()))
    return chosen


def build(corpus: Path, work: Path, n: int, seed: int) -> tuple[Path, list[dict]]:
    """Copy, then rename / re-encode / delete some; returns (library dir, one record per track)."""
    from prefrec.audio import read_tags

    library = work / "library"
    rng = random.Random(seed + 1)
    records = []
    for rel in pick(corpus, n, seed):
        src = corpus / rel
        tags = read_tags(src)
        fate = rng.choices(["same", "renamed", "reencoded", "deleted"], weights=[70, 12, 12, 6])[0]
        record = {"old": f"{OLD_ROOT}/{rel.as_posix()}", "rel": rel.as_posix(), "fate": fate,
                  "title": tags.title, "artist": tags.artist, "album": tags.album, "length_s": tags.length_s,
                  "tagged": tags.title != src.stem, "new": None}
        target = library / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if fate == "same":
            shutil.copyfile(src, target)
        elif fate == "renamed":
            if rng.random() < 0.5:  # a tagger's 'NN - Title' scheme
                name = f"{rng.randint(1, 19):02d} - {target.stem.replace('_', ' ').title()}"
            else:  # a name with nothing of the old one ('Track 042'): only tags can tell
                name = f"Track {rng.randint(1, 999):03d}"
            target = target.with_name(name + target.suffix)
            shutil.copyfile(src, target)
        elif fate == "reencoded":
            target = target.with_suffix(".mp3")
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-map_metadata", "0:s:a:0", "-codec:a",
                            "libmp3lame", "-q:a", "6", str(target)], check=True, timeout=600)
        if fate != "deleted":
            record["new"] = str(target.resolve())
        records.append(record)
    return library, records


def write_sources(work: Path, records: list[dict]) -> dict[str, Path]:
    from import_fixtures import file_url, write_itunes

    lines = ["#EXTM3U"]
    tracks = []
    for r in records:
        label = f"{r['artist']} - {r['title']}" if r["artist"] else r["title"]
        lines += [f"#EXTINF:{int(round(r['length_s'] or -1))},{label}", r["old"]]
        track = {"Name": r["title"], "Location": file_url(r["old"]), "Total Time": int((r["length_s"] or 0) * 1000),
                 "Play Count": 3}
        if r["artist"]:
            track["Artist"] = r["artist"]
        if r["album"]:
            track["Album"] = r["album"]
        tracks.append(track)
    playlist = work / "old favourites.m3u8"
    playlist.write_text("\n".join(lines) + "\n", encoding="utf-8")
    xml = write_itunes(work / "Library.xml", tracks, music_folder=file_url(OLD_ROOT + "/"))
    return {"m3u": playlist, "itunes": xml}


def match_in_process(library: Path, source_path: Path) -> list[tuple[str, str | None, str | None]]:
    """(old location, matched path or None, how) per entry, from the matcher over read tags."""
    from prefrec.audio import read_tags
    from prefrec.importers import read_source
    from prefrec.importers.base import file_url_to_path
    from prefrec.importers.match import LibraryTrack, Matcher

    tracks = []
    for path in sorted(p for p in library.rglob("*") if p.is_file()):
        tags = read_tags(path)
        tracks.append(LibraryTrack(str(path.resolve()), str(path), tags.title, tags.artist, tags.album, tags.length_s))
    matcher = Matcher(tracks, roots=[str(library.resolve())])
    source = read_source(source_path)
    out = []
    for m in matcher.match_all(source.entries):
        old = m.entry.path or (file_url_to_path(m.entry.location) if m.entry.location else "")
        out.append((old, m.track.path if m.track else None, m.how))
    return out


def match_with_cli(library: Path, source_path: Path, home: Path) -> list[tuple[str, str | None, str | None]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    prefrec = [sys.executable, "-m", "prefrec", "--home", str(home)]
    if not (home / "prefrec.sqlite").exists():
        subprocess.run([*prefrec, "scan", "--no-train", str(library)], check=True, env=env, timeout=7200,
                       stdout=subprocess.DEVNULL)
    report = json.loads(subprocess.run([*prefrec, "import", str(source_path), "--dry-run", "--json"], check=True,
                                       env=env, capture_output=True, text=True, timeout=600).stdout)
    return [(e.get("path") or e.get("location") or "", (e.get("track") or {}).get("path"), e.get("how"))
            for e in report["entries"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path(os.environ.get("PREFREC_CORPUS", "/work/cache/corpus")))
    parser.add_argument("-n", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--via", choices=["matcher", "cli"], default="matcher")
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="prefrec-import-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        library, records = build(args.corpus, work, args.n, args.seed)
        sources = write_sources(work, records)
        fates = Counter(r["fate"] for r in records)
        print(f"{len(records)} tracks from {args.corpus}: " + ", ".join(f"{k} {v}" for k, v in sorted(fates.items()))
              + f"; {sum(r['tagged'] for r in records)} have a title tag other than the file name")
        expected = {r["old"]: r for r in records}
        for fmt, path in sources.items():
            results = (match_in_process(library, path) if args.via == "matcher"
                       else match_with_cli(library, path, work / "home"))
            how = Counter(h or "unmatched" for _, _, h in results)
            by_fate: dict[str, Counter] = {}
            wrong = 0
            for old, got, _rung in results:
                r = expected[old]
                verdict = ("right" if got == r["new"] else "wrong") if got else "unmatched"
                wrong += verdict == "wrong"
                by_fate.setdefault(r["fate"], Counter())[verdict] += 1
            present = [r for r in records if r["new"]]
            right = sum(c["right"] for f, c in by_fate.items() if f != "deleted")
            print(f"\n{fmt}: {len(results)} entries; matched by " + ", ".join(f"{k} {v}" for k, v in sorted(how.items())))
            for fate in ("same", "renamed", "reencoded", "deleted"):
                c = by_fate.get(fate, Counter())
                print(f"  {fate:10s} right {c['right']:3d}  wrong {c['wrong']:3d}  unmatched {c['unmatched']:3d}")
            print(f"  match rate {right}/{len(present)} = {right / max(1, len(present)):.1%} of the tracks still in "
                  f"the library; wrong matches {wrong}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
