"""The `prefrec` command: parse, call the service, render. Imports no torch or librosa.

Data goes to stdout, messages to stderr. Exit codes: 0 success, 1 error (e.g. unknown track),
2 usage error or ambiguous track, 130 interrupted. Colour only on a terminal, never with NO_COLOR.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from prefrec import __version__
from prefrec.errors import AmbiguousName, AmbiguousTrack, PrefrecError

if TYPE_CHECKING:
    from prefrec.service import Service
    from prefrec.service.library import ScanReport
    from prefrec.service.queries import Explanation, Recommendations
    from prefrec.store import Ban, FeedbackEvent, Track

EXIT_CODES = ("Exit codes: 0 success; 1 error (unknown track or name, no model yet, unreadable file, "
              "database trouble); 2 usage error or ambiguous track/name (candidates are listed); "
              "130 interrupted. Data goes to stdout, messages to stderr; NO_COLOR turns colour off; "
              "-v shows tracebacks.")

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="A personal music recommender that learns your taste from like/skip.\n\n"
    "Example: prefrec scan ~/Music && prefrec like 'blue in green' && prefrec train && prefrec recommend",
    epilog=EXIT_CODES,
)


class _State:
    home: Optional[str] = None
    verbose: bool = False


_state = _State()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"prefrec {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    home: Optional[Path] = typer.Option(None, "--home", help="Data directory (default: $PREFREC_HOME, "
                                        "else the user data dir).", show_default=False),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    _state.home = str(home) if home else None
    _state.verbose = verbose


def _service(**overrides: Any) -> "Service":
    from prefrec.config import load_settings
    from prefrec.service import Service

    return Service(load_settings(_state.home, **overrides))


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _track_line(track: "Track") -> str:
    from prefrec.explain import mmss

    who = f"{track.artist} – " if track.artist else ""
    album = f"  [{track.album}]" if track.album else ""
    return f"{who}{track.title} ({mmss(track.duration_s)}){album}"


def _track_json(track: "Track") -> dict[str, Any]:
    return {"path": track.path, "title": track.title, "artist": track.artist, "album": track.album,
            "duration": round(track.duration_s, 3)}


# -- scan --------------------------------------------------------------------------------------


def _render_scan(report: "ScanReport") -> None:
    speed = report.analysed / report.seconds if report.seconds else 0.0
    realtime = report.audio_seconds / report.seconds if report.seconds else 0.0
    _err(f"scanned {report.found} audio files: {report.analysed} analysed, {report.unchanged} unchanged, "
         f"{len(report.failed)} could not be used, {report.gone} gone ({report.seconds:.1f} s, "
         f"{speed:.1f} tracks/s, {realtime:.0f}× real time)")
    for path, reason in report.failed[:20]:
        _err(f"  skipped {path}: {reason}")
    if len(report.failed) > 20:
        _err(f"  … and {len(report.failed) - 20} more (see `prefrec status`)")
    if report.pretrained:
        p = report.pretrained
        _err(f"learnt the sound of the library from {p.n_tracks} tracks ({p.steps} steps, {p.seconds:.0f} s)")
    if report.trained:
        t = report.trained
        _err(f"trained on {t.n_likes} likes and {t.n_skips} skips in {t.train_s:.1f} s; "
             f"ranked {t.scored} tracks")
    elif report.rescored:
        _err(f"scored {report.rescored} new tracks with the current model")


def _progress_bar(label: str):
    """A rich progress bar on stderr: done/total, tracks/s, × real time once audio is reported
    (audio seconds analysed per wall-clock second) and ETA.

    Returns (context, progress callback, per-result callback: adds an analysis result's duration_s).
    """
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskProgressColumn,
                               TextColumn, TimeRemainingColumn)
    from rich.text import Text

    class Speed(ProgressColumn):
        def render(self, task):  # type: ignore[override]
            elapsed = task.elapsed or 0.0
            if elapsed < 0.5 or not task.completed:
                return Text("– tracks/s")
            audio_s = task.fields.get("audio_s", 0.0)
            real_time = f"  {audio_s / elapsed:.0f}× real time" if audio_s else ""
            return Text(f"{task.completed / elapsed:.1f} tracks/s{real_time}")

    progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                        Speed(), TextColumn("ETA"), TimeRemainingColumn(),
                        console=Console(stderr=True), transient=True)
    task = progress.add_task(label, total=None, audio_s=0.0)
    audio = [0.0]

    def update(done: int, total: int, _current: str) -> None:
        progress.update(task, completed=done, total=total, audio_s=audio[0])

    def on_result(result: Any) -> None:
        audio[0] += getattr(result, "duration_s", 0.0)

    return progress, update, on_result


@app.command()
def scan(
    library: list[Path] = typer.Argument(..., help="Folder(s) holding your music."),
    no_train: bool = typer.Option(False, "--no-train", help="Only analyse; do not retrain or rescore."),
    as_json: bool = typer.Option(False, "--json", help="Print the scan report as JSON on stdout."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1, show_default=False,
                                          help="Analysis processes (default: all cores)."),
) -> None:
    """Analyse new and changed audio files once (train and rank too if there is feedback).

    Example: prefrec scan ~/Music
    """
    progress, update, on_result = _progress_bar("analysing")
    with _service(workers=workers) as service, progress:
        report = service.library.scan([str(p) for p in library], progress=update, train=not no_train,
                              on_result=on_result)
    if as_json:
        typer.echo(json.dumps({
            "found": report.found, "analysed": report.analysed, "unchanged": report.unchanged,
            "failed": [{"path": p, "reason": r} for p, r in report.failed], "gone": report.gone,
            "seconds": round(report.seconds, 3), "audio_seconds": round(report.audio_seconds, 1),
            "trained": report.trained is not None, "pretrained": report.pretrained is not None,
        }, indent=2))
    else:
        _render_scan(report)


# -- feedback ----------------------------------------------------------------------------------


def _rate(track: str, kind: str, at: Optional[str]) -> None:
    from prefrec.explain import mmss

    with _service() as service:
        result = service.control.rate(track, kind, at=at)
    where = f" at {mmss(result.position_s)}" if result.position_s is not None else ""
    _err(f"{_rated(kind)}{where}: {_track_line(result.track)}")
    _err("run `prefrec train` (or let the daemon) to update the recommendations")


@app.command()
def like(track: str = typer.Argument(..., help="A path, or words from the title/artist/file name.")) -> None:
    """Tell prefrec you like a track.

    Example: prefrec like "kind of blue so what"
    """
    _rate(track, "like", None)


@app.command()
def skip(
    track: str = typer.Argument(..., help="A path, or words from the title/artist/file name."),
    at: Optional[str] = typer.Option(None, "--at", help="Where you skipped it: 1:23 or 83 (seconds)."),
) -> None:
    """Tell prefrec you skipped a track (optionally where: what you heard before counts most).

    Example: prefrec skip ~/Music/noise.mp3 --at 0:42
    """
    _rate(track, "skip", at)


# -- training ----------------------------------------------------------------------------------


@app.command()
def train() -> None:
    """Fit the model on all feedback now and rescore every track.

    Example: prefrec train
    """
    progress, update, _ = _progress_bar("scoring")
    with _service() as service, progress:
        result = service.learning.train(progress=update)
    _err(f"trained on {result.n_likes} likes and {result.n_skips} skips ({result.epochs} epochs, "
         f"{result.train_s:.1f} s); ranked {result.scored} tracks in {result.score_s:.1f} s")


# -- queries -----------------------------------------------------------------------------------


def _render_recommendations(recs: "Recommendations", *, as_json: bool, m3u: bool) -> None:
    if as_json:
        typer.echo(json.dumps([{"rank": r.rank, **_track_json(r.track), "score": round(r.score, 6),
                                "explore": bool(getattr(r, "explore", False)),
                                "spread": None if r.spread is None else round(r.spread, 6)}
                               for r in recs.items], indent=2))
    elif m3u:
        typer.echo(_m3u(recs))
    else:
        for r in recs.items:
            mark = "  [explore: the model is unsure]" if getattr(r, "explore", False) else ""
            typer.echo(f"{r.rank:3d}. {r.score:.3f}  {_track_line(r.track)}{mark}")
    if recs.message:
        _err(recs.message)
    if recs.to_rate:
        _err("some tracks to start with:")
        for track in recs.to_rate:
            _err(f"  {_track_line(track)}\n    {track.path}")


def _m3u(recs: "Recommendations") -> str:
    """An extended M3U playlist: #EXTINF with whole seconds and "Artist - Title", then the path."""
    def clean(text: str) -> str:
        return " ".join(text.split())  # no line breaks inside a directive

    lines = ["#EXTM3U", "#PLAYLIST:prefrec recommendations"]
    for r in recs.items:
        name = f"{r.track.artist} - {r.track.title}" if r.track.artist else r.track.title
        if getattr(r, "explore", False):
            lines.append("# explore: the model is unsure about this one")
        lines += [f"#EXTINF:{round(r.track.duration_s)},{clean(name)}", r.track.path]
    return "\n".join(lines)


def _duration(option: str, text: Optional[str]) -> Optional[float]:
    from prefrec.errors import UsageError
    from prefrec.service.names import parse_position

    if text is None:
        return None
    try:
        return parse_position(text)
    except UsageError:
        raise UsageError(f"{option} {text!r}: give a duration as seconds (200) or m:ss (3:20)") from None


@app.command()
def recommend(
    n: int = typer.Option(20, "-n", "--count", min=1, help="How many tracks."),
    as_json: bool = typer.Option(False, "--json", help="JSON list: rank, path, title, artist, album, duration, "
                                 "score (mean window score, before re-ordering), explore, spread."),
    m3u: bool = typer.Option(False, "--m3u", help="An extended M3U playlist (durations and titles)."),
    no_diversify: bool = typer.Option(False, "--no-diversify", help="Allow more than 2 tracks per artist or "
                                      "album in the top 20."),
    explore: float = typer.Option(0.0, "--explore", min=0.0, max=1.0, help="Fraction of the list (e.g. 0.2) "
                                  "given to tracks the model is least sure about, marked as such."),
    artist: Optional[str] = typer.Option(None, "--artist", help="Only artists whose name contains this."),
    album: Optional[str] = typer.Option(None, "--album", help="Only albums whose name contains this."),
    min_duration: Optional[str] = typer.Option(None, "--min-duration", help="Shortest track: 90 or 1:30."),
    max_duration: Optional[str] = typer.Option(None, "--max-duration", help="Longest track: 600 or 10:00."),
) -> None:
    """Unrated tracks, best first (at most 2 per artist or album in the top 20; banned ones never).

    Example: prefrec recommend -n 10 --explore 0.2 --max-duration 6:00 --m3u > tonight.m3u
    """
    from prefrec.store import RecommendFilter

    filters = RecommendFilter(artist=artist, album=album, min_duration_s=_duration("--min-duration", min_duration),
                              max_duration_s=_duration("--max-duration", max_duration))
    with _service() as service:
        recs = service.queries.recommend(n, diversify=not no_diversify, explore=explore, filters=filters)
    _render_recommendations(recs, as_json=as_json, m3u=m3u)


def _use_color() -> bool:
    """Colour only on a terminal, never when NO_COLOR is set (https://no-color.org) or TERM=dumb."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _rated(kind: str) -> str:
    return {"like": "liked", "skip": "skipped", "forget": "forgot the rating of"}.get(kind, kind)


def _render_explanation(exp: "Explanation", *, as_json: bool) -> None:
    from prefrec.explain import color_sparkline, mmss, sparkline, time_axis

    if as_json:
        typer.echo(json.dumps({
            **_track_json(exp.track), "score": exp.score, "rank": exp.rank, "ranked": exp.ranked_total,
            "rating": None if exp.rating is None else {"kind": exp.rating.kind, "at": exp.rating.position_s},
            "windows": [{"start": s, "end": e, "score": round(v, 6)} for s, e, v in exp.windows],
            "best": [{"start": g.start_s, "end": g.end_s, "score": round(g.score, 6)} for g in exp.best],
            "worst": [{"start": g.start_s, "end": g.end_s, "score": round(g.score, 6)} for g in exp.worst],
            "similar_rated": [{**_track_json(s.track), "similarity": round(s.similarity, 6),
                               "rating": s.rating.kind if s.rating else None} for s in exp.similar],
            "banned": None if exp.banned is None else {"kind": exp.banned.kind, "name": exp.banned.label},
        }, indent=2))
        return
    scores = [v for _, _, v in exp.windows]
    line = sparkline(scores)
    shown = color_sparkline(scores) if _use_color() else line
    typer.echo(_track_line(exp.track))
    typer.echo(f"  {exp.track.path}")
    rank = f"rank {exp.rank} of {exp.ranked_total}" if exp.rank else "not ranked"
    score = f"{exp.score:.3f}" if exp.score is not None else "–"
    rating = "no rating" if exp.rating is None else (
        f"you {_rated(exp.rating.kind)} it"
        + (f" at {mmss(exp.rating.position_s)}" if exp.rating.position_s is not None else ""))
    typer.echo(f"score {score} (mean of {len(scores)} windows), {rank}; {rating}")
    if exp.banned is not None:
        typer.echo(f"banned ({exp.banned.kind} {exp.banned.label}): never recommended")
    typer.echo("")
    typer.echo(f"  {shown}")
    typer.echo(f"  {time_axis(exp.track.duration_s, len(line))}")
    typer.echo("")
    typer.echo("best segments:  " + "   ".join(f"{mmss(g.start_s)}–{mmss(g.end_s)} {g.score:.2f}" for g in exp.best))
    typer.echo("worst segments: " + "   ".join(f"{mmss(g.start_s)}–{mmss(g.end_s)} {g.score:.2f}" for g in exp.worst))
    if exp.similar:
        typer.echo("")
        typer.echo("closest rated tracks:")
        for s in exp.similar:
            rating = f"you {_rated(s.rating.kind)} it" if s.rating else "not rated"
            typer.echo(f"  {s.similarity:+.3f}  {_track_line(s.track)}  ({rating})")


@app.command()
def explain(
    track: str = typer.Argument(..., help="A path, or words from the title/artist/file name."),
    as_json: bool = typer.Option(False, "--json", help="Every window's start, end and score as JSON."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw window scores over time above the "
                                        "MFCC image, best segment marked, as a PNG (needs prefrec[plot]).",
                                        show_default=False),
    clip: Optional[Path] = typer.Option(None, "--clip", help="Also write the best-scoring 8 s as a WAV file.",
                                        show_default=False),
) -> None:
    """Why a track scores as it does: window scores over time, best and worst segments, rank, your
    rating and the closest tracks you rated.

    Example: prefrec explain "so what" --plot so-what.png --clip best.wav
    """
    from prefrec.explain import mmss

    with _service() as service:
        exp = service.queries.explain(track)
        _render_explanation(exp, as_json=as_json)
        if plot is not None:
            service.queries.plot(exp, plot)
            _err(f"plot written to {plot}")
        if clip is not None:
            segment = service.queries.clip(exp, clip)
            _err(f"best segment {mmss(segment.start_s)}–{mmss(segment.end_s)} ({segment.score:.2f}) "
                 f"written to {clip}")


@app.command()
def similar(
    track: str = typer.Argument(..., help="A path, or words from the title/artist/file name."),
    n: int = typer.Option(10, "-n", "--count", min=1, help="How many tracks."),
    as_json: bool = typer.Option(False, "--json", help="JSON list: rank, path, title, artist, album, "
                                 "duration, similarity, rating."),
) -> None:
    """Tracks that sound closest to TRACK, by the model's learnt features.

    Example: prefrec similar "so what" -n 5
    """
    with _service() as service:
        seed, items = service.queries.similar(track, n)
    if as_json:
        typer.echo(json.dumps([{"rank": i, **_track_json(s.track), "similarity": round(s.similarity, 6),
                                "rating": s.rating.kind if s.rating else None}
                               for i, s in enumerate(items, start=1)], indent=2))
        return
    _err(f"closest to {_track_line(seed)}:")
    for i, s in enumerate(items, start=1):
        rating = f"  (you {_rated(s.rating.kind)} it)" if s.rating else ""
        typer.echo(f"{i:3d}. {s.similarity:+.3f}  {_track_line(s.track)}{rating}")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable status.")) -> None:
    """Library, analysis, errors, feedback, model and daemon state.

    Example: prefrec status --json
    """
    import time

    with _service() as service:
        info = service.queries.status()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(f"data:     {info['home']}")
    typer.echo(f"library:  {info['tracks']} tracks, {info['analysed']} analysed, {info['pending']} pending, "
               f"{info['errors']} could not be used, {info['gone']} gone")
    typer.echo(f"feedback: {info['feedback']} events ({info['likes']} liked, {info['skips']} skipped now)")
    model = info["model"]
    if model:
        age = time.time() - model["created_at"]
        stale = " — newer feedback: run `prefrec train`" if model["stale"] else ""
        typer.echo(f"model:    #{model['id']}, trained {_ago(age)} on {model['rated_tracks']} rated tracks{stale}")
    else:
        typer.echo("model:    none yet (rate a few tracks, then `prefrec train`)")
    typer.echo(f"daemon:   {_daemon_line(info['daemon'], info.get('ranked_at'))}")
    for item in info["error_files"][:10]:
        typer.echo(f"  cannot use {item['path']}: {item['reason']}")
    if len(info["error_files"]) > 10:
        typer.echo(f"  … and {len(info['error_files']) - 10} more (`prefrec status --json` lists all)")
    for item in info.get("flagged_files", [])[:10]:
        typer.echo(f"  flagged {item['path']}: {item['note']}")


def _daemon_line(daemon: Optional[dict], ranked_at: Optional[float]) -> str:
    import time

    if daemon is None:
        return "not running (start it with `prefrec daemon ~/Music`)"
    ranked = f"rankings updated {_ago(time.time() - ranked_at)}" if ranked_at else "no rankings yet"
    line = (f"pid {daemon['pid']}, {daemon['state']}, {daemon['queue']} queued, "
            f"watching with {daemon['watcher'] or '…'}; {ranked}")
    if daemon["last_error"]:
        line += f"\n  last error ({_ago(time.time() - daemon['last_error_at'])}): {daemon['last_error']}"
    return line


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return "just now"


# -- daemon ------------------------------------------------------------------------------------


@app.command()
def daemon(library: list[Path] = typer.Argument(..., help="Folder(s) holding your music.")) -> None:
    """Run in the foreground: watch the folders, analyse what changes, retrain after feedback.

    Stop it with Ctrl-C or SIGTERM; SIGHUP reloads config.toml. Logs go to stderr and to
    DATA_DIR/logs/daemon.log. One daemon per data dir.

    Example: prefrec daemon ~/Music
    """
    from prefrec.config import load_settings
    from prefrec.daemon import run_daemon

    raise typer.Exit(run_daemon(load_settings(_state.home), [str(p) for p in library]))


# -- control -----------------------------------------------------------------------------------


def _render_bans(bans: "list[Ban]", *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps([{"kind": b.kind, "name": b.label, "since": round(b.created_at, 3)} for b in bans],
                              indent=2))
        return
    if not bans:
        _err("nothing is banned")
    for b in bans:
        typer.echo(f"{b.kind:6s}  {b.label}")


_TRACK_OPT_HELP = "A path, or words from the title/artist/album/file name."


@app.command()
def ban(
    track: Optional[str] = typer.Argument(None, help=_TRACK_OPT_HELP, show_default=False),
    artist: Optional[str] = typer.Option(None, "--artist", help="Ban every track of this artist.",
                                         show_default=False),
    album: Optional[str] = typer.Option(None, "--album", help="Ban every track of this album.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="With nothing to ban: list the bans as JSON."),
) -> None:
    """Never recommend a track, an artist or an album (with no argument: list the bans).

    Example: prefrec ban --artist "kenny g"
    """
    with _service() as service:
        if track is None and artist is None and album is None:
            _render_bans(service.control.bans(), as_json=as_json)
            return
        banned, added = service.control.ban(track, artist=artist, album=album)
    _err(f"{'banned' if added else 'already banned'} {banned.kind} {banned.label}: it will not be recommended "
         "(`prefrec unban` lifts it)")


@app.command()
def unban(
    track: Optional[str] = typer.Argument(None, help=_TRACK_OPT_HELP, show_default=False),
    artist: Optional[str] = typer.Option(None, "--artist", help="Lift the ban on this artist.", show_default=False),
    album: Optional[str] = typer.Option(None, "--album", help="Lift the ban on this album.", show_default=False),
) -> None:
    """Lift a ban made with `prefrec ban`.

    Example: prefrec unban --album "christmas hits"
    """
    with _service() as service:
        lifted = service.control.unban(track, artist=artist, album=album)
    _err(f"unbanned {lifted.kind} {lifted.label}")


@app.command()
def forget(track: str = typer.Argument(..., help=_TRACK_OPT_HELP)) -> None:
    """Withdraw what prefrec knows of your taste for a track: your rating, and the plays and skips a
    player saw (recorded as an event in the feedback log; nothing is deleted).

    Example: prefrec forget "so what"
    """
    from prefrec.explain import mmss

    with _service() as service:
        result = service.control.forget(track)
    if result.feedback_id is None:
        _err(f"nothing to forget: you have not rated {_track_line(result.track)}")
        return
    was = result.withdrawn
    if was is not None:
        where = f" at {mmss(was.position_s)}" if was.position_s is not None else ""
        _err(f"forgot that you {_rated(was.kind)} it{where}: {_track_line(result.track)}")
    else:
        _err(f"forgot what was seen of {_track_line(result.track)} ({result.rows} listening record"
             f"{'' if result.rows == 1 else 's'})")
    _err("run `prefrec train` (or let the daemon) to update the recommendations")


def _event_text(event: "FeedbackEvent", rules: Any) -> str:
    """What one log row says, in words: 'like', 'skip at 0:42', 'session: listen (3:10 of 4:01)'."""
    from prefrec.explain import mmss
    from prefrec.labels import describe_session

    row = event.row
    if row.kind == "skip" and row.position_s is not None:
        return f"skip at {mmss(row.position_s)}"
    if row.kind == "session":
        session = row.session
        assert session is not None
        return (f"played {mmss(session.played_s)} of {mmss(session.duration_s)}, {session.end_reason}: "
                f"{describe_session(session, rules)}")
    if row.kind == "counts":
        return f"counts: {row.detail.get('plays', 0)} plays, {row.detail.get('skips', 0)} skips"
    if row.kind == "forget_source":
        return f"forgot everything from {row.source}"
    return row.kind


@app.command()
def history(
    n: int = typer.Option(20, "-n", "--count", min=1, help="How many events."),
    as_json: bool = typer.Option(False, "--json", help="JSON list: id, kind, source, at, time, withdrawn, "
                                 "detail, path, title, artist, album, duration."),
) -> None:
    """Your latest feedback, newest first: likes, skips, forgets, and what players saw, with the
    source of each (cli, mpd, mpris, import:NAME).

    Example: prefrec history -n 50
    """
    import time

    with _service() as service:
        events = service.control.history(n)
        rules = service.settings.label_rules()
    if as_json:
        typer.echo(json.dumps([{
            "id": e.row.id, "kind": e.row.kind, "source": e.row.source, "at": e.row.position_s,
            "time": round(e.row.when, 3), "withdrawn": e.row.withdrawn, "detail": e.row.detail or None,
            **(_track_json(e.track) if e.track else {"path": e.row.path or None, "title": None, "artist": None,
                                                       "album": None, "duration": None}),
        } for e in events], indent=2))
        return
    if not events:
        _err("no ratings yet: `prefrec like TRACK` / `prefrec skip TRACK`")
    for e in events:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.row.when))
        if e.row.kind == "forget_source":
            name = ""
        else:
            name = _track_line(e.track) if e.track else f"{e.row.path} (no longer in the library)"
        withdrawn = "  (withdrawn)" if e.row.withdrawn else ""
        typer.echo(f"{when}  {e.row.source:8s} {_event_text(e, rules):24s}  {name}{withdrawn}")


# -- demo --------------------------------------------------------------------------------------


@app.command()
def demo(
    tracks_per_style: int = typer.Option(8, "--per-style", min=3, help="Tracks per style."),
    keep: bool = typer.Option(False, "--keep", help="Keep the generated library and data dir."),
) -> None:
    """Generate a small library in three styles, rate a few as a listener would, train, recommend.

    Uses a throw-away data dir unless --home is given. Example: prefrec demo
    """
    import shutil
    import tempfile
    import time

    from prefrec.config import load_settings
    from prefrec.service import Service
    from prefrec.synth import write_library

    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="prefrec-demo-"))
    home = Path(_state.home) if _state.home else scratch / "home"
    music = scratch / "music"
    try:
        _err(f"1/5 generating {3 * tracks_per_style} tracks in three styles (pads, drums, chiptune) in {music}")
        library = write_library(music, ["pads", "drums", "chiptune"], tracks_per_style, seed=7)
        with Service(load_settings(home)) as service:
            _err("2/5 scanning")
            progress, update, on_result = _progress_bar("analysing")
            with progress:
                report = service.library.scan([str(music)], progress=update, on_result=on_result)
            _render_scan(report)
            _err("3/5 rating: the listener likes pads and skips drums (one of them 10 s in)")
            liked = [t for t in library if t.style == "pads"][:2]
            skipped = [t for t in library if t.style == "drums"][:2]
            for t in liked:
                service.control.rate(str(t.path), "like")
                _err(f"  like {t.title}")
            for i, t in enumerate(skipped):
                service.control.rate(str(t.path), "skip", at="0:10" if i == 0 else None)
                _err(f"  skip {t.title}")
            _err("4/5 training")
            result = service.learning.train()
            _err(f"  {result.epochs} epochs in {result.train_s:.1f} s; ranked {result.scored} tracks")
            _err("5/5 recommendations (unrated tracks, best first):")
            # One artist per style here: the usual cap of 2 per artist would fill ranks 3-6 with
            # the disliked styles, so the demo shows the plain ranking.
            recs = service.queries.recommend(10, diversify=False)
            _render_recommendations(recs, as_json=False, m3u=False)
            if recs.items:
                typer.echo("")
                _render_explanation(service.queries.explain(recs.items[0].track.path), as_json=False)
            style_of = {str(t.path): t.style for t in library}
            top = [style_of.get(r.track.path) for r in recs.items[:5]]
            _err(f"\ntop 5 styles: {', '.join(str(s) for s in top)}  (liked style: pads)")
            _err(f"demo finished in {time.perf_counter() - started:.0f} s; data dir: {home}")
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            _err(f"kept {scratch}")


# -- entry point -------------------------------------------------------------------------------


def _render_error(exc: PrefrecError) -> None:
    _err(f"prefrec: {exc}")
    if isinstance(exc, AmbiguousName):
        for i, name in enumerate(exc.candidates[:20], start=1):
            _err(f"  {i}. {name}")
        if len(exc.candidates) > 20:
            _err(f"  … and {len(exc.candidates) - 20} more")
    if isinstance(exc, AmbiguousTrack):
        shown = exc.candidates[:10]
        for i, track in enumerate(shown, start=1):
            _err(f"  {i}. {_track_line(track)}\n     {track.path}")
        if len(exc.candidates) > len(shown):
            _err(f"  … and {len(exc.candidates) - len(shown)} more")


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point: runs the app and maps errors to one-line messages and exit codes."""
    try:
        app(args=argv, prog_name="prefrec")
    except PrefrecError as exc:
        if _state.verbose:
            import traceback

            traceback.print_exc()
        _render_error(exc)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - a bug: one line unless -v, as for every other error
        if _state.verbose:
            import traceback

            traceback.print_exc()
        _err(f"prefrec: unexpected error ({type(exc).__name__}: {exc}); "
             + ("please report it" if _state.verbose else "run with -v for the traceback and report it"))
        sys.exit(1)
