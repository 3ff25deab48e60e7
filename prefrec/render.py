"""Output for people and scripts: text, JSON, M3U and progress bars. No torch, no numpy.

Data goes to stdout, messages to stderr. Everything that comes from outside prefrec (tags, file
names, what the listener typed) goes through `safe` before it reaches a terminal, so a file named
with escape sequences cannot move the cursor, retitle the window or hide text; JSON escapes them
itself, and an M3U playlist never lets a name start a new line.
"""

from __future__ import annotations

import json
import os
import sys
import time
import unicodedata
from collections import Counter
from typing import TYPE_CHECKING, Any

import typer

from prefrec.explain import mmss

if TYPE_CHECKING:
    from prefrec.errors import PrefrecError
    from prefrec.service.control import ForgetResult, RateResult
    from prefrec.service.importing import ImportReport
    from prefrec.service.learning import TrainResult
    from prefrec.service.library import ScanReport
    from prefrec.service.queries import Explanation, Listed, Recommendations, Similar
    from prefrec.store import Ban, FeedbackEvent, FeedbackSource, Track

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def safe(text: object) -> str:
    """`text` with control characters shown as escapes (\\x1b, \\r, \\x00, \\u202e…): safe to print
    on a terminal, and always on one line."""
    out = []
    for c in str(text):
        if unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS:
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out)


def out(line: str = "") -> None:
    """A line of data on stdout. A closed pipe raises BrokenPipeError (the CLI ends quietly);
    any other failure to write raises OutputError."""
    try:
        typer.echo(line)
    except BrokenPipeError:
        raise
    except OSError as exc:
        from prefrec.errors import OutputError

        raise OutputError(f"cannot write to standard output ({exc.strerror or exc}); "
                          "send it to a file or device with space left") from exc


def err(message: str) -> None:
    """A message on stderr (a message that cannot be written is lost, never an error)."""
    try:
        typer.echo(message, err=True)
    except OSError:
        pass


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 window', '3 windows'."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return "just now"


def use_color() -> bool:
    """Colour only on a terminal, never when NO_COLOR is set (https://no-color.org) or TERM=dumb."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def rated(kind: str) -> str:
    return {"like": "liked", "skip": "skipped", "forget": "forgot the rating of"}.get(kind, kind)


def track_line(track: Track) -> str:
    who = f"{safe(track.artist)} – " if track.artist else ""
    album = f"  [{safe(track.album)}]" if track.album else ""
    return f"{who}{safe(track.title)} ({mmss(track.duration_s)}){album}"


def track_json(track: Track) -> dict[str, Any]:
    return {"path": track.path, "title": track.title, "artist": track.artist, "album": track.album,
            "duration": round(track.duration_s, 3)}


def dump_json(data: Any) -> None:
    out(json.dumps(data, indent=2))


# -- scan and training ----------------------------------------------------------------------------


def scan_report(report: ScanReport) -> None:
    took = report.analysis_seconds or report.seconds
    speed = report.analysed / took if took else 0.0
    realtime = report.audio_seconds / took if took else 0.0
    rates = f", {speed:.1f} tracks/s, {realtime:.0f}× real time" if report.analysed else ""
    err(f"scanned {plural(report.found, 'audio file')}: {report.analysed} analysed, {report.unchanged} unchanged, "
        f"{len(report.failed)} could not be used, {report.gone} gone (analysis {took:.1f} s{rates})")
    for path, reason in report.failed[:20]:
        what = "not analysed this time" if path in report.transient else "skipped"
        err(f"  {what} {safe(path)}: {safe(reason)}")
    if len(report.failed) > 20:
        err(f"  … and {len(report.failed) - 20} more (see `prefrec status`)")
    if report.pretrained:
        p = report.pretrained
        err(f"learnt the sound of the library from {plural(p.n_tracks, 'track')} ({plural(p.steps, 'step')}, "
            f"{p.seconds:.0f} s)")
    if report.trained:
        train_result(report.trained)
    elif report.rescored:
        err(f"scored {plural(report.rescored, 'new track')} with the current model")


def train_result(result: TrainResult) -> None:
    if result.rebuilt_because:
        err(f"the previous model could not be used ({safe(result.rebuilt_because)}); rebuilt it")
    err(f"trained on {plural(result.n_likes, 'like')} and {plural(result.n_skips, 'skip')} "
        f"({plural(result.epochs, 'epoch')}, {result.train_s:.1f} s); ranked {plural(result.scored, 'track')} "
        f"in {result.score_s:.1f} s")
    auc = (result.quality or {}).get("oof_auc")
    if auc and not result.warning:
        err(f"held-out check: ROC-AUC {auc['value']:.2f} (95% interval {auc['low']:.2f}-{auc['high']:.2f})")
    if result.warning:
        err(f"warning: {result.warning}")


def _estimate(e: dict, signed: bool = False) -> str:
    fmt = "+.2f" if signed else ".2f"
    return f"{e['value']:{fmt}} ({e['low']:{fmt}} to {e['high']:{fmt}})"


def evaluation(result: dict[str, Any], *, as_json: bool) -> None:
    """`evaluate`'s figures (service.learning.Evaluation.to_json())."""
    if as_json:
        dump_json(result)
        return
    out(f"cross-validated on {plural(result['likes'], 'like')} and {plural(result['skips'], 'skip')} you rated "
        f"({plural(result['repeats'], 'repeat')} of cross-validation; 95% intervals; {result['seconds']:.0f} s)")
    out(f"{'':22}{'ROC-AUC':<24}precision@10")
    for name, split in result["splits"].items():
        title = "by track" if name == "track" else "by album (new music)"
        if "unavailable" in split:
            out(f"{title}: not available: {safe(split['unavailable'])}")
            continue
        out(f"{title} ({plural(split['groups'], 'group')}):")
        for method in ("prefrec", "baseline"):
            out(f"  {method:<20}{_estimate(split[method]['auc']):<24}{_estimate(split[method]['p10'])}")
        out(f"  {'difference':<20}{_estimate(split['difference']['auc'], signed=True)}")
        if split.get("ece") is not None:
            out(f"  calibration: expected error {split['ece']:.2f} (0 is perfect)")
    track = result["splits"].get("track", {})
    if "prefrec" in track and track["prefrec"]["auc"]["low"] <= 0.5:
        err("warning: the held-out ROC-AUC is not clearly above chance (0.5): your ratings don't separate yet; "
            "rate a few more of what you like")


STAGE_UNITS = {"analysing": "tracks", "pretraining": "steps", "fine-tuning": "epochs", "scoring": "tracks",
               "evaluating": "%"}
STAGE_LABELS = {"analysing": "analysing", "pretraining": "learning the library's sound",
                "fine-tuning": "fine-tuning", "scoring": "scoring", "evaluating": "cross-validating"}


class Stages:
    """Progress of a command's stages on stderr, one labelled bar each as it starts: analysing
    (tracks/s and × real time once audio is reported), pretraining on the library (steps),
    fine-tuning (epochs), scoring (tracks). Each line fits 80 columns. Use as a context manager;
    call it as progress(stage, done, total); give on_result each analysis result."""

    BAR_WIDTH = 16

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Speed(ProgressColumn):
            def render(self, task):  # type: ignore[override]
                elapsed = task.elapsed or 0.0
                unit = task.fields.get("unit", "tracks")
                if elapsed < 0.5 or not task.completed:
                    return Text(f"– {unit}/s")
                audio_s = task.fields.get("audio_s", 0.0)
                real_time = f" {audio_s / elapsed:.0f}×" if audio_s else ""
                return Text(f"{task.completed / elapsed:.1f} {unit}/s{real_time}")

        console = console or Console(stderr=True)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=self.BAR_WIDTH),
                                 MofNCompleteColumn(), TaskProgressColumn(), Speed(), TimeRemainingColumn(),
                                 console=console, transient=True,
                                 # only on a terminal: redirected, a progress bar is noise (a stray blank line)
                                 disable=not console.is_terminal)
        self.tasks: dict[str, Any] = {}
        self.audio_s = 0.0

    def __enter__(self) -> Stages:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            for task in self.progress.tasks:  # an earlier stage is over
                if task.total is None or task.completed < task.total:
                    self.progress.update(task.id, total=task.total or task.completed, completed=task.total
                                         or task.completed)
            self.tasks[stage] = self.progress.add_task(STAGE_LABELS.get(stage, stage), total=None,
                                                       unit=STAGE_UNITS.get(stage, "steps"), audio_s=0.0)
        self.progress.update(self.tasks[stage], completed=done, total=max(total, done),
                             audio_s=self.audio_s if stage == "analysing" else 0.0)

    def on_result(self, result: Any) -> None:
        """An analysis result: its audio counts toward × real time."""
        self.audio_s += getattr(result, "duration_s", 0.0)


# -- ratings ---------------------------------------------------------------------------------------


def _retrain_hint(daemon_pid: int | None, retrain_in_s: float | None = None) -> str:
    if daemon_pid is not None:
        when = f" within about {retrain_in_s:.0f} s" if retrain_in_s else ""
        return f"the daemon (pid {daemon_pid}) will retrain and update the recommendations{when}"
    return "run `prefrec train` to update the recommendations (or start `prefrec daemon` to do it for you)"


def _change(kind: str, previous: Any) -> str:
    """' (you had skipped it: changed)' / ' (already liked)' / '' for no earlier rating."""
    if previous is None:
        return ""
    if previous.kind == kind:
        return f" (already {rated(kind)}{' through another file of it' if previous.via_copy else ''})"
    where = f" at {mmss(previous.position_s)}" if previous.position_s is not None else ""
    other = " another file of" if previous.via_copy else ""
    return f" — this reverses your earlier {previous.kind}{where} of{other} it"


def rate_result(result: RateResult) -> None:
    where = f" at {mmss(result.position_s)}" if result.position_s is not None else ""
    if result.group is None and len(result.rated) == 1:
        item = result.rated[0]
        err(f"{rated(result.kind)}{where}: {track_line(item.track)}{_change(result.kind, item.previous)}")
    else:
        reversed_ = sum(1 for r in result.rated if r.previous is not None and r.previous.kind != result.kind)
        note = f" ({plural(reversed_, 'earlier rating')} reversed)" if reversed_ else ""
        err(f"{rated(result.kind)} {plural(len(result.rated), 'track')} ({safe(result.group)}){note}:")
        for item in result.rated[:10]:
            err(f"  {track_line(item.track)}{_change(result.kind, item.previous)}")
        if len(result.rated) > 10:
            err(f"  … and {len(result.rated) - 10} more (`prefrec history` lists them)")
    err(_retrain_hint(result.daemon_pid, result.retrain_in_s))


def forget_result(result: ForgetResult) -> None:
    if result.feedback_id is None:
        err(f"nothing to forget: you have not rated {track_line(result.track)}")
        return
    was = result.withdrawn
    if was is not None:
        where = f" at {mmss(was.position_s)}" if was.position_s is not None else ""
        err(f"forgot that you {rated(was.kind)} it{where}: {track_line(result.track)}")
    else:
        err(f"forgot what was seen of {track_line(result.track)} ({plural(result.rows, 'listening record')})")
    if result.nothing_left:
        err("no rating is left: the ranking is set aside and `prefrec recommend` offers the starter set again")
    else:
        err(_retrain_hint(result.daemon_pid))


def forget_source_result(source: FeedbackSource) -> None:
    err(f"forgot everything {safe(source.source)} gave ({plural(source.live_rows, 'row')} of the feedback log "
        "withdrawn; nothing deleted, `prefrec history` shows them)")
    err("run `prefrec train` (or let the daemon) to update the recommendations")


def _library_track_json(track: Any) -> dict[str, Any] | None:
    if track is None:
        return None
    return {"path": track.path, "title": track.title, "artist": track.artist, "album": track.album,
            "duration": None if track.duration_s is None else round(track.duration_s, 3)}


def _entry_label(entry: Any) -> str:
    where = entry.location or entry.path or entry.relpath
    if entry.title:
        who = f"{safe(entry.artist)} – " if entry.artist else ""
        return f"{who}{safe(entry.title)}" + (f"  ({safe(where)})" if where else "")
    return safe(where or entry.key)


def _adds_text(outcome: Any) -> str:
    parts = []
    if outcome.adds_opinion:
        parts.append(f"{outcome.adds_opinion} ({outcome.plan.why})")
    if outcome.adds_plays or outcome.adds_skips:
        parts.append(f"+{plural(outcome.adds_plays, 'play')} +{plural(outcome.adds_skips, 'skip')}")
    if parts:
        return ", ".join(parts)
    if outcome.match.track is None:
        return ""
    return "already imported" if outcome.says_anything else "nothing to import" + (
        f" ({outcome.plan.why})" if outcome.plan.why else "")


def import_report(report: ImportReport, *, as_json: bool) -> None:
    """The match report (stdout: every entry with --dry-run, else the unmatched) and a summary (stderr)."""
    source = report.source
    added = report.added
    unmatched = report.unmatched
    if as_json:
        dump_json({
            "source": report.log_source, "format": source.format, "origin": source.origin,
            "dry_run": report.dry_run, "notes": source.notes,
            "passed_over": [{"location": where, "why": why} for where, why in source.passed_over],
            "summary": {"entries": len(report.outcomes), "matched": len(report.outcomes) - len(unmatched),
                        "unmatched": len(unmatched), "matched_by": report.matched_by, "added": added,
                        "unchanged": report.unchanged, "feedback_ids": report.feedback_ids},
            "entries": [{
                "key": o.match.entry.key, "location": o.match.entry.location, "path": o.match.entry.path,
                "relpath": o.match.entry.relpath, "mbid": o.match.entry.mbid, "artist": o.match.entry.artist,
                "title": o.match.entry.title, "album": o.match.entry.album, "duration": o.match.entry.duration_s,
                "how": o.match.how, "detail": o.match.detail or None, "track": _library_track_json(o.match.track),
                "closest": _library_track_json(o.match.closest), "closest_why": o.match.closest_why or None,
                "says": {"opinion": o.plan.opinion, "why": o.plan.why or None, "plays": o.plan.plays,
                         "skips": o.plan.skips, "last_played": o.plan.last_played},
                "adds": {"opinion": o.adds_opinion, "plays": o.adds_plays, "skips": o.adds_skips},
            } for o in report.outcomes],
        })
        return
    shown = report.outcomes if report.dry_run else []
    for o in shown:
        how = o.match.how or "not found"
        if o.match.track is not None:
            detail = f" [{safe(o.match.detail)}]" if o.match.detail else ""
            out(f"{how:9s} {_entry_label(o.match.entry)}\n          -> {safe(o.match.track.path)}{detail}: "
                f"{_adds_text(o)}")
        else:
            closest = (f"\n          closest: {safe(o.match.closest.path)} ({safe(o.match.closest_why)})"
                       if o.match.closest else "\n          nothing alike in the library")
            out(f"{how:9s} {_entry_label(o.match.entry)}{closest}")
    for note in source.notes:
        err(f"note: {safe(note)}")
    matched = len(report.outcomes) - len(unmatched)
    by = ", ".join(f"{how} {n}" for how, n in report.matched_by.items() if n)
    err(f"{safe(report.log_source)} ({safe(source.origin)}): {plural(len(report.outcomes), 'entry', 'entries')}, "
        f"{matched} found in the library" + (f" ({by})" if by else "") + f", {len(unmatched)} not found")
    verb = "would add" if report.dry_run else "added"
    what = f"{plural(added['likes'], 'like')} and {plural(added['skips'], 'skip')}"
    if added["counted_tracks"] or source.format != "m3u":
        what = (f"{plural(added['likes'], 'like')}, {plural(added['skips'], 'skip')} and counts for "
                f"{plural(added['counted_tracks'], 'track')} ({plural(added['plays'], 'play')}, "
                f"{plural(added['skipped'], 'skip')})")
    err(f"{verb} {what}"
        + (f"; {plural(report.unchanged, 'entry', 'entries')} already imported" if report.unchanged else "")
        + (f"; {report.silent} with nothing to import" if report.silent else ""))
    if source.passed_over:
        whys = Counter(why for _, why in source.passed_over)
        err(f"passed over {len(source.passed_over)}: " + "; ".join(f"{why} ×{n}" for why, n in whys.most_common()))
    if not report.dry_run and unmatched:
        for o in unmatched[:10]:
            err(f"  not found: {_entry_label(o.match.entry)}")
        more = f"… and {len(unmatched) - 10} more; " if len(unmatched) > 10 else ""
        err(f"  {more}`prefrec import {safe(source.origin)} --dry-run` shows the closest track of each")
    if report.dry_run:
        err("dry run: nothing was written")
    elif report.feedback_ids:
        err("run `prefrec train` (or let the daemon) to update the recommendations")


def event_text(event: FeedbackEvent) -> str:
    """What one log row says, in words: 'like', 'skip at 0:42', 'played 3:10 of 4:01, next: listen'."""
    row = event.row
    if row.kind == "skip" and row.position_s is not None:
        return f"skip at {mmss(row.position_s)}"
    if row.kind == "session":
        session = row.session
        assert session is not None
        means = f"skip at {mmss(session.end_position_s)}" if event.means == "skip" else event.means
        return f"played {mmss(session.played_s)} of {mmss(session.duration_s)}, {session.end_reason}: {means}"
    if row.kind == "counts":
        return f"counts: {plural(int(row.detail.get('plays', 0)), 'play')}, {plural(int(row.detail.get('skips', 0)), 'skip')}"
    if row.kind == "forget_source":
        return f"forgot everything from {safe(row.source)}"
    return row.kind


def history(events: list[FeedbackEvent], *, as_json: bool) -> None:
    if as_json:
        dump_json([{
            "id": e.row.id, "kind": e.row.kind, "source": e.row.source, "at": e.row.position_s,
            "time": round(e.row.when, 3), "withdrawn": e.row.withdrawn, "detail": e.row.detail or None,
            "means": e.means,
            **(track_json(e.track) if e.track else {"path": e.row.path or None, "title": None, "artist": None,
                                                     "album": None, "duration": None}),
        } for e in events])
        return
    if not events:
        err("no ratings yet: `prefrec like TRACK` / `prefrec skip TRACK`")
    for e in events:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.row.when))
        if e.row.kind == "forget_source":
            name = ""
        else:
            name = track_line(e.track) if e.track else f"{safe(e.row.path)} (no longer in the library)"
        withdrawn = "  (withdrawn)" if e.row.withdrawn else ""
        out(f"{when}  {safe(e.row.source):8s} {event_text(e):24s}  {name}{withdrawn}")


def bans(items: list[Ban], *, as_json: bool) -> None:
    if as_json:
        dump_json([{"kind": b.kind, "name": b.label, "since": round(b.created_at, 3)} for b in items])
        return
    if not items:
        err("nothing is banned")
    for b in items:
        out(f"{b.kind:6s}  {safe(b.label)}")


# -- queries ----------------------------------------------------------------------------------------


def recommendations(recs: Recommendations, *, as_json: bool, m3u: bool) -> None:
    if as_json:
        dump_json([{"rank": r.rank, **track_json(r.track),
                    "score": None if r.score is None else round(r.score, 6),
                    "explore": bool(getattr(r, "explore", False)), "starter": bool(getattr(r, "starter", False)),
                    "spread": None if r.spread is None else round(r.spread, 6)}
                   for r in recs.items])
    elif m3u:
        text, skipped = m3u_playlist(recs)
        out(text)
        for path in skipped:
            err(f"left out of the playlist: {safe(path)} (its name has a line break)")
    else:
        for r in recs.items:
            mark = "  [explore: the model is unsure]" if getattr(r, "explore", False) else ""
            score = "  –  " if r.score is None else f"{r.score:.3f}"
            out(f"{r.rank:3d}. {score}  {track_line(r.track)}{mark}")
            if recs.starter:
                out(f"            {safe(r.track.path)}")
    if recs.message:
        err(recs.message)
    if recs.warning:
        err(f"warning: {recs.warning}")


def m3u_playlist(recs: Recommendations) -> tuple[str, list[str]]:
    """An extended M3U playlist (#EXTINF with whole seconds and "Artist - Title", then the path),
    and the paths left out because a line break in their name would start a new entry."""
    def clean(text: str) -> str:
        return " ".join(safe(text).split())  # one line, no control characters

    name = "prefrec starter set (rate these)" if recs.starter else "prefrec recommendations"
    lines, skipped = ["#EXTM3U", f"#PLAYLIST:{name}"], []
    for r in recs.items:
        if any(c in r.track.path for c in "\r\n\x00"):
            skipped.append(r.track.path)
            continue
        name = f"{r.track.artist} - {r.track.title}" if r.track.artist else r.track.title
        if getattr(r, "explore", False):
            lines.append("# explore: the model is unsure about this one")
        lines += [f"#EXTINF:{round(r.track.duration_s)},{clean(name)}", r.track.path]
    return "\n".join(lines), skipped


def candidates(heading: str, tracks: list[Track], total: int) -> None:
    """Numbered tracks to choose from, on stderr."""
    err(heading)
    for i, track in enumerate(tracks, start=1):
        err(f"  {i}. {track_line(track)}\n     {safe(track.path)}")
    if total > len(tracks):
        err(f"  … and {total - len(tracks)} more (add words to narrow it down)")


RATING_WORD = {"like": "liked", "skip": "skipped"}


def listing(items: list[Listed], *, as_json: bool) -> None:
    """Tracks with score, rating and flags (`search`, `list`)."""
    if as_json:
        dump_json([{**track_json(i.track), "score": None if i.score is None else round(i.score, 6),
                    "rating": None if i.rating is None else i.rating.kind,
                    "skipped_at": None if i.rating is None else i.rating.position_s,
                    "flags": i.flags, "copies": i.copies} for i in items])
        return
    for i in items:
        score = "  –  " if i.score is None else f"{i.score:.3f}"
        rating = "" if i.rating is None else RATING_WORD.get(i.rating.kind, i.rating.kind)
        if i.rating is not None and i.rating.position_s is not None:
            rating += f" {mmss(i.rating.position_s)}"
        notes = ", ".join(i.flags + ([plural(i.copies, "other copy", "other copies")] if i.copies else []))
        out(f"{score}  {rating:12s} {track_line(i.track)}{f'  [{notes}]' if notes else ''}")
        out(f"{'':20s}{safe(i.track.path)}")
    err(plural(len(items), "track") if items else "no tracks")


CLIP_HOW = {"copy": "the original audio, not re-encoded", "pcm": "the original samples at their own rate",
            "encode": "re-encoded from the original"}


def explanation(exp: Explanation, *, as_json: bool) -> None:
    from prefrec.explain import color_sparkline, sparkline, time_axis

    if as_json:
        dump_json({
            **track_json(exp.track), "score": exp.score, "rank": exp.rank, "ranked": exp.ranked_total,
            "rating": None if exp.rating is None else {"kind": exp.rating.kind, "at": exp.rating.position_s},
            "windows": [{"start": s, "end": e, "score": round(v, 6)} for s, e, v in exp.windows],
            "flat": exp.flat,
            "best": [{"start": g.start_s, "end": g.end_s, "score": round(g.score, 6)} for g in exp.best],
            "worst": [{"start": g.start_s, "end": g.end_s, "score": round(g.score, 6)} for g in exp.worst],
            "similar_rated": [{**track_json(s.track), "similarity": round(s.similarity, 6),
                               "rating": s.rating.kind if s.rating else None} for s in exp.similar],
            "banned": None if exp.banned is None else {"kind": exp.banned.kind, "name": exp.banned.label},
        })
        return
    scores = [v for _, _, v in exp.windows]
    line = sparkline(scores)
    shown = color_sparkline(scores) if use_color() else line
    out(track_line(exp.track))
    out(f"  {safe(exp.track.path)}")
    rank = f"rank {exp.rank} of {exp.ranked_total}" if exp.rank else "not ranked"
    score = f"{exp.score:.3f}" if exp.score is not None else "–"
    rating = "no rating" if exp.rating is None else (
        f"you {rated(exp.rating.kind)} it"
        + (f" at {mmss(exp.rating.position_s)}" if exp.rating.position_s is not None else ""))
    out(f"score {score} (mean of {plural(len(scores), 'window')}), {rank}; {rating}")
    if exp.banned is not None:
        out(f"banned ({exp.banned.kind} {safe(exp.banned.label)}): never recommended")
    out()
    out(f"  {shown}")
    out(f"  {time_axis(exp.track.duration_s, len(line))}")
    out()
    out(f"best {'segment: ' if len(exp.best) == 1 else 'segments:'}  "
        + "   ".join(f"{mmss(g.start_s)}–{mmss(g.end_s)} {g.score:.2f}" for g in exp.best))
    if exp.flat:
        out(f"flat: every window scores {min(scores):.2f}–{max(scores):.2f}; no part of the track stands out")
    elif exp.worst:
        out(f"worst {'segment: ' if len(exp.worst) == 1 else 'segments:'} "
            + "   ".join(f"{mmss(g.start_s)}–{mmss(g.end_s)} {g.score:.2f}" for g in exp.worst))
    if exp.similar:
        out()
        out("closest rated tracks:")
        for s in exp.similar:
            rating = f"you {rated(s.rating.kind)} it" if s.rating else "not rated"
            out(f"  {s.similarity:+.3f}  {track_line(s.track)}  ({rating})")


def similar(seed: Track, items: list[Similar], *, as_json: bool) -> None:
    if as_json:
        dump_json([{"rank": i, **track_json(s.track), "similarity": round(s.similarity, 6),
                    "rating": s.rating.kind if s.rating else None} for i, s in enumerate(items, start=1)])
        return
    err(f"closest to {track_line(seed)}:")
    for i, s in enumerate(items, start=1):
        rating = f"  (you {rated(s.rating.kind)} it)" if s.rating else ""
        out(f"{i:3d}. {s.similarity:+.3f}  {track_line(s.track)}{rating}")


def status(info: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        dump_json(info)
        return
    out(f"data:     {safe(info['home'])}")
    copies = f", {plural(info['copies'], 'copy', 'copies')} of music already there" if info.get("copies") else ""
    transient = info.get("errors_transient", 0)
    retry = f" ({transient} to retry)" if transient else ""
    out(f"library:  {plural(info['tracks'], 'track')}, {info['analysed']} analysed, {info['pending']} pending, "
        f"{info['errors']} could not be used{retry}, {info['gone']} gone{copies}")
    out(f"feedback: {plural(info['feedback'], 'event')} ({info['likes']} liked, {info['skips']} skipped now)")
    if info.get("sources"):
        out("sources:  " + ", ".join(source_text(s) for s in info["sources"]))
    model = info["model"]
    if model and not model.get("in_use", True) and not info.get("likes") and not info.get("skips") \
            and info.get("hint"):
        out(f"model:    #{model['id']} set aside (every rating was withdrawn)")
    elif model:
        age = time.time() - model["created_at"]
        stale = ""
        if model["stale"]:
            stale = (" — newer feedback: the daemon will retrain" if info.get("daemon")
                     else " — newer feedback: run `prefrec train`")
        out(f"model:    #{model['id']}, trained {ago(age)} on {plural(model['rated_tracks'], 'rated track')}{stale}")
    else:
        out("model:    none yet (rate a few tracks, then `prefrec train`)")
    newer = info.get("unpublished_model")
    if newer and newer["state"] == "training":
        out(f"          model #{newer['id']} is being trained and scored; it replaces this one when done")
    elif newer:
        out(f"          model #{newer['id']} was never published (its training was interrupted); "
            "`prefrec train` replaces it")
    quality = (model or {}).get("quality") or {}
    if quality.get("oof_auc"):
        auc = quality["oof_auc"]
        verdict = "" if quality.get("separates") else " — not clearly above chance (0.5) yet: rate a few more"
        out(f"          held-out ROC-AUC {auc['value']:.2f} ({auc['low']:.2f} to {auc['high']:.2f}){verdict}")
    evaluated = info.get("evaluation")
    if evaluated:
        track = evaluated["splits"].get("track", {})
        figure = (f"ROC-AUC {track['prefrec']['auc']['value']:.2f} vs baseline {track['baseline']['auc']['value']:.2f}"
                  if "prefrec" in track else "not available")
        out(f"evaluate: {figure} on {evaluated['likes'] + evaluated['skips']} ratings, {ago(time.time() - evaluated['created_at'])}")
    else:
        out("evaluate: not run yet (`prefrec evaluate`)")
    out(f"daemon:   {daemon_line(info['daemon'], info.get('ranked_at'))}")
    if info.get("player"):
        out(f"player:   {player_line(info['player'])}")
    for item in info["error_files"][:10]:
        if item.get("transient"):
            out(f"  could not analyse {safe(item['path'])} this time (retried on the next scan): "
                f"{safe(item['reason'])}")
        else:
            out(f"  cannot use {safe(item['path'])}: {safe(item['reason'])}")
    if len(info["error_files"]) > 10:
        out(f"  … and {len(info['error_files']) - 10} more (`prefrec status --json` lists all)")
    for item in info.get("flagged_files", [])[:10]:
        out(f"  flagged {safe(item['path'])}: {safe(item['note'])}")
    if info.get("hint"):
        err(info["hint"])


def player_line(player: dict[str, Any]) -> str:
    """'mpd, connected since … (address); played 2 songs prefrec does not know' or
    'mpd, disconnected since …, retrying (back-off 8 s) (why)'."""
    name = player["player"]
    if not player["followed"]:
        return f"{name}, not followed (the daemon follows it: `prefrec daemon ~/Music`)"
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(player["since"])) if player["since"] else "?"
    if player["connected"]:
        line = f"{name}, connected since {since}"
    else:
        line = f"{name}, disconnected since {since}"
        if player["retry_in_s"]:
            line += f", retrying (back-off {player['retry_in_s']:.0f} s)"
    if player["detail"]:
        line += f" ({safe(player['detail'])})"
    if player["unknown_songs"]:
        line += (f"; played {plural(player['unknown_songs'], 'song')} prefrec does not know "
                 "(not analysed yet, or outside the library)")
    return line


def source_text(source: dict[str, Any]) -> str:
    """'import:itunes 840 (12 withdrawn)': a feedback source and how many rows of the log it gave."""
    withdrawn = source["rows"] - source["live_rows"]
    return f"{safe(source['source'])} {source['rows']}" + (f" ({withdrawn} withdrawn)" if withdrawn else "")


def daemon_line(daemon: dict | None, ranked_at: float | None) -> str:
    if daemon is None:
        return "not running (start it with `prefrec daemon ~/Music`)"
    ranked = f"rankings updated {ago(time.time() - ranked_at)}" if ranked_at else "no rankings yet"
    line = (f"pid {daemon['pid']}, {daemon['state']}, {daemon['queue']} queued, "
            f"watching with {daemon['watcher'] or '…'}; {ranked}")
    if daemon["last_error"]:
        line += f"\n  last error ({ago(time.time() - daemon['last_error_at'])}): {safe(daemon['last_error'])}"
    return line


# -- errors -----------------------------------------------------------------------------------------


def error_candidates(exc: PrefrecError) -> None:
    """The candidates of an ambiguous track or name, numbered (nothing for other errors)."""
    from prefrec.errors import AmbiguousName, AmbiguousTrack

    if isinstance(exc, AmbiguousName):
        for i, name in enumerate(exc.candidates[:20], start=1):
            err(f"  {i}. {safe(name)}")
        if len(exc.candidates) > 20:
            err(f"  … and {len(exc.candidates) - 20} more")
    if isinstance(exc, AmbiguousTrack):
        for i, track in enumerate(exc.candidates[:10], start=1):
            err(f"  {i}. {track_line(track)}\n     {safe(track.path)}")
        if len(exc.candidates) > 10:
            err(f"  … and {len(exc.candidates) - 10} more")
