"""The `prefrec` command: parse, call the service, render. Imports no torch or librosa.

Data goes to stdout, messages to stderr. Exit codes: 0 success, 1 error (e.g. unknown track),
2 usage error or ambiguous track, 130 interrupted. Colour only on a terminal, never with NO_COLOR.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from prefrec import __version__, render
from prefrec.errors import OutputError, PrefrecError, UsageError

if TYPE_CHECKING:
    from prefrec.service import Service
    from prefrec.service.names import Chooser

EXIT_CODES = ("Exit codes: 0 success; 1 error (unknown track or name, no model yet, unreadable file, "
              "database trouble); 2 usage error or ambiguous track/name (candidates are listed); "
              "130 interrupted. Data goes to stdout, messages to stderr; NO_COLOR turns colour off; "
              "-v shows tracebacks.")



def _stdout_to_devnull() -> None:
    """Point file descriptor 1 at /dev/null, so that the interpreter's last flush of what could not
    be written (a closed pipe, a full device) neither fails nor prints "Exception ignored"."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. captured in tests)
        pass


class _Group(TyperGroup):
    """The `prefrec` command group: every error becomes one line on stderr and an exit code, the
    same way for the console script and for in-process runs (typer's CliRunner)."""

    def main(self, args: Any = None, *posargs: Any, **kwargs: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        for arg in argv:
            if isinstance(arg, str) and any("\udc80" <= c <= "\udcff" for c in arg):
                shown = render.safe(os.fsencode(arg).decode("utf-8", "backslashreplace"))
                render.err(f"prefrec: the argument '{shown}' is not valid UTF-8; "
                           "prefrec keeps names as UTF-8: rename the file or folder, or type it in UTF-8")
                sys.exit(UsageError.exit_code)
        standalone = kwargs.pop("standalone_mode", True)
        try:
            code = super().main(argv, *posargs, standalone_mode=False, **kwargs)
        except Exception as exc:  # typer's usage errors (a bad option value, a missing argument)
            if not (type(exc).__module__.startswith(("click", "typer")) and hasattr(exc, "exit_code")):
                raise
            if type(exc).__name__ == "NoArgsIsHelpError" or not hasattr(exc, "format_message"):
                if hasattr(exc, "show"):
                    exc.show()
            else:  # one line, as every other error
                context = getattr(exc, "ctx", None)
                hint = f" (see `{context.command_path} --help`)" if context is not None else ""
                render.err(f"prefrec: {render.safe(exc.format_message())}{hint}")
            code = exc.exit_code
        code = code if isinstance(code, int) else 0
        if standalone:
            sys.exit(code)
        return code

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            render.err("prefrec: interrupted")
            ctx.exit(130)
        except Exception as exc:
            if type(exc).__module__.startswith(("click", "typer")):  # usage errors and exits: typer's handling
                raise
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                # e.g. `prefrec recommend | head -1`: the reader has all it wanted; end quietly, as beets does
                _stdout_to_devnull()
                ctx.exit(0)
            _traceback()
            if isinstance(exc, OutputError):
                _stdout_to_devnull()
            message, code = _one_line(exc)
            render.err(f"prefrec: {message}")
            if isinstance(exc, PrefrecError):
                render.error_candidates(exc)
            ctx.exit(code)


def _one_line(exc: Exception) -> tuple[str, int]:
    """What to tell the listener about `exc`, and the exit code."""
    if isinstance(exc, PrefrecError):  # escaped: messages quote names and tags from outside
        lines = str(exc).split("\n") if exc.multiline else [str(exc)]
        return "\n".join(render.safe(line) for line in lines), exc.exit_code
    if isinstance(exc, OSError):
        where = f"{render.safe(exc.filename)}: " if exc.filename else ""
        hint = ("free some disk space and try again" if exc.errno in (errno.ENOSPC, errno.EDQUOT)
                else "check the path and its permissions")
        return f"{where}{exc.strerror or exc}; {hint}", 1
    # a bug: one line unless -v, as for every other error
    return (f"unexpected error ({type(exc).__name__}: {render.safe(exc)}); "
            + ("please report it" if _state.verbose else "run with -v for the traceback and report it")), 1


def _traceback() -> None:
    if _state.verbose:
        import traceback

        traceback.print_exc()


app = typer.Typer(
    cls=_Group,
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="A personal music recommender that learns your taste from like/skip.\n\n"
    "Example: prefrec scan ~/Music && prefrec like 'blue in green' && prefrec train && prefrec recommend",
    epilog=EXIT_CODES,
)


class _State:
    home: str | None = None
    verbose: bool = False


_state = _State()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"prefrec {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    home: str | None = typer.Option(None, "--home", metavar="DIR", help="Data directory (default: $PREFREC_HOME, "
                                       "else the user data dir).", show_default=False),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    if home is not None and not home.strip():
        raise UsageError("--home '': give the data directory's path")
    _state.home = home
    _state.verbose = verbose


def _service(*, create: bool = False, **overrides: Any) -> Service:
    """The service over the data dir; `create` only for commands that fill it (scan): the others
    never create anything, so a mistyped --home is an error, not a new empty data dir."""
    from prefrec.config import load_settings
    from prefrec.service import Service

    return Service(load_settings(_state.home, **overrides), create=create)


def _folders(library: list[str]) -> list[str]:
    """The music folders as given, refusing an empty one (which would mean the current folder)."""
    if any(not folder.strip() for folder in library):
        raise UsageError("an empty folder name was given; name the folder(s) that hold your music")
    return library


def _output_file(option: str, path: str | None) -> Path | None:
    """A file to write (--plot, --clip), checked before any work: not empty, not a folder, in a
    folder that exists and can be written."""
    if path is None:
        return None
    if not path.strip():
        raise UsageError(f"{option} '': give a file name")
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"{option} {render.safe(path)}: is a folder; give a file name in it")
    folder = out.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {render.safe(path)}: the folder {render.safe(folder)} does not exist; "
                         "create it or choose another path")
    existed = out.exists()
    try:  # the one sure test that it can be written (permissions, a read-only file system)
        with open(out, "ab"):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {render.safe(path)}: cannot write it ({exc.strerror}); choose another path") from exc
    if not existed:
        out.unlink(missing_ok=True)
    return out


def _writing(option: str, out: Path):
    """Turn a failure to write `out` (a full disk, /dev/full) into a one-line error naming it."""
    from contextlib import contextmanager

    @contextmanager
    def guard():
        try:
            yield
        except (OSError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and type(exc).__module__ != "soundfile":  # libsndfile's write errors
                raise
            reason = getattr(exc, "strerror", None) or exc
            raise PrefrecError(f"{option} {render.safe(out)}: could not write it ({render.safe(reason)}); "
                               "choose a place with space left") from exc

    return guard()


# -- scan --------------------------------------------------------------------------------------


@app.command()
def scan(
    library: list[str] = typer.Argument(..., help="Folder(s) holding your music."),
    no_train: bool = typer.Option(False, "--no-train", help="Only analyse; do not retrain or rescore."),
    as_json: bool = typer.Option(False, "--json", help="Print the scan report as JSON on stdout."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Analyse again every file that could not "
                                      "be used before (those that failed for a reason of the machine, like a "
                                      "full disk or the time limit, are retried anyway)."),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, show_default=False,
                                          help="Analysis processes (default: all cores)."),
) -> None:
    """Analyse new and changed audio files once (train and rank too if there is feedback).

    Example: prefrec scan ~/Music
    """
    folders = _folders(library)
    with _service(create=True, workers=workers) as service, render.Stages() as stages:
        report = service.library.scan(folders, progress=stages, train=not no_train, retry_failed=retry_failed,
                                      on_result=stages.on_result)
    if as_json:
        render.dump_json({
            "found": report.found, "analysed": report.analysed, "unchanged": report.unchanged,
            "failed": [{"path": p, "reason": r, "transient": p in report.transient} for p, r in report.failed],
            "gone": report.gone,
            "seconds": round(report.seconds, 3), "audio_seconds": round(report.audio_seconds, 1),
            "trained": report.trained is not None, "pretrained": report.pretrained is not None,
        })
    else:
        render.scan_report(report)


# -- naming tracks -----------------------------------------------------------------------------

_TRACK_HELP = ("A path, a folder, a file:// URI, or words from the title/artist/album/file name "
               "(no quotes needed). On a terminal, several matches let you pick one.")


def _chooser() -> Chooser | None:
    """A prompt that lets the listener pick one of several matching tracks, when stdin and stderr
    are a terminal; None otherwise (then an ambiguous name lists the candidates and exits 2)."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None

    def choose(query: str, candidates: list) -> Any:
        import click

        shown = candidates[:20]
        render.candidates(f"{render.safe(repr(query))} matches {len(candidates)} tracks:", shown, len(candidates))
        while True:
            try:
                answer = typer.prompt(f"which one? [1-{len(shown)}, Enter to cancel]", default="",
                                      show_default=False, err=True)
            except click.exceptions.Abort:
                render.err("")
                return None
            if not answer.strip():
                return None
            if answer.strip().isdigit() and 1 <= int(answer) <= len(shown):
                return shown[int(answer) - 1]
            render.err(f"give a number from 1 to {len(shown)}, or press Enter to cancel")

    return choose


def _targets(track: list[str] | None) -> tuple[list[str], bool]:
    """The TRACK arguments, with `-` replaced by the lines of stdin (paths or file:// URIs, as
    players and scripts give them); and whether stdin was read."""
    args = list(track or [])
    if "-" not in args:
        return args, False
    lines = [line.strip() for line in sys.stdin.read().splitlines() if line.strip()]
    if not lines:
        from prefrec.errors import UsageError

        raise UsageError("`-` reads paths from stdin, one per line, but stdin was empty")
    out: list[str] = []
    for arg in args:
        out += lines if arg == "-" else [arg]
    return out, True


# -- feedback ----------------------------------------------------------------------------------


_NOW = " None named: the song your player plays now (player = \"mpd\" or \"mpris\" in config.toml)."


def _rate(track: list[str] | None, kind: str, at: str | None, artist: str | None,
          album: str | None) -> None:
    targets, from_stdin = _targets(track)
    with _service() as service:
        if not targets and artist is None and album is None:
            if at is not None:
                from prefrec.errors import UsageError

                raise UsageError("--at goes with a TRACK; without one the player says where you are")
            result, moved = service.player.rate_current(kind)
        else:
            result = service.control.rate(targets, kind, at=at, artist=artist, album=album,
                                          choose=None if from_stdin else _chooser(), paths_only=from_stdin)
            moved = False
    render.rate_result(result)
    if moved:
        render.err("moved the player on to the next song")


@app.command()
def like(
    track: list[str] | None = typer.Argument(None, help=_TRACK_HELP + " Several paths or a folder like them all; "
                                                "`-` reads paths from stdin." + _NOW, show_default=False),
    artist: str | None = typer.Option(None, "--artist", help="Like every track of this artist.", show_default=False),
    album: str | None = typer.Option(None, "--album", help="Like every track of this album.", show_default=False),
) -> None:
    """Tell prefrec you like a track (or several: paths, a folder, an album, an artist; none named:
    the song playing now).

    Example: prefrec like kind of blue so what
    """
    _rate(track, "like", None, artist, album)


@app.command()
def skip(
    track: list[str] | None = typer.Argument(None, help=_TRACK_HELP + " Several paths or a folder skip them all; "
                                                "`-` reads paths from stdin." + _NOW, show_default=False),
    at: str | None = typer.Option(None, "--at", help="Where you skipped it: 1:23 or 83 (seconds)."),
    artist: str | None = typer.Option(None, "--artist", help="Skip every track of this artist.", show_default=False),
    album: str | None = typer.Option(None, "--album", help="Skip every track of this album.", show_default=False),
) -> None:
    """Tell prefrec you skipped a track, optionally where: what you heard before counts most (none
    named: the song playing now, at where it is, and the player moves on).

    Example: prefrec skip ~/Music/noise.mp3 --at 0:42
    """
    _rate(track, "skip", at, artist, album)


@app.command()
def radio(
    track: str | None = typer.Argument(None, help="The track to start from (default: the song playing now).",
                                          show_default=False),
    off: bool = typer.Option(False, "--off", help="Back to plain recommendations."),
) -> None:
    """With MPD: fill the queue with tracks near TRACK, ranked by your taste, until `--off`.
    The daemon's MPD client does the queueing (`prefrec daemon` with player = "mpd").

    Example: prefrec radio "so what"
    """
    with _service() as service:
        seed = service.player.radio(track, off=off)
    if seed is None:
        render.err("radio off: the queue gets your recommendations again")
    else:
        render.err(f"radio: queueing tracks near {render.track_line(seed)}")


# -- training ----------------------------------------------------------------------------------


@app.command()
def train() -> None:
    """Fit the model on all feedback now and rescore every track.

    Example: prefrec train
    """
    with _service() as service, render.Stages() as stages:
        result = service.learning.train(progress=stages)
    render.train_result(result)


@app.command()
def evaluate(
    as_json: bool = typer.Option(False, "--json", help="The figures as JSON."),
    plot: Path | None = typer.Option(None, "--plot", help="Also draw the figures and the calibration as a "
                                        "PNG (needs prefrec[plot]).", show_default=False),
    repeats: int = typer.Option(2, "--repeats", min=1, max=20, help="Cross-validations with different folds."),
) -> None:
    """How well the model predicts your own ratings: repeated cross-validation, each fold trained as
    `train` trains, against the MFCC-statistics baseline on the same folds; split by track and
    grouped by album (the harder "new music" figure). ROC-AUC and precision@10 with 95% intervals,
    and calibration. Needs at least 5 likes and 5 skips; takes a minute or more.

    Example: prefrec evaluate --plot quality.png
    """
    with _service() as service:
        with render.Stages() as stages:
            def update(done: int, total: int, _grouping: str) -> None:
                stages("evaluating", 100 * done // max(total, 1), 100)

            result = service.learning.evaluate(repeats=repeats, progress=update)
        render.evaluation(result.to_json(), as_json=as_json)
        if plot is not None:
            service.learning.plot_evaluation(result.to_json(), plot)
            render.err(f"plot written to {render.safe(plot)}")


# -- queries -----------------------------------------------------------------------------------


def _duration(option: str, text: str | None) -> float | None:
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
    artist: str | None = typer.Option(None, "--artist", help="Only artists whose name contains this."),
    album: str | None = typer.Option(None, "--album", help="Only albums whose name contains this."),
    min_duration: str | None = typer.Option(None, "--min-duration", help="Shortest track: 90 or 1:30."),
    max_duration: str | None = typer.Option(None, "--max-duration", help="Longest track: 600 or 10:00."),
    folder: str | None = typer.Option(None, "--folder", help="Only tracks in this folder (a path, or the name "
                                         "of a folder of the library).", show_default=False),
    include_flagged: bool = typer.Option(False, "--include-flagged", help="Also files shorter than a window (8 s), "
                                         "truncated, or with damaged (NaN) samples."),
) -> None:
    """Unrated tracks, best first: one file per recording, at most 2 per artist, album (or folder,
    untagged) in the top 20 among tracks of comparable score, banned ones never. Before your first
    rating: a starter set spread over the library, to rate.

    Example: prefrec recommend -n 10 --explore 0.2 --max-duration 6:00 --m3u > tonight.m3u
    """
    from prefrec.store import RecommendFilter

    with _service() as service:
        from prefrec.service.names import resolve_folder

        filters = RecommendFilter(artist=artist, album=album,
                                  min_duration_s=_duration("--min-duration", min_duration),
                                  max_duration_s=_duration("--max-duration", max_duration),
                                  folder=resolve_folder(service.store, folder) if folder is not None else None,
                                  include_flagged=include_flagged)
        recs = service.queries.recommend(n, diversify=not no_diversify, explore=explore, filters=filters)
    render.recommendations(recs, as_json=as_json, m3u=m3u)


@app.command()
def explain(
    track: list[str] = typer.Argument(..., help=_TRACK_HELP),
    as_json: bool = typer.Option(False, "--json", help="Every window's start, end and score as JSON."),
    plot: str | None = typer.Option(None, "--plot", metavar="FILE", help="Also draw the score curve over time above the "
                                        "track's spectrogram, best segment and your skip marked: .png, .pdf or "
                                        ".svg (needs prefrec[plot]).", show_default=False),
    clip: str | None = typer.Option(None, "--clip", metavar="FILE", help="Also cut the best-scoring 8 s out of the original "
                                        "file at its own quality (.wav, .flac, or the file's own format).",
                                        show_default=False),
) -> None:
    """Why a track scores as it does: window scores over time, best and worst segments, rank, your
    rating and the closest tracks you rated.

    Example: prefrec explain so what --plot so-what.pdf --clip best.wav
    """
    from prefrec.explain import mmss, plot_format

    plot_file, clip_file = _output_file("--plot", plot), _output_file("--clip", clip)
    if plot_file is not None:
        plot_format(plot_file)  # refuse an unknown extension before any work
    with _service() as service:
        exp = service.queries.explain(" ".join(track), choose=_chooser())
        render.explanation(exp, as_json=as_json)
        if plot_file is not None:
            with _writing("--plot", plot_file):
                service.queries.plot(exp, plot_file)
            render.err(f"plot written to {render.safe(plot_file)}")
        if clip_file is not None:
            with _writing("--clip", clip_file):
                segment, how = service.queries.clip(exp, clip_file)
            render.err(f"best segment {mmss(segment.start_s)}–{mmss(segment.end_s)} ({segment.score:.2f}) "
                       f"written to {render.safe(clip_file)} ({render.CLIP_HOW[how]})")


@app.command()
def similar(
    track: list[str] = typer.Argument(..., help=_TRACK_HELP),
    n: int = typer.Option(10, "-n", "--count", min=1, help="How many tracks."),
    as_json: bool = typer.Option(False, "--json", help="JSON list: rank, path, title, artist, album, "
                                 "duration, similarity, rating."),
) -> None:
    """Tracks that sound closest to TRACK, by the model's learnt features.

    Example: prefrec similar so what -n 5
    """
    with _service() as service:
        seed, items = service.queries.similar(" ".join(track), n, choose=_chooser())
    render.similar(seed, items, as_json=as_json)


@app.command()
def search(
    words: list[str] = typer.Argument(..., help="Words from titles, artists, albums or file names (whole words; "
                                      "case and accents ignored)."),
    n: int = typer.Option(50, "-n", "--count", min=1, help="At most this many tracks."),
    as_json: bool = typer.Option(False, "--json", help="JSON list: path, title, artist, album, duration, score, "
                                 "rating, flags, copies."),
) -> None:
    """Find tracks by name, with their score, your rating and flags (exit 1 with suggestions when
    nothing matches).

    Example: prefrec search battle theme
    """
    with _service() as service:
        items = service.queries.search(" ".join(words), limit=n)
    render.listing(items, as_json=as_json)


@app.command("list")
def list_tracks(
    artist: str | None = typer.Option(None, "--artist", help="Only artists whose name contains this."),
    album: str | None = typer.Option(None, "--album", help="Only albums whose name contains this."),
    folder: str | None = typer.Option(None, "--folder", help="Only tracks in this folder (a path, or the name "
                                         "of a folder of the library).", show_default=False),
    unrated: bool = typer.Option(False, "--unrated", help="Only tracks you have not rated."),
    flagged: bool = typer.Option(False, "--flagged", help="Only flagged files (too short, truncated, NaN samples)."),
    as_json: bool = typer.Option(False, "--json", help="JSON list: path, title, artist, album, duration, score, "
                                 "rating, flags, copies."),
) -> None:
    """Browse the library by path, with each track's score, your rating and flags.

    Example: prefrec list --folder ~/Music/field-recordings --unrated
    """
    with _service() as service:
        items = service.queries.browse(artist=artist, album=album, folder=folder, unrated=unrated, flagged=flagged)
    render.listing(items, as_json=as_json)


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable status.")) -> None:
    """Library, analysis, errors, feedback, model and daemon state.

    Example: prefrec status --json
    """
    from prefrec.errors import NotReady

    try:
        service = _service()
    except NotReady as exc:  # no data dir yet: say so, and create nothing
        from prefrec.config import load_settings

        home = str(load_settings(_state.home).home)
        if as_json:
            render.dump_json({"home": home, "data_dir": False, "hint": str(exc)})
        else:
            render.out(f"data:     {render.safe(home)} (no data dir yet)")
        render.err(render.safe(exc))
        return
    with service:
        info = service.queries.status()
    render.status(info, as_json=as_json)


# -- daemon ------------------------------------------------------------------------------------


@app.command()
def daemon(
    library: list[str] = typer.Argument(..., help="Folder(s) holding your music."),
    autoqueue: bool | None = typer.Option(None, "--autoqueue/--no-autoqueue", show_default=False,
                                             help="Keep MPD's queue filled with recommendations "
                                                  "(default: the autoqueue setting)."),
) -> None:
    """Run in the foreground: watch the folders, analyse what changes, retrain after feedback,
    and learn from your music player (player = "mpd" or "mpris" in config.toml).

    Stop it with Ctrl-C or SIGTERM; SIGHUP reloads config.toml. Logs go to stderr and to
    DATA_DIR/logs/daemon.log. One daemon per data dir.

    Example: prefrec daemon ~/Music --autoqueue
    """
    from prefrec.config import load_settings
    from prefrec.daemon import run_daemon

    raise typer.Exit(run_daemon(load_settings(_state.home), _folders(library), autoqueue=autoqueue))


# -- control -----------------------------------------------------------------------------------


_TRACK_OPT_HELP = "A path, or words from the title/artist/album/file name (no quotes needed)."


@app.command()
def ban(
    track: list[str] | None = typer.Argument(None, help=_TRACK_OPT_HELP, show_default=False),
    artist: str | None = typer.Option(None, "--artist", help="Ban every track of this artist.",
                                         show_default=False),
    album: str | None = typer.Option(None, "--album", help="Ban every track of this album.", show_default=False),
    list_bans: bool = typer.Option(False, "--list", help="List the bans."),
    as_json: bool = typer.Option(False, "--json", help="With --list: the bans as JSON."),
) -> None:
    """Never recommend a track, an artist or an album. With nothing named: the song your player
    plays now (and the player moves on), or the list of bans when no player is set up.

    Example: prefrec ban --artist "kenny g"
    """
    moved = False
    with _service() as service:
        nothing_named = track is None and artist is None and album is None
        if list_bans or (nothing_named and service.settings.player == "none"):
            render.bans(service.control.bans(), as_json=as_json)
            return
        if nothing_named:
            banned, added, moved = service.player.ban_current()
        else:
            banned, added = service.control.ban(" ".join(track) if track else None, artist=artist, album=album,
                                                choose=_chooser())
    render.err(f"{'banned' if added else 'already banned'} {banned.kind} {render.safe(banned.label)}: it will "
               "not be recommended (`prefrec unban` lifts it)")
    if moved:
        render.err("moved the player on to the next song")


@app.command()
def unban(
    track: list[str] | None = typer.Argument(None, help=_TRACK_OPT_HELP, show_default=False),
    artist: str | None = typer.Option(None, "--artist", help="Lift the ban on this artist.", show_default=False),
    album: str | None = typer.Option(None, "--album", help="Lift the ban on this album.", show_default=False),
) -> None:
    """Lift a ban made with `prefrec ban`.

    Example: prefrec unban --album "christmas hits"
    """
    with _service() as service:
        lifted = service.control.unban(" ".join(track) if track else None, artist=artist, album=album,
                                       choose=_chooser())
    render.err(f"unbanned {lifted.kind} {render.safe(lifted.label)}")


@app.command()
def forget(
    track: list[str] | None = typer.Argument(None, help=_TRACK_OPT_HELP, show_default=False),
    source: str | None = typer.Option(None, "--source", help="Instead of a track: withdraw everything an "
                                         "import gave (itunes, beets, m3u:NAME.m3u8…; see `prefrec status`).",
                                         show_default=False),
) -> None:
    """Withdraw what prefrec knows of your taste for a track: your rating, and the plays and skips a
    player saw; or, with --source, everything one import gave (recorded as an event in the feedback
    log; nothing is deleted).

    Example: prefrec forget "so what"; prefrec forget --source itunes
    """
    from prefrec.errors import UsageError

    if (track is None) == (source is None):
        raise UsageError("name a TRACK or --source NAME (one of them)")
    with _service() as service:
        if source is not None:
            render.forget_source_result(service.control.forget_source(source))
            return
        result = service.control.forget(" ".join(track or []), choose=_chooser())
    render.forget_result(result)


@app.command("import")
def import_(
    source: str = typer.Argument(..., help="A playlist (.m3u/.m3u8), an iTunes Library.xml, a beets, Strawberry, "
                                 "Clementine or MPD sticker database, a ListenBrainz export, or mpd://HOST:PORT."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List every entry: how it matched (or the closest "
                                 "track when it did not) and what it would add. Writes nothing."),
    as_kind: str | None = typer.Option(None, "--as", metavar="like|skip", help="Playlists: record every entry "
                                          "as a like (the default) or a skip.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="The match report as JSON: source, summary, entries "
                                 "(how, track, closest, says, adds)."),
    music_dir: Path | None = typer.Option(None, "--music-dir", help="The source's music folder, when it keeps "
                                             "only relative paths and does not say where (MPD, beets without "
                                             "its config.yaml).", show_default=False),
    fmt: str | None = typer.Option(None, "--format", help="Do not detect the format: m3u, itunes, beets, "
                                      "strawberry, clementine, listenbrainz, mpd.", show_default=False),
) -> None:
    """Bring in ratings and play counts you already have elsewhere. Importing again adds only what
    changed; every imported event names its source (`prefrec forget --source NAME` withdraws them).

    Example: prefrec import ~/Music/favourites.m3u8 --dry-run
    """
    with _service() as service:
        report = service.control.import_source(source, dry_run=dry_run, as_opinion=as_kind,
                                               music_dir=str(music_dir) if music_dir else None, format=fmt)
    render.import_report(report, as_json=as_json)


@app.command()
def history(
    n: int = typer.Option(20, "-n", "--count", min=1, help="How many events."),
    as_json: bool = typer.Option(False, "--json", help="JSON list: id, kind, source, at, time, withdrawn, "
                                 "detail, means (a session's listen/skip/nothing), path, title, artist, "
                                 "album, duration."),
    source: str | None = typer.Option(None, "--source", help="Only events from this source: cli, mpd, "
                                         "mpris, or an import (itunes, m3u:NAME.m3u8…).", show_default=False),
) -> None:
    """Your latest feedback, newest first: likes, skips, forgets, and what players saw, with the
    source of each (cli, mpd, mpris, import:NAME).

    Example: prefrec history -n 50
    """
    with _service() as service:
        events = service.control.history(n, source=source)
    render.history(events, as_json=as_json)


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
    from prefrec.render import plural
    from prefrec.service import Service
    from prefrec.synth import write_library

    started = time.perf_counter()
    if _state.home:
        with Service(load_settings(_state.home)) as service:  # refuses a folder that is not a data dir
            counts = service.store.counts()
            if counts["tracks"] or counts["gone"] or counts["feedback"]:
                raise UsageError(f"{service.settings.home}: already holds a library ({plural(counts['tracks'], 'track')}, "
                                 f"{plural(counts['feedback'], 'feedback event')}); the demo would mix its generated "
                                 "music and ratings into it: give an empty or new --home, or none")
    scratch = Path(tempfile.mkdtemp(prefix="prefrec-demo-"))
    home = Path(_state.home) if _state.home else scratch / "home"
    music = scratch / "music"
    try:
        render.err(f"1/5 generating {3 * tracks_per_style} tracks in three styles (pads, drums, chiptune) in {music}")
        library = write_library(music, ["pads", "drums", "chiptune"], tracks_per_style, seed=7)
        with Service(load_settings(home)) as service:
            render.err("2/5 scanning")
            with render.Stages() as stages:
                report = service.library.scan([str(music)], progress=stages, on_result=stages.on_result)
            render.scan_report(report)
            render.err("3/5 rating: the listener likes pads and skips drums (one of them 10 s in)")
            liked = [t for t in library if t.style == "pads"][:2]
            skipped = [t for t in library if t.style == "drums"][:2]
            for t in liked:
                service.control.rate(str(t.path), "like")
                render.err(f"  like {t.title}")
            for i, t in enumerate(skipped):
                service.control.rate(str(t.path), "skip", at="0:10" if i == 0 else None)
                render.err(f"  skip {t.title}")
            render.err("4/5 training")
            result = service.learning.train()
            render.err(f"  {render.plural(result.epochs, 'epoch')} in {result.train_s:.1f} s; "
                       f"ranked {render.plural(result.scored, 'track')}")
            render.err("5/5 recommendations (unrated tracks, best first):")
            recs = service.queries.recommend(10)
            render.recommendations(recs, as_json=False, m3u=False)
            if recs.items:
                render.out()
                render.explanation(service.queries.explain(recs.items[0].track.path), as_json=False)
            style_of = {str(t.path): t.style for t in library}
            top = [style_of.get(r.track.path) for r in recs.items[:5]]
            render.err(f"\ntop 5 styles: {', '.join(str(s) for s in top)}  (liked style: pads)")
            render.err(f"demo finished in {time.perf_counter() - started:.0f} s; data dir: {home}")
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            render.err(f"kept {scratch}")


# -- entry point -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (errors become one-line messages and exit codes in _Group)."""
    app(args=argv, prog_name="prefrec")
