"""Use-cases that answer questions: recommend, explain, similar, status."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefrec.errors import NotReady, UsageError
from prefrec.features import WINDOW_FRAMES
from prefrec.service.base import Controller
from prefrec.service.names import banned_by, diversity_keys, resolve, track_label
from prefrec.store import Ban, Ranked, Rating, RecommendFilter, Track


@dataclass(frozen=True)
class Recommendations:
    items: list[Ranked]
    feedback: int
    model_id: int | None
    message: str | None = None  # why the list is empty or provisional
    to_rate: list[Track] = field(default_factory=list)  # a diverse sample when there is no feedback


@dataclass(frozen=True)
class Similar:
    """A track close to another in the model's learnt feature space (cosine similarity, -1..1)."""

    track: Track
    similarity: float
    rating: Rating | None


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


@dataclass(frozen=True)
class Recommendation(Ranked):
    """A recommended track; explore=True when it is there because the model is unsure of it."""

    explore: bool = False



DIVERSITY_CAP = 2  # at most this many tracks per artist and per album…
DIVERSITY_TOP = 20  # …among the first this many recommendations


def pick_diverse(stream: Iterable[Ranked], n: int, *, already: Sequence[Ranked] = (),
                 cap: int = DIVERSITY_CAP, top: int = DIVERSITY_TOP) -> list[Ranked]:
    """The first `n` of `stream` (best first) such that no artist and no album has more than
    `cap` tracks among the first `top` places of `already` + the result.

    A track passed over comes back right after place `top`, in its original order; if the
    stream runs out first (a library with few artists), passed-over tracks fill the gap, so
    the rule never makes the list shorter.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for r in already[:top]:
        counts.update(diversity_keys(r.track))
    picked: list[Ranked] = []
    deferred: list[Ranked] = []
    for r in stream:
        if len(picked) >= n:
            break
        if len(already) + len(picked) < top:
            keys = diversity_keys(r.track)
            if any(counts[k] >= cap for k in keys):
                deferred.append(r)
                continue
            counts.update(keys)
            picked.append(r)
        else:
            while deferred and len(picked) < n:
                picked.append(deferred.pop(0))
            if len(picked) < n:
                picked.append(r)
    picked.extend(deferred[: n - len(picked)])
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
        """The best `n` unrated, not banned tracks passing `filters`; with no feedback, a diverse
        sample to rate instead.

        diversify: at most DIVERSITY_CAP tracks per artist and per album in the first
        DIVERSITY_TOP places. explore: the fraction of the list (0..1) given to the tracks the
        model is least sure about (the largest spread of window scores), marked explore=True and
        spread through the list. Each item's score stays the model's mean window score.
        """
        if not 0.0 <= explore <= 1.0:
            raise UsageError(f"--explore {explore}: give a fraction between 0 and 1, e.g. 0.2")
        counts = self.store.counts()
        model_id = self.store.ranked_model_id()
        if counts["feedback"] == 0:
            return Recommendations([], 0, None, "no feedback yet: like or skip a few tracks "
                                   "(`prefrec like TRACK`, `prefrec skip TRACK`), then `prefrec train`",
                                   self._sample_to_rate(min(n, 8)))
        if model_id is None:
            ratings = self.store.ratings()
            kinds = {r.kind for r in ratings.values()}
            need = "a skip" if kinds == {"like"} else "a like" if kinds == {"skip"} else None
            message = (f"the model needs {need} as well before it can rank" if need
                       else "no ranking yet: run `prefrec train`")
            return Recommendations([], counts["feedback"], None, message)
        filters = filters or RecommendFilter()
        n_explore = 0 if explore == 0 else min(n, max(1, round(n * explore)))
        stream = self.store.candidates(filters)
        best = pick_diverse(stream, n) if diversify else list(itertools.islice(stream, n))
        base = best[: n - n_explore]
        unsure: list[Ranked] = []
        if n_explore:
            taken = {r.track.identity for r in base}
            rest = (r for r in self.store.candidates(filters, by="spread") if r.track.identity not in taken)
            unsure = (pick_diverse(rest, n_explore, already=base) if diversify
                      else list(itertools.islice(rest, n_explore)))
            chosen = {r.track.identity for r in unsure}
            base = [r for r in best if r.track.identity not in chosen][: n - len(unsure)]
        items = interleave(base, unsure)
        message = None if items else (
            "no unrated track passes the filters" if filters != RecommendFilter() else
            "every ranked track is rated or banned; scan more music or lift a ban (`prefrec unban`)")
        return Recommendations(items, counts["feedback"], model_id, message)

    def _sample_to_rate(self, n: int) -> list[Track]:
        """Up to n tracks spread over artists and albums, evenly across the library."""
        bans = self.store.bans()
        tracks = [t for t in self.store.tracks() if banned_by(t, bans) is None]
        seen, sample = set(), []
        for track in tracks[:: max(1, len(tracks) // (n * 4))]:
            key = (track.artist, track.album)
            if key not in seen:
                seen.add(key)
                sample.append(track)
        for track in tracks[:: max(1, len(tracks) // n)]:
            if len(sample) >= n:
                break
            if track not in sample:
                sample.append(track)
        return sample[:n]

    def explain(self, query: str) -> Explanation:
        """Window scores over time for the track `query` names, its best and worst segments."""
        from prefrec.explain import pick_segments
        from prefrec.features import window_bounds_s

        track = resolve(self.store, query)
        model_id = self.store.ranked_model_id()
        rating = self.store.rating_of(track.identity)
        if model_id is None:
            raise NotReady("no model yet: rate a few tracks (like and skip) and run `prefrec train`")
        values = self.store.window_score_list(track.identity, model_id)
        if values is None:
            raise NotReady(f"{track.path}: not scored by the current model yet; run `prefrec train`")
        bounds = window_bounds_s(track.n_frames)
        ranked = self.store.rank_of(track.identity)
        try:
            similar = self._similar_to(track, model_id, 3, rated_only=True)
        except NotReady:
            similar = []
        return Explanation(
            track=track,
            windows=[(b[0], b[1], v) for b, v in zip(bounds, values)],
            score=ranked[1] if ranked else None,
            rank=ranked[0] if ranked else None,
            ranked_total=ranked[2] if ranked else 0,
            rating=rating,
            best=pick_segments(values, bounds, best=True),
            worst=pick_segments(values, bounds, best=False),
            model_id=model_id,
            similar=similar,
            banned=banned_by(track, self.store.bans()),
        )

    def plot(self, exp: Explanation, out: Path) -> Path:
        """Draw `exp`'s window scores over time above the track's MFCCs, best segment marked, as a
        PNG at `out`. Needs matplotlib (the `plot` extra)."""
        from prefrec.explain import plot_explanation

        try:
            features = self.cache.load(exp.track.identity)
        except FileNotFoundError as exc:
            raise NotReady(f"{exp.track.path}: its features are not in the cache; run `prefrec scan` "
                           "on its folder") from exc
        _check_writable(out)
        plot_explanation(out, windows=exp.windows, features=features,
                         best=exp.best[0] if exp.best else None, title=track_label(exp.track))
        return out

    def clip(self, exp: Explanation, out: Path) -> Any:
        """Write the best-scoring window of `exp`'s track (decoded from its file: mono 22050 Hz)
        to the WAV file `out`. Returns that segment."""
        from prefrec.audio import decode
        from prefrec.explain import write_clip

        if not exp.best:
            raise NotReady(f"{exp.track.path}: has no scored windows; run `prefrec train`")
        _check_writable(out)
        segment = exp.best[0]
        samples = decode(Path(exp.track.path), until_s=segment.end_s)
        write_clip(out, samples, segment.start_s, segment.end_s)
        return segment

    def similar(self, query: str, n: int = 10, *, rated_only: bool = False) -> tuple[Track, list[Similar]]:
        """The `n` tracks nearest to `query`'s by cosine similarity of the model's track embeddings
        (the mean LSTM state over a track's windows, as in seed 001's penultimate-layer features)."""
        track = resolve(self.store, query)
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
        for i in sorted(range(len(identities)), key=lambda k: -sims[k]):  # stable: ties keep identity order
            identity = identities[int(i)]
            if identity == track.identity or (rated_only and identity not in ratings):
                continue
            present = [t for t in self.store.tracks_by_identity(identity) if not t.gone]
            if present:
                results.append(Similar(present[0], float(sims[int(i)]), ratings.get(identity)))
            if len(results) == n:
                break
        return results

    def status(self) -> dict[str, Any]:
        """Library, analysis, errors, feedback, model and daemon state (JSON-ready)."""
        counts = self.store.counts()
        ratings = self.store.ratings()
        # The model is the published one (whose ranking recommend serves); a newer one is a training
        # still scoring, or one that was interrupted before it could publish.
        latest = self.store.latest_model()
        ranked_id = self.store.ranked_model_id()
        model = self.store.model(ranked_id) if ranked_id is not None else None
        unpublished = None
        if latest is not None and (model is None or latest.id > model.id):
            from prefrec.lock import running_trainer_pid

            unpublished = {"id": latest.id, "state": "training" if running_trainer_pid(self.settings.home)
                           else "interrupted"}
        ranked_at = self.store.get_meta("ranked_at")
        pending = int(self.store.get_meta("scan_pending") or 0)
        errors = self.store.errors()
        return {
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
                "stale": model.last_feedback_id != self.store.last_feedback_id(),
            },
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


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors [H] (0 when either is all zeros, as numpy's path gives)."""
    dot = sum(x * y for x, y in zip(a, b))
    norm_a, norm_b = sum(x * x for x in a) ** 0.5, sum(y * y for y in b) ** 0.5
    return dot / (max(norm_a, 1e-9) * max(norm_b, 1e-9))


def _check_writable(out: Path) -> None:
    if not out.parent.is_dir():
        raise UsageError(f"{out}: its folder does not exist; create it or choose another path")
