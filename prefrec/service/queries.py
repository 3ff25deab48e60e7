"""Use-cases that answer questions: recommend, explain, similar, status."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefrec.errors import NotReady, UnknownTrack, UsageError
from prefrec.features import WINDOW_FRAMES
from prefrec.service.base import Controller
from prefrec.service.learning import separation_warning
from prefrec.service.names import (
    Chooser,
    banned_by,
    diversity_keys,
    ensure_scanned,
    find,
    folder_of,
    resolve,
    resolve_folder,
    search_words,
    track_label,
    unknown_message,
)
from prefrec.store import Ban, Ranked, Rating, RecommendFilter, Track


@dataclass(frozen=True)
class Recommendations:
    """What `recommend` answers: ranked tracks, or (starter=True) the starter set to rate when no
    rating can rank anything yet."""

    items: list[Recommendation]
    feedback: int
    model_id: int | None
    message: str | None = None  # why the list is empty, provisional or a starter set
    starter: bool = False
    warning: str | None = None  # the ranking's model could not tell likes from skips on held-out ratings


@dataclass(frozen=True)
class Similar:
    """A track close to another in the model's learnt feature space (cosine similarity, -1..1)."""

    track: Track
    similarity: float
    rating: Rating | None


@dataclass(frozen=True)
class Listed:
    """A track as `search` and `list` show it: its score (None when not ranked), the listener's
    rating of its music, why it is flagged (Track.flags), and how many other files hold the same
    recording."""

    track: Track
    score: float | None
    rating: Rating | None
    flags: list[str]
    copies: int = 0


@dataclass(frozen=True)
class Explanation:
    track: Track
    windows: list[tuple[float, float, float]]  # (start_s, end_s, probability)
    score: float | None
    rank: int | None
    ranked_total: int
    rating: Rating | None
    best: list[Any]
    worst: list[Any]
    model_id: int | None
    similar: list[Similar] = field(default_factory=list)  # nearest rated tracks, nearest first
    banned: Ban | None = None  # the ban that keeps it out of recommendations, if any
    flat: bool = False  # its window scores span less than Settings.flat_scores: no part stands out


@dataclass(frozen=True)
class Recommendation(Ranked):
    """A recommended track; explore=True when it is there because the model is unsure of it;
    starter=True when it is part of the starter set (no score: nothing ranks it yet)."""

    explore: bool = False
    starter: bool = False


DIVERSITY_CAP = 2  # at most this many tracks per artist, album (or untagged folder)…
DIVERSITY_TOP = 20  # …among the first this many recommendations


def pick_diverse(stream: Iterable[Ranked], n: int, *, already: Sequence[Ranked] = (),
                 cap: int = DIVERSITY_CAP, top: int = DIVERSITY_TOP, margin: float = 0.1) -> list[Ranked]:
    """The first `n` of `stream` (best score first), re-ordered so that no artist, album, or
    folder of untagged files (names.diversity_keys) has more than `cap` tracks among the first
    `top` places of `already` + the result, but only among tracks of comparable score.

    A track over the cap waits while tracks scoring within `margin` of it can take its place; it
    comes back before any track scoring more than `margin` below it, and right after place `top`.
    So no track ever comes before one scoring more than `margin` above it: diversity re-orders
    near-equals and never lifts disliked music above liked music. The list is never shorter.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for r in already[:top]:
        counts.update(diversity_keys(r.track))
    picked: list[Ranked] = []
    deferred: list[Ranked] = []

    def take(r: Ranked) -> None:
        if len(already) + len(picked) < top:
            counts.update(diversity_keys(r.track))
        picked.append(r)

    for r in stream:
        while deferred and len(picked) < n and (len(already) + len(picked) >= top
                                                or (deferred[0].score or 0.0) - (r.score or 0.0) > margin):
            take(deferred.pop(0))
        if len(picked) >= n:
            break
        if len(already) + len(picked) < top and any(counts[k] >= cap for k in diversity_keys(r.track)):
            deferred.append(r)
            continue
        take(r)
    while deferred and len(picked) < n:
        take(deferred.pop(0))
    return picked


def interleave(base: list[Ranked], extra: list[Ranked]) -> list[Recommendation]:
    """`base` in order with `extra` spread evenly through it (marked explore), ranks from 1."""
    total = len(base) + len(extra)
    slots = {min(total - 1, round((j + 1) * total / (len(extra) + 1))) for j in range(len(extra))}
    out: list[Recommendation] = []
    b, e = iter(base), iter(extra)
    for i in range(total):
        explore = i in slots
        r = next(e, None) if explore else next(b, None)
        if r is None:  # slots collided: take from whichever list still has tracks
            explore = not explore
            r = next(e) if explore else next(b)
        out.append(Recommendation(i + 1, r.score, r.track, r.spread, explore=explore))
    return out


class QueryController(Controller):
    """Recommendations, explanations, similar tracks and status (SQLite only on fast paths)."""

    def recommend(self, n: int = 20, *, diversify: bool = True, explore: float = 0.0,
                  filters: RecommendFilter | None = None) -> Recommendations:
        """The best `n` unrated, not banned tracks passing `filters`, one file per recording and
        no flagged file (unless filters.include_flagged); before any rating can rank them, the
        starter set instead (`starter`).

        diversify: at most DIVERSITY_CAP tracks per artist and per album (or folder, untagged)
        in the first DIVERSITY_TOP places, among tracks of comparable score (pick_diverse).
        explore: the fraction of the list (0..1) given to the tracks the model is least sure
        about (the largest spread of window scores), marked explore=True and spread through the
        list. Each item's score stays the model's mean window score.
        """
        if not 0.0 <= explore <= 1.0:
            raise UsageError(f"--explore {explore}: give a fraction between 0 and 1, e.g. 0.2")
        ensure_scanned(self.store)
        filters = filters or RecommendFilter()
        counts = self.store.counts()
        if not self.store.has_live_feedback():
            return Recommendations(self.starter(n, filters), counts["feedback"], None, (
                "no ratings yet: here is a starter set spread over your library; like or skip a few "
                "(`prefrec like TRACK`, `prefrec skip TRACK`) and recommendations follow"), starter=True)
        model_id = self.store.ranked_model_id()
        if model_id is None:
            ratings = self.store.ratings()
            kinds = {r.kind for r in ratings.values()}
            need = "a skip" if kinds == {"like"} else "a like" if kinds == {"skip"} else None
            retrain = ("the daemon will rank the library soon" if self._daemon_running()
                       else "run `prefrec train` to rank the library")
            message = (f"the model needs {need} as well before it can rank; more tracks to rate meanwhile (above)"
                       if need else f"no ranking yet: {retrain}; more tracks to rate meanwhile (above)")
            return Recommendations(self.starter(n, filters), counts["feedback"], None, message, starter=True)
        n_explore = 0 if explore == 0 else min(n, max(1, round(n * explore)))
        margin = self.settings.diversity_margin
        stream = self.store.candidates(filters, short_frames=WINDOW_FRAMES)
        best = pick_diverse(stream, n, margin=margin) if diversify else list(itertools.islice(stream, n))
        base = best[: n - n_explore]
        unsure: list[Ranked] = []
        if n_explore:
            taken = {r.track.identity for r in base}
            rest = (r for r in self.store.candidates(filters, by="spread", short_frames=WINDOW_FRAMES)
                    if r.track.identity not in taken)
            unsure = (pick_diverse(rest, n_explore, already=base, margin=float("inf")) if diversify
                      else list(itertools.islice(rest, n_explore)))
            chosen = {r.track.identity for r in unsure}
            base = [r for r in best if r.track.identity not in chosen][: n - len(unsure)]
        items = interleave(base, unsure)
        message = None if items else (
            "no unrated track passes the filters" if filters != RecommendFilter() else
            "every ranked track is rated or banned; scan more music or lift a ban (`prefrec unban`)")
        row = self.store.model(model_id)
        warning = separation_warning(row.config.get("quality")) if row else None
        return Recommendations(items, counts["feedback"], model_id, message, warning=warning)

    def _daemon_running(self) -> bool:
        from prefrec.lock import running_daemon_pid

        return running_daemon_pid(self.settings.home) is not None

    def starter(self, n: int, filters: RecommendFilter | None = None) -> list[Recommendation]:
        """Up to `n` unrated, not banned tracks passing `filters` that cover the library: first in
        the order the last scan chose (spread over the library's sound and folders, see
        prefrec.starter), then, for tracks that order does not hold, one folder after another.
        One file per recording; flagged files only with filters.include_flagged."""
        filters = filters or RecommendFilter()
        ratings = self.store.ratings()
        bans = self.store.bans()
        banned = {self.store.recording_of(b.value) for b in bans if b.kind == "track"}
        recordings = self.store.recording_map()
        seen: set[str] = set()
        out: list[Recommendation] = []

        def consider(track: Track) -> None:
            recording = recordings.get(track.identity, track.identity)
            if (recording in seen or track.identity in ratings or recording in banned or banned_by(track, bans)
                    or not _passes(track, filters)):
                return
            seen.add(recording)
            out.append(Recommendation(len(out) + 1, None, track, None, starter=True))  # type: ignore[arg-type]

        for track in self.store.starter_tracks():
            if len(out) >= n:
                return out
            consider(track)
        by_folder: dict[str, list[Track]] = {}
        for track in self.store.tracks():
            by_folder.setdefault(folder_of(track), []).append(track)
        queues = [iter(tracks) for _, tracks in sorted(by_folder.items())]
        while queues and len(out) < n:
            for queue in list(queues):
                track = next(queue, None)
                if track is None:
                    queues.remove(queue)
                elif len(out) < n:
                    consider(track)
        return out

    def explain(self, query: str, *, choose: Chooser | None = None) -> Explanation:
        """Window scores over time for the track `query` names, its best and worst segments (never
        overlapping; no worst ones when the scores are flat, see Settings.flat_scores)."""
        from prefrec.explain import is_flat, pick_segments
        from prefrec.features import window_bounds_s

        track = resolve(self.store, query, choose=choose)
        model_id = self.store.ranked_model_id()
        rating = self.store.rating_of(track.identity)
        if model_id is None:
            raise NotReady("no model yet: rate a few tracks (like and skip) and run `prefrec train`"
                           if self.store.has_live_feedback() or not self._daemon_running() else
                           "no model yet: rate a few tracks (like and skip); the daemon trains one")
        values = self.store.window_score_list(track.identity, model_id)
        if values is None:
            raise NotReady(f"{track.path}: not scored by the current model yet; run `prefrec train`")
        bounds = window_bounds_s(track.n_frames)
        ranked = self.store.rank_of(track.identity)
        try:
            similar = self._similar_to(track, model_id, 3, rated_only=True)
        except NotReady:
            similar = []
        flat = is_flat(values, spread=self.settings.flat_scores)
        best = pick_segments(values, bounds, best=True)
        return Explanation(
            track=track,
            windows=[(b[0], b[1], v) for b, v in zip(bounds, values)],
            score=ranked[1] if ranked else None,
            rank=ranked[0] if ranked else None,
            ranked_total=ranked[2] if ranked else 0,
            rating=rating,
            best=best,
            worst=[] if flat else pick_segments(values, bounds, best=False, avoid=best),
            model_id=model_id,
            similar=similar,
            banned=banned_by(track, self.store.bans(), equivalents=set(self.store.equivalents(track.identity))),
            flat=flat,
        )

    def plot(self, exp: Explanation, out: Path) -> Path:
        """Draw `exp`'s score curve over time above the track's log-mel spectrogram (decoded from
        its file), best segment and skip position marked, to `out` (.png, .pdf or .svg). Needs
        matplotlib (the `plot` extra)."""
        from prefrec.audio import decode
        from prefrec.explain import plot_explanation, plot_format
        from prefrec.features import log_mel

        plot_format(out)  # an unknown extension is refused before any work
        check_writable(out)
        samples = decode(Path(exp.track.path))
        skip_at = exp.rating.position_s if exp.rating is not None and exp.rating.kind == "skip" else None
        plot_explanation(out, windows=exp.windows, spectrogram=log_mel(samples),
                         best=exp.best[0] if exp.best else None, title=track_label(exp.track),
                         skip_at_s=skip_at, duration_s=exp.track.duration_s)
        return out

    def clip(self, exp: Explanation, out: Path) -> tuple[Any, str]:
        """Cut the best-scoring window of `exp`'s track out of its original file into `out`, at the
        file's own quality (explain.clip_source). Returns (that segment, how it was cut)."""
        from prefrec.explain import clip_source

        if not exp.best:
            raise NotReady(f"{exp.track.path}: has no scored windows; run `prefrec train`")
        check_writable(out)
        segment = exp.best[0]
        return segment, clip_source(Path(exp.track.path), out, segment.start_s, segment.end_s)

    def similar(self, query: str, n: int = 10, *, rated_only: bool = False,
                choose: Chooser | None = None) -> tuple[Track, list[Similar]]:
        """The `n` tracks nearest to `query`'s by cosine similarity of the model's track embeddings
        (the mean LSTM state over a track's windows, as in seed 001's penultimate-layer features)."""
        track = resolve(self.store, query, choose=choose)
        model_id = self.store.ranked_model_id()
        if model_id is None:
            raise NotReady("no model yet: rate a few tracks (like and skip) and run `prefrec train`")
        return track, self._similar_to(track, model_id, n, rated_only=rated_only)

    def nearest(self, track: Track, n: int) -> list[Similar]:
        """The `n` tracks nearest to `track` under the ranked model (see `similar`); [] when there
        is no model yet or `track` is not scored (the player's radio and demotions ask this)."""
        model_id = self.store.ranked_model_id()
        if model_id is None:
            return []
        try:
            return self._similar_to(track, model_id, n, rated_only=False)
        except NotReady:
            return []

    def _similar_to(self, track: Track, model_id: int, n: int, *, rated_only: bool) -> list[Similar]:
        """The `n` tracks nearest to `track` under `model_id` (see `similar`)."""
        ratings = self.store.ratings()
        sims: Any
        if rated_only:  # explain's fast path: a few dozen rated embeddings, plain Python, no numpy
            few = self.store.embeddings_of(model_id, sorted({track.identity, *ratings}))
            identities = list(few)
            if track.identity not in few:
                raise NotReady(f"{track.path}: not scored by the current model yet; run `prefrec train`")
            sims = [_cosine(few[i], few[track.identity]) for i in identities]
        else:
            import numpy as np

            rows = self.store.embedding_blobs(model_id)
            identities = [identity for identity, _ in rows]
            if track.identity not in identities:
                raise NotReady(f"{track.path}: not scored by the current model yet; run `prefrec train`")
            vectors = np.stack([np.frombuffer(blob, dtype="<f4") for _, blob in rows])  # [n, H]
            unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
            sims = unit @ unit[identities.index(track.identity)]
        results: list[Similar] = []
        recordings = self.store.recording_map()
        seen = {recordings.get(track.identity, track.identity)}  # one file per recording, never the track's own
        for i in sorted(range(len(identities)), key=lambda k: -sims[k]):  # stable: ties keep identity order
            identity = identities[int(i)]
            recording = recordings.get(identity, identity)
            if recording in seen or (rated_only and identity not in ratings):
                continue
            seen.add(recording)
            present = [t for t in self.store.tracks_by_identity(identity) if not t.gone]
            if present:
                results.append(Similar(present[0], float(sims[int(i)]), ratings.get(identity)))
            if len(results) == n:
                break
        return results

    def search(self, words: str, *, limit: int = 50) -> list[Listed]:
        """Tracks whose names hold every one of `words` as whole words (names.find), best match
        first, with score, rating and flags. Raises UnknownTrack with suggestions for none."""
        ensure_scanned(self.store)
        if not search_words(words):
            raise UsageError("search: give words from a title, artist, album or file name")
        tracks = find(self.store, words)
        if not tracks:
            raise UnknownTrack(unknown_message(self.store, words))
        return self._listed(tracks[:limit])

    def browse(self, *, artist: str | None = None, album: str | None = None, folder: str | None = None,
               unrated: bool = False, flagged: bool = False) -> list[Listed]:
        """Every present track (artist and album: case- and accent-insensitive substrings; folder:
        see names.resolve_folder), by path, with score, rating and flags; only unrated ones, or
        only flagged ones, when asked."""
        ensure_scanned(self.store)
        folder_path = resolve_folder(self.store, folder) if folder is not None else None
        tracks = self.store.list_tracks(artist=artist, album=album, folder=folder_path)
        listed = self._listed(tracks)
        if unrated:
            listed = [item for item in listed if item.rating is None]
        if flagged:
            listed = [item for item in listed if item.flags]
        return listed

    def _listed(self, tracks: list[Track]) -> list[Listed]:
        ratings = self.store.ratings()
        scores = self.store.scores_of([t.identity for t in tracks])
        recordings = self.store.recording_map()
        copies = Counter(recordings.values())
        return [Listed(t, scores.get(t.identity), ratings.get(t.identity), t.flags(short_frames=WINDOW_FRAMES),
                       copies[recordings[t.identity]] - 1 if t.identity in recordings else 0) for t in tracks]

    def status(self) -> dict[str, Any]:
        """Library, analysis, errors, feedback, model and daemon state (JSON-ready)."""
        counts = self.store.counts()
        ratings = {r.feedback_id: r for r in self.store.ratings().values()}  # one per rating given
        # The model shown is the published one (whose ranking recommend serves), else the newest; a
        # model newer than the published one is a training still scoring, or one interrupted
        # before it could publish.
        latest = self.store.latest_model()
        ranked_id = self.store.ranked_model_id()
        published = self.store.model(ranked_id) if ranked_id is not None else None
        model = published or latest
        unpublished = None
        if published is not None and latest is not None and latest.id > published.id:
            from prefrec.lock import running_trainer_pid

            unpublished = {"id": latest.id, "state": "training" if running_trainer_pid(self.settings.home)
                           else "interrupted"}
        ranked_at = self.store.get_meta("ranked_at")
        ranked_model = self.store.ranked_model_id()
        pending = int(self.store.get_meta("scan_pending") or 0)
        recordings = self.store.recording_map()
        live = self.store.has_live_feedback()
        hint = None
        if not self.store.has_tracks():
            hint = "no music analysed yet: run `prefrec scan ~/Music` (your music folder) first"
        elif not live:
            hint = "no ratings yet: `prefrec recommend` offers a starter set to like or skip"
        errors = self.store.errors()
        return {
            "hint": hint,
            "copies": len(recordings) - len(set(recordings.values())),
            "home": str(self.settings.home),
            "tracks": counts["tracks"] + counts["errors"] + pending,
            "analysed": counts["tracks"],
            "pending": pending,
            "gone": counts["gone"],
            "errors": counts["errors"],
            "errors_transient": sum(1 for _, _, transient in errors if transient),
            # transient: could not be analysed this time (the machine: a full disk, the time or memory
            # limit), tried again on the next scan; else the file itself is bad.
            "error_files": [{"path": p, "reason": r, "transient": t} for p, r, t in errors],
            "flagged_files": [{"path": p, "note": n} for p, n in self.store.flagged(short_frames=WINDOW_FRAMES)],
            "feedback": counts["feedback"],
            "likes": sum(1 for r in ratings.values() if r.kind == "like"),
            "skips": sum(1 for r in ratings.values() if r.kind == "skip"),
            "sources": [{"source": s.source, "rows": s.rows, "live_rows": s.live_rows, "last_at": s.last_at}
                        for s in self.store.feedback_sources()],
            "model": None if model is None else {
                "id": model.id, "created_at": model.created_at, "rated_tracks": model.n_rated,
                "train_s": round(model.train_s, 2),
                "stale": live and model.last_feedback_id != self.store.last_feedback_id(),
                "in_use": ranked_model == model.id,
                "quality": model.config.get("quality"),
            },
            "evaluation": self.core.learning.latest_evaluation(),
            "unpublished_model": unpublished,
            "ranked_at": float(ranked_at) if ranked_at else None,
            "daemon": (daemon := self._daemon_status(ranked_at)),
            "player": self._player_status(daemon),
        }

    def _player_status(self, daemon: dict[str, Any] | None) -> dict[str, Any] | None:
        """The player the daemon follows: connected since / away since (retrying), and how many
        songs it played that prefrec does not know. None when no player is configured."""
        if self.settings.player == "none":
            return None
        import json

        from prefrec.player import STATE_KEY

        info: dict[str, Any] = {"player": self.settings.player, "followed": False, "connected": False,
                                "since": None, "retry_in_s": None, "detail": "", "unknown_songs": 0}
        raw = self.store.get_meta(STATE_KEY) if daemon is not None else None
        if raw:
            state = json.loads(raw)
            if state.get("player") == self.settings.player and state.get("updated_at", 0) >= (daemon or {}).get(
                    "started_at", 0):
                info.update({k: state.get(k) for k in ("connected", "since", "retry_in_s", "detail", "unknown_songs")})
                info["followed"] = True
        return info

    def _daemon_status(self, ranked_at: str | None) -> dict[str, Any] | None:
        """What the daemon on this data dir is doing; None when none runs."""
        from prefrec.lock import running_daemon_pid

        pid = running_daemon_pid(self.settings.home)
        if pid is None:
            return None
        row = self.store.daemon_state() or {}
        return {
            "pid": pid, "state": row.get("state", "starting"), "queue": row.get("queue", 0),
            "watcher": row.get("watcher"), "last_error": row.get("last_error"),
            "last_error_at": row.get("last_error_at"), "started_at": row.get("started_at"),
            "rankings_updated_at": float(ranked_at) if ranked_at else None,
        }


def _passes(track: Track, filters: RecommendFilter) -> bool:
    """Whether `track` passes `filters` (as Store.candidates applies them in SQL)."""
    from prefrec.store import normalize_text

    for name, wanted in ((track.artist, filters.artist), (track.album, filters.album)):
        if wanted and normalize_text(wanted) not in normalize_text(name or ""):
            return False
    if filters.min_duration_s is not None and track.duration_s < filters.min_duration_s:
        return False
    if filters.max_duration_s is not None and track.duration_s > filters.max_duration_s:
        return False
    if filters.folder is not None and not track.path.startswith(filters.folder.rstrip("/") + "/"):
        return False
    return filters.include_flagged or not track.flags(short_frames=WINDOW_FRAMES)


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors [H] (0 when either is all zeros, as numpy's path gives)."""
    dot = sum(x * y for x, y in zip(a, b))
    norm_a, norm_b = sum(x * x for x in a) ** 0.5, sum(y * y for y in b) ** 0.5
    return dot / (max(norm_a, 1e-9) * max(norm_b, 1e-9))


def check_writable(out: Path) -> None:
    if not out.parent.is_dir():
        raise UsageError(f"{out}: its folder does not exist; create it or choose another path")
