"""Use-cases about the library on disk: scan, and the changes the daemon sees (moves, deletions)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefrec import fingerprint
from prefrec.errors import NotReady, UsageError
from prefrec.library import FileEntry, discover
from prefrec.service.base import Controller, Progress

if TYPE_CHECKING:
    from prefrec.service.learning import PretrainResult, TrainResult


@dataclass
class ScanReport:
    found: int = 0
    unchanged: int = 0
    analysed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    transient: set[str] = field(default_factory=set)  # failed paths the machine is to blame for: retried
    gone: int = 0
    audio_seconds: float = 0.0
    seconds: float = 0.0  # the whole scan, learning included
    analysis_seconds: float = 0.0  # walking the folders and analysing (what the rates are of)
    trained: TrainResult | None = None
    rescored: int = 0
    pretrained: PretrainResult | None = None



def track_row(result: Any, entry: FileEntry) -> dict[str, Any]:
    """The `tracks` row of an analysis.Analysed result for the file `entry` describes."""
    from prefrec.features import FEATURE_VERSION

    return {
        "path": result.path, "identity": result.identity, "title": result.title,
        "artist": result.artist, "album": result.album, "duration_s": result.duration_s,
        "n_frames": result.n_frames, "truncated": int(result.truncated), "size": entry.size,
        "mtime_ns": entry.mtime_ns, "feature_version": FEATURE_VERSION, "note": result.note,
        "mbid": result.mbid,
    }



class LibraryController(Controller):
    """Scan the folders, record what analysis found, follow moves and deletions."""

    def sweep_stale_files(self) -> list[Path]:
        """Delete prefrec's own temporary files that killed writers left in the feature cache and
        models dir (fsutil.sweep_stale_temporaries); returns them. Called when a scan or the daemon
        starts."""
        from prefrec.fsutil import sweep_stale_temporaries

        return [p for root in (self.settings.features_dir, self.settings.models_dir)
                for p in sweep_stale_temporaries(root)]

    def needs_analysis(self, entries: list[FileEntry], *, retry_failed: bool = False) -> list[FileEntry]:
        """The entries to (re)analyse: files new or changed since last seen (size, mtime), files
        whose analysis failed because of the machine (a full disk, the deadline, the memory limit;
        with `retry_failed` every failed file), and files whose features are of another
        FEATURE_VERSION or missing from the cache (deleted, or removed as damaged when last read).
        Scan and daemon both decide through this."""
        from prefrec.features import FEATURE_VERSION

        if len(entries) == 1:
            known = {entries[0].path: self.store.file_state(entries[0].path, retry_failed=retry_failed)}
        else:
            known = self.store.known_files(retry_failed=retry_failed)
        unchanged = [e for e in entries if known.get(e.path) == (e.size, e.mtime_ns)]
        cache = self.cache
        stale = self.store.stale_feature_paths(FEATURE_VERSION) | {
            t.path for e in unchanged for t in self.store.tracks_by_path(e.path) if not cache.has(t.identity)}
        if fingerprint.available():  # music analysed before fingerprints existed gets one
            stale |= self.store.unfingerprinted_paths(entries[0].path if len(entries) == 1 else None)
        return [e for e in entries if known.get(e.path) != (e.size, e.mtime_ns) or e.path in stale]

    def scan(self, roots: list[str], *, progress: Progress | None = None, train: bool = True,
             retry_failed: bool = False, on_discovered: Callable[[int, int], None] | None = None,
             on_result: Callable[[Any], None] | None = None) -> ScanReport:
        """Analyse new and changed audio files under `roots` (and every file that failed before,
        with `retry_failed`); then train/rescore if feedback exists.

        on_discovered(to_analyse, unchanged) is called once the folders have been walked;
        on_result(result) with each analysis.Analysed / analysis.Failed as it arrives. Results are
        committed every few files, so a scan killed at any point resumes where it was.
        """
        from prefrec.analysis import Analysed, analyse_many

        started = time.perf_counter()
        for root in roots:
            if not os.path.isdir(root):
                raise UsageError(f"{root}: not a folder; give the folder(s) that hold your music")
        roots = [os.path.realpath(r) for r in roots]
        self.sweep_stale_files()
        entries, skipped = discover(roots)
        report = ScanReport(found=len(entries))
        todo = self.needs_analysis(entries, retry_failed=retry_failed)
        report.unchanged = len(entries) - len(todo)
        if on_discovered:
            on_discovered(len(todo), report.unchanged)
        by_path = {e.path: e for e in todo}
        self.store.set_meta("scan_pending", str(len(todo)))
        batch: list[tuple[Any, FileEntry]] = []
        last_flush = time.monotonic()

        def flush() -> None:
            nonlocal last_flush
            if batch:
                self.record_results(batch)
                batch.clear()
            self.store.set_meta("scan_pending", str(len(todo) - report.analysed - len(report.failed)))
            last_flush = time.monotonic()

        done = 0
        vanished: set[str] = set()
        for result in analyse_many([e.path for e in todo], cache_root=self.settings.features_dir,
                                   workers=self.settings.workers, timeout_s=self.settings.decode_timeout_s,
                                   timeout_per_audio_s=self.settings.decode_timeout_per_audio_s,
                                   memory_mb=self.settings.worker_memory_mb):
            done += 1
            if on_result:
                on_result(result)
            if isinstance(result, Analysed):
                report.analysed += 1
                report.audio_seconds += result.duration_s
            else:
                report.failed.append((result.path, result.reason))
                if result.vanished:
                    vanished.add(result.path)
                elif result.transient:
                    report.transient.add(result.path)
            batch.append((result, by_path[result.path]))
            if len(batch) >= 8 or time.monotonic() - last_flush > 1.0:
                flush()
            if progress:
                progress("analysing", done, len(todo))
        flush()
        report.analysis_seconds = time.perf_counter() - started
        report.failed += skipped
        report.gone = self.reconcile(roots, [e for e in entries if e.path not in vanished], skipped)
        if train:
            report.pretrained = self.core.learning.pretrain_if_needed(progress=progress)
        if train and self.store.last_feedback_id():
            try:
                report.trained, report.rescored = self.core.learning.refresh_model(
                    retrain=report.pretrained is not None, progress=progress)
            except NotReady:
                pass  # e.g. only likes so far: the scan itself succeeded, and status says why there is no model
        report.seconds = time.perf_counter() - started
        return report

    def link_recordings(self, results: list[Any]) -> int:
        """Find, by acoustic fingerprint, the files of music already known that hold the same
        recording as these analysis.Analysed results (a re-encoded or truncated copy), and record
        which recording each belongs to: ratings, bans and "already listed" follow the recording.
        Returns how many joined another file's recording."""
        import base64

        if not fingerprint.available():
            return 0  # nothing recorded, so that fingerprints are computed once the library is there
        fresh = {r.identity: r for r in results}
        fresh = {i: r for i, r in fresh.items() if i not in self.store.known_recordings(list(fresh))}
        # identity -> (recording, items, blob, keys), decided in this batch
        decided: dict[str, tuple[str, list[int], bytes, list[int]]] = {}
        silent: list[str] = []  # no fingerprint (no sound): its own recording
        merges: list[tuple[str, str]] = []
        joined = 0
        for identity, result in sorted(fresh.items()):
            if not result.fingerprint:
                silent.append(identity)
                continue
            blob = base64.b64decode(result.fingerprint)
            values = fingerprint.items(blob)
            keys = fingerprint.keys(values)
            candidates = [(other, rec, fingerprint.items(fp)) for other, rec, fp
                          in self.store.fingerprint_candidates(keys, common=fingerprint.COMMON_KEY)]
            candidates += [(i, d[0], d[1]) for i, d in decided.items() if set(keys) & set(d[3])]
            matched = sorted({rec for other, rec, v in candidates
                              if fingerprint.same_recording(values, v) and self._features_agree(identity, other)})
            recording = matched[0] if matched else identity
            for other in matched[1:]:  # this file bridges two recordings: they are one
                merges.append((other, recording))
                decided = {i: (recording if d[0] == other else d[0], *d[1:]) for i, d in decided.items()}
            joined += bool(matched)
            decided[identity] = (recording, values, blob, keys)
        rows = [(i, i, None, []) for i in silent] + [(i, d[0], d[2], d[3]) for i, d in decided.items()]
        if rows:
            self.store.add_recordings(rows, merges)
        return joined

    def _features_agree(self, a: str, b: str) -> bool:
        """Whether the cached MFCCs of identities `a` and `b` confirm a fingerprint match
        (fingerprint.feature_distance); True when either is missing or too short to tell."""
        cache = self.cache
        x, y = cache.get(a), cache.get(b)
        if x is None or y is None:
            return True
        distance = fingerprint.feature_distance(x, y)
        return distance is None or distance <= fingerprint.FEATURE_MATCH

    # -- recording what analysis and the folders say (scan and daemon alike) ----------------------

    def record_results(self, results: list[tuple[Any, FileEntry]]) -> None:
        """Store analysis.Analysed / analysis.Failed results, each with the FileEntry of the file as it
        was when its analysis started, in two short transactions. A file that vanished meanwhile
        is not recorded (the folders' reconciliation marks it gone)."""
        from prefrec.analysis import Analysed

        analysed = [(r, e) for r, e in results if isinstance(r, Analysed)]
        failures = [(r.path, r.reason, e.size, e.mtime_ns, r.transient) for r, e in results
                    if not isinstance(r, Analysed) and not r.vanished]
        if analysed:
            # Recordings first: a scan killed between the two writes then finds the tracks missing
            # and analyses them again, instead of finding tracks without a recording and analysing
            # them again forever after.
            self.link_recordings([r for r, _ in analysed])
            self.store.record_analysed([track_row(r, e) for r, e in analysed])
        if failures:
            self.store.record_failed(failures)

    def reconcile(self, roots: list[str], entries: list[FileEntry], skipped: list[tuple[str, str]], *,
                  busy: Iterable[str] = ()) -> int:
        """Bring the database in line with a walk of `roots` (library.discover): tracks under them
        no longer found are marked gone (their feedback stays), errors of files no longer there
        are forgotten, and files passed over (`skipped`: links out of the library, FIFOs,
        undecodable names) are recorded as errors with their reason. `busy`: paths being analysed,
        kept as they are. Returns how many tracks were newly marked gone."""
        present = {e.path for e in entries} | set(busy) | {path for path, _ in skipped}
        gone = self.store.mark_missing(present, roots)
        self.record_passed_over(skipped)
        return gone

    def record_passed_over(self, skipped: list[tuple[str, str]]) -> None:
        """Record files not analysed because of what they are (library.stat_audio_file: a link out
        of the library, a FIFO, a name that is not UTF-8) as errors, with the reason."""
        if skipped:
            self.store.record_failed([(path, f"{path}: {reason}", 0, 0, False) for path, reason in skipped])

    # -- changes the daemon sees in the folders ---------------------------------------------------

    def moved(self, old: str, new: str) -> int:
        """A file or folder was renamed/moved: its tracks keep their analysis and feedback."""
        prefix = old.rstrip("/") + "/"
        moves = [(p, new if p == old else new.rstrip("/") + "/" + p[len(prefix):])
                 for p in self.store.paths_under(old)]
        return self.store.move_paths(moves) if moves else 0

    def removed(self, path: str) -> int:
        """A file or folder was deleted: mark its tracks gone (their feedback stays)."""
        return self.store.mark_missing(set(), [path])

