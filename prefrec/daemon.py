"""`prefrec daemon`: watch the library, analyse what changes, retrain after feedback.

One process per data dir (an flock on `daemon.lock`). Its main thread runs a loop that owns
every database write, so a signal only ever lands between two short transactions:

- a watchdog observer (inotify, or polling where inotify is unavailable) turns file events into
  in-memory work: `_Pending` files waiting to be stable, and moves/deletions to apply;
- a file is analysed once its size and mtime have not changed for `settle_s` (sooner after a
  close-write), by the same isolated worker processes a scan uses (`analysis.WorkerPool`): a
  per-file deadline that grows with the track's length, an address-space limit, and a file whose
  decoder hangs or crashes is marked failed with the reason while the next one goes on;
- a full rescan at start and every `rescan_interval_s` (or after an inotify queue overflow)
  reconciles the database with the folders;
- new feedback starts a training child process (prefrec.trainer) after `quiet_period_s` without
  feedback or once `train_after_events` events wait; it fine-tunes, rescores and swaps the
  rankings in atomically, and reports on a status pipe. A failed training is retried after a
  back-off. Torch is only ever imported in that child, so the daemon itself stays small.

SIGTERM/SIGINT stop it (after the current write) within a few seconds, SIGHUP reloads the
settings. The log goes to `HOME/logs/daemon.log` and to stderr.

This module imports only the standard library (and prefrec's light modules) at import time.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefrec.errors import PrefrecError
from prefrec.library import FileEntry, discover, is_audio_name, printable_path, stat_audio_file, under_any
from prefrec.lock import DAEMON_LOCK, LockHeld, PidLock
from prefrec.trainer import TrainerOutcome, TrainerProcess

if TYPE_CHECKING:
    from prefrec.analysis import WorkerPool
    from prefrec.config import Settings
    from prefrec.service import Service

LOG_NAME = "logs/daemon.log"
TRAIN_LOG_NAME = "logs/train.log"  # the training child's own messages
TICK_S = 0.2  # how often the main loop looks at its queues
CLOSE_GRACE_S = 0.5  # after a close-write, the file only needs to be stable this long
STOP_GRACE_S = 2.0  # how long a stopping daemon waits for its training child before killing it
TRAIN_BACKOFF_S = 10.0  # after a failed training, wait this long before the next…
TRAIN_BACKOFF_MAX_S = 300.0  # …doubling up to this

log = logging.getLogger("prefrec.daemon")


# -- watching ------------------------------------------------------------------------------------


@dataclass
class _Pending:
    """A file waiting until it is complete: its last seen size/mtime and when they last changed."""

    size: int
    mtime_ns: int
    changed_at: float
    closed: bool = False


class _Inbox:
    """What the observer thread hands the main loop: files to (re)consider, moves and deletions
    in arrival order, and a request for a full rescan. Thread-safe; never touches the database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.touched: dict[str, bool] = {}  # path -> saw a close-write
        self.changes: list[tuple[str, str, str | None]] = []  # ("moved", old, new) | ("removed", path, None)
        self.rescan = False

    def touch(self, path: str, *, closed: bool = False) -> None:
        with self._lock:
            self.touched[path] = self.touched.get(path, False) or closed

    def change(self, kind: str, path: str, dest: str | None = None) -> None:
        with self._lock:
            self.changes.append((kind, path, dest))

    def request_rescan(self) -> None:
        with self._lock:
            self.rescan = True

    def take(self) -> tuple[dict[str, bool], list[tuple[str, str, str | None]], bool]:
        with self._lock:
            touched, changes, rescan = self.touched, self.changes, self.rescan
            self.touched, self.changes, self.rescan = {}, [], False
        return touched, changes, rescan

    def __len__(self) -> int:
        with self._lock:
            return len(self.touched) + len(self.changes)


def _make_handler(inbox: _Inbox, roots: list[str], on_error: Any) -> Any:
    from watchdog.events import FileSystemEventHandler

    class Handler(FileSystemEventHandler):
        """Turns watchdog events into inbox entries. An exception never reaches the observer."""

        def dispatch(self, event: Any) -> None:
            try:
                self._route(event)
            except Exception as exc:  # noqa: BLE001 - the watching must go on whatever happens
                on_error(f"while handling {event!r}: {type(exc).__name__}: {exc}")

        def _route(self, event: Any) -> None:
            kind = event.event_type
            src = os.fsdecode(event.src_path)
            if kind == "moved":
                dest = os.fsdecode(event.dest_path)
                keep = under_any(dest, roots) and (event.is_directory or is_audio_name(dest))
                if event.is_directory or is_audio_name(src):
                    inbox.change("moved" if keep else "removed", src, dest if keep else None)
                if keep and not event.is_directory:
                    inbox.touch(dest)  # if the old path was never recorded, this is a new file
            elif event.is_directory:
                if kind == "deleted":
                    inbox.change("removed", src)
            elif is_audio_name(src):
                if kind == "deleted":
                    inbox.change("removed", src)
                elif kind in ("created", "modified"):
                    inbox.touch(src)
                elif kind == "closed":
                    inbox.touch(src, closed=True)

    return Handler()


class _OverflowWatch(logging.Handler):
    """watchdog logs a warning when the kernel's inotify queue overflows: events were lost, so
    ask for a full rescan."""

    def __init__(self, inbox: _Inbox) -> None:
        super().__init__(logging.WARNING)
        self.inbox = inbox

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.inbox.request_rescan()


def _start_observer(roots: list[str], handler: Any, settings: Settings) -> tuple[Any, str]:
    """A started watchdog observer over `roots` and its kind ("inotify"/native name or "polling")."""
    from watchdog.observers import Observer
    from watchdog.observers.polling import PollingObserver

    if settings.watch not in ("auto", "polling"):
        raise PrefrecError(f"watch = {settings.watch!r}: use \"auto\" or \"polling\" in {settings.config_path}")
    if settings.watch == "auto":
        observer = Observer()
        try:
            for root in roots:
                observer.schedule(handler, root, recursive=True)
            observer.start()
            kind = type(observer).__name__.replace("Observer", "").lower() or "native"
            return observer, kind
        except OSError as exc:  # e.g. the inotify watch or instance limit
            log.warning("cannot watch with %s (%s); polling every %.0f s instead",
                        type(observer).__name__, exc, settings.poll_interval_s)
            try:
                observer.stop()
            except Exception:  # noqa: BLE001
                pass
    observer = PollingObserver(timeout=settings.poll_interval_s)
    for root in roots:
        observer.schedule(handler, root, recursive=True)
    observer.start()
    return observer, "polling"


# -- the daemon ----------------------------------------------------------------------------------


class Daemon:
    """The daemon's state and main loop; run() blocks until SIGTERM/SIGINT."""

    def __init__(self, settings: Settings, roots: list[str], *, autoqueue: bool | None = None) -> None:
        self.settings = settings
        self.roots = roots
        self.autoqueue = autoqueue  # `daemon --autoqueue` over the setting
        self.player: Any = None  # (PlayerThread, PlayerHost) while a player is followed
        self.inbox = _Inbox()
        self.pending: dict[str, _Pending] = {}
        self.passed_over: list[tuple[str, str]] = []  # (path, reason) of files seen but not for analysis
        self.running: dict[str, FileEntry] = {}  # path -> the file as it was when its analysis started
        self.pool: WorkerPool | None = None
        self.trainer: TrainerProcess | None = None
        self.next_train_at = 0.0  # monotonic: no training child before this (back-off after failures)
        self.train_backoff_s = 0.0
        self.stop = threading.Event()
        self.reload = False
        self.next_rescan = 0.0  # monotonic time; 0 = now
        self.untrainable_feedback_id = -1  # training said NotReady/failed at this feedback; wait for more
        self.rescore = True  # tracks may lack scores from the current model (checked when idle)
        self.trainer_for_id = 0  # the newest feedback id when the training child started
        self.full_tried_id = -1  # the newest feedback id when the last full fine-tune started
        self.library_changed = False  # tracks were analysed since the last full fine-tune
        self.deferred_on_battery = False
        self.watcher = ""
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.started_at = time.time()
        self._published: tuple[Any, ...] | None = None
        self._published_at = 0.0

    # -- bookkeeping ---------------------------------------------------------------------------

    def error(self, message: str) -> None:
        log.error("%s", message)
        self.last_error, self.last_error_at = message, time.time()

    @property
    def state(self) -> str:
        if self.trainer is not None:
            return "training"
        if self.pending or self.running or len(self.inbox):
            return "scanning"
        return "idle"

    def publish_state(self, service: Service, *, force: bool = False) -> None:
        """Write state/queue/last error for `prefrec status` when they change (at most 2/s)."""
        queue = len(self.pending) + len(self.running) + len(self.inbox)
        current = (self.state, queue, self.watcher, self.last_error)
        now = time.monotonic()
        if force or (current != self._published and now - self._published_at >= 0.5):
            service.store.set_daemon_state(pid=os.getpid(), state=current[0], queue=queue, watcher=self.watcher,
                                           last_error=self.last_error, last_error_at=self.last_error_at,
                                           started_at=self.started_at)
            self._published, self._published_at = current, now

    # -- signals -------------------------------------------------------------------------------

    def _on_stop(self, signum: int, _frame: Any) -> None:
        log.info("%s: stopping after the current write", signal.Signals(signum).name)
        self.stop.set()

    def _on_hup(self, _signum: int, _frame: Any) -> None:
        self.reload = True

    # -- main loop -----------------------------------------------------------------------------

    def run(self) -> int:
        from prefrec.service import Service

        previous = {s: signal.signal(s, self._on_stop) for s in (signal.SIGTERM, signal.SIGINT)}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hup)
        overflow = _OverflowWatch(self.inbox)
        logging.getLogger("watchdog").addHandler(overflow)
        observer = None
        service = Service(self.settings)
        try:
            handler = _make_handler(self.inbox, self.roots, self.error)
            observer, self.watcher = _start_observer(self.roots, handler, self.settings)
            log.info("watching %s with %s (pid %d, data dir %s)", ", ".join(self.roots), self.watcher,
                     os.getpid(), self.settings.home)
            swept = service.library.sweep_stale_files()
            if swept:
                log.info("removed %d temporary file%s left by interrupted writes", len(swept),
                         "" if len(swept) == 1 else "s")
            self.publish_state(service, force=True)
            self._start_player()
            while not self.stop.is_set():
                try:
                    self.step(service)
                except PrefrecError as exc:
                    self.error(str(exc))
                except Exception as exc:  # noqa: BLE001 - log it, keep watching
                    log.exception("unexpected error")
                    self.error(f"{type(exc).__name__}: {exc}")
                if not self.stop.is_set():
                    try:
                        self.publish_state(service)
                    except PrefrecError as exc:
                        self.error(str(exc))
                    self.stop.wait(TICK_S)
        finally:
            self._shutdown(service, observer)
            logging.getLogger("watchdog").removeHandler(overflow)
            for sig, old in previous.items():
                signal.signal(sig, old)
        log.info("stopped")
        return 0

    def step(self, service: Service) -> None:
        """One pass: reload, apply moves/deletions, rescan if due, analyse stable files, train."""
        if self.reload:
            self.reload = False
            self._reload()
        touched, changes, rescan = self.inbox.take()
        for kind, path, dest in changes:
            if self.stop.is_set():
                return
            self._apply_change(service, kind, path, dest)
        now = time.monotonic()
        for path, closed in touched.items():
            self._consider(path, closed=closed, now=now)
        if self.passed_over:
            service.library.record_passed_over(self.passed_over)
            self.passed_over = []
        if rescan or now >= self.next_rescan:
            self._rescan(service)
        self._collect(service)
        self._submit(service)
        self._learn(service)

    # -- folders -------------------------------------------------------------------------------

    def _apply_change(self, service: Service, kind: str, path: str, dest: str | None) -> None:
        self.pending.pop(path, None)
        if kind == "moved" and dest is not None:
            moved = service.library.moved(path, dest)
            if moved:
                log.info("moved %s -> %s (%d track%s)", path, dest, moved, "" if moved == 1 else "s")
                for old in [p for p in self.pending if under_any(p, [path])]:
                    self.pending.pop(old)
                    self._consider(dest + old[len(path):], closed=False, now=time.monotonic())
        else:
            gone = service.library.removed(path)
            if gone:
                log.info("gone: %s (%d track%s; feedback kept)", path, gone, "" if gone == 1 else "s")

    def _consider(self, path: str, *, closed: bool, now: float, old_enough: bool = False) -> None:
        """Note a new or changed file; it is analysed once stable (see _submit)."""
        st, reason = stat_audio_file(path, self.roots)
        if st is None:
            self.pending.pop(path, None)
            if printable_path(path) != path:  # a name the library cannot store: the listener must rename it
                self.error(f"{printable_path(path)}: {reason}")
            if os.path.lexists(path):  # (a file deleted meanwhile is simply forgotten)
                log.info("passed over %s: %s", printable_path(path), reason)
                self.passed_over.append((printable_path(path), reason))  # recorded as scan records it
            return
        seen = self.pending.get(path)
        if seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
            since = now - self.settings.settle_s if old_enough else now
            self.pending[path] = _Pending(st.st_size, st.st_mtime_ns, since, closed)
        elif closed:
            seen.closed = True

    def _rescan(self, service: Service) -> None:
        """Reconcile the database with the folders: queue new/changed files, mark missing ones gone."""
        self.next_rescan = time.monotonic() + self.settings.rescan_interval_s
        entries, skipped = discover(self.roots)
        now, wall = time.monotonic(), time.time()
        queued = 0
        for e in service.library.needs_analysis(entries):
            if e.path not in self.running:
                # A file untouched for settle_s already is complete: no need to watch it settle.
                self._consider(e.path, closed=False, now=now,
                               old_enough=wall - e.mtime_ns / 1e9 >= self.settings.settle_s)
                queued += 1
        gone = service.library.reconcile(self.roots, entries, skipped, busy=self.running)
        log.info("rescan: %d audio files, %d to analyse, %d gone, %d passed over",
                 len(entries), queued, gone, len(skipped))
        for path, reason in skipped[:20]:
            log.info("  passed over %s: %s", path, reason)

    # -- analysis ------------------------------------------------------------------------------

    def _ensure_pool(self) -> WorkerPool:
        if self.pool is None:
            from prefrec.analysis import WorkerPool

            self.pool = WorkerPool(cache_root=self.settings.features_dir, workers=self.settings.workers,
                                   timeout_s=self.settings.decode_timeout_s,
                                   timeout_per_audio_s=self.settings.decode_timeout_per_audio_s,
                                   memory_mb=self.settings.worker_memory_mb)
        return self.pool

    def _stop_pool(self) -> None:
        """Kill the workers busy with a file and reap them all (they also die with the daemon)."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def _submit(self, service: Service) -> None:
        """Send files that stayed unchanged long enough to idle analysis workers."""
        now = time.monotonic()
        capacity = self._ensure_pool().free
        for path, p in list(self.pending.items()):
            if capacity <= 0 or self.stop.is_set():
                break
            try:
                st = os.stat(path)
            except OSError:
                del self.pending[path]
                continue
            if (st.st_size, st.st_mtime_ns) != (p.size, p.mtime_ns):
                self.pending[path] = _Pending(st.st_size, st.st_mtime_ns, now)
                continue
            wait = min(CLOSE_GRACE_S, self.settings.settle_s) if p.closed else self.settings.settle_s
            if now - p.changed_at < wait:
                continue
            del self.pending[path]
            if path in self.running:
                self.pending[path] = p  # analysed again once the current run is recorded
                continue
            entry = FileEntry(path, st.st_size, st.st_mtime_ns)
            if not service.library.needs_analysis([entry]):
                continue  # already analysed as it is (e.g. touched, or a rescan raced an event)
            self._ensure_pool().submit(path)
            self.running[path] = entry
            capacity -= 1

    def _collect(self, service: Service) -> None:
        """Record finished analyses (and files whose worker hung or crashed), one short transaction each."""
        from prefrec.analysis import Analysed

        if self.pool is None or not self.running:
            return
        for result in self.pool.results(0):
            if self.stop.is_set():
                return  # not recorded: analysed again after the restart
            path = result.path
            entry = self.running.pop(path)
            try:
                st = os.stat(path)
            except OSError:
                continue  # deleted while it was analysed
            if (st.st_size, st.st_mtime_ns) != (entry.size, entry.mtime_ns):
                self._consider(path, closed=False, now=time.monotonic())  # changed meanwhile: again
                continue
            service.library.record_results([(result, entry)])
            if isinstance(result, Analysed):
                log.info("analysed %s (%.0f s)", path, result.duration_s)
                self.rescore = self.library_changed = True
            elif result.transient:
                log.warning("could not analyse this time (tried again at the next rescan): %s", result.reason)
            else:
                log.warning("could not use %s", result.reason)

    # -- learning ------------------------------------------------------------------------------

    def _learn(self, service: Service) -> None:
        """Start the training child when feedback waits (quiet period or N events): a head update
        (seconds); when new tracks need scores; or, in a quiet spell after head updates or library
        changes, the full fine-tune (deferred on battery if so set). Reap it when it ends. After a
        failure, wait before trying again (back-off from TRAIN_BACKOFF_S doubling to
        TRAIN_BACKOFF_MAX_S), so nothing loops."""
        if self.trainer is not None:
            outcome = self.trainer.poll()
            if outcome is None:
                return
            self.trainer = None
            self._trainer_ended(service, outcome)
        if self.stop.is_set() or time.monotonic() < self.next_train_at:
            return
        last_id = service.store.last_feedback_id()
        model = service.store.latest_model()
        trained_up_to = model.last_feedback_id if model else 0
        mode = None
        if last_id > trained_up_to and last_id != self.untrainable_feedback_id:
            waiting, newest = service.store.feedback_after(trained_up_to)
            quiet = newest is None or time.time() - newest >= self.settings.quiet_period_s
            if quiet or waiting >= self.settings.train_after_events:
                mode = "update"
        elif not self.pending and not self.running and self._full_wanted(service, model, last_id):
            mode = "full"
        elif self.rescore and not self.pending and not self.running:
            self.rescore = False
            mode = "update" if service.learning.needs_scoring() else None
        if mode:
            self.rescore = False
            waiting = last_id - trained_up_to
            if mode == "full":
                self.full_tried_id, self.library_changed = last_id, False
                log.info("full fine-tune in a quiet spell")
            elif waiting:
                log.info("%s on %d new feedback event%s", "updating" if self.settings.fast_updates else "retraining",
                         waiting, "" if waiting == 1 else "s")
            else:
                log.info("scoring new tracks with the current model")
            self.trainer = TrainerProcess(self.settings.home, self.settings.home / TRAIN_LOG_NAME, mode)
            self.trainer_for_id = last_id

    def _full_wanted(self, service: Service, model: Any, last_id: int) -> bool:
        """Whether to run the full fine-tune now: the newest model is a head update (or the library
        changed since the last full run), nothing was rated for `full_retrain_quiet_s`, and the
        machine is not on battery (when `defer_full_retrain_on_battery`)."""
        if model is None:
            return False
        if not (("head_update" in model.config and last_id != self.full_tried_id) or self.library_changed):
            return False
        _count, newest = service.store.feedback_after(max(0, last_id - 1))  # the newest event alone: cheap
        if newest is not None and time.time() - newest < self.settings.full_retrain_quiet_s:
            return False
        if self.settings.defer_full_retrain_on_battery:
            from prefrec.power import on_battery

            if on_battery():
                if not self.deferred_on_battery:
                    log.info("on battery: the full fine-tune waits for mains power (head updates go on)")
                self.deferred_on_battery = True
                return False
        self.deferred_on_battery = False
        return True

    def _trainer_ended(self, service: Service, outcome: TrainerOutcome) -> None:
        self.rescore = True  # tracks analysed while it ran may have missed its scoring
        kind = outcome.kind
        if kind == "done":
            self.train_backoff_s = 0.0
            log.info("%s", outcome.message)
            model = service.store.latest_model()
            if model is None or model.last_feedback_id < self.trainer_for_id:
                self.untrainable_feedback_id = self.trainer_for_id
        elif kind == "not_ready":
            self.train_backoff_s = 0.0
            self.untrainable_feedback_id = self.trainer_for_id  # wait for more feedback
            log.info("not training yet: %s", outcome.message.removeprefix("prefrec: "))
        else:  # busy (another process trains) or failed: try again later, backing off
            self.train_backoff_s = min(max(TRAIN_BACKOFF_S, 2 * self.train_backoff_s), TRAIN_BACKOFF_MAX_S)
            self.next_train_at = time.monotonic() + self.train_backoff_s
            if kind == "busy":
                log.info("%s; trying again in %.0f s", outcome.message, self.train_backoff_s)
            else:
                self.error(f"training failed: {outcome.message} (next try in {self.train_backoff_s:.0f} s)")

    # -- settings and shutdown -----------------------------------------------------------------

    def _reload(self) -> None:
        from prefrec.config import load_settings

        try:
            fresh = load_settings(self.settings.home)
        except PrefrecError as exc:
            self.error(f"SIGHUP: kept the previous settings: {exc}")
            return
        changed = {k: v for k, v in vars(fresh).items() if getattr(self.settings, k) != v}
        analysis = ("workers", "decode_timeout_s", "decode_timeout_per_audio_s", "worker_memory_mb")
        analysis_changed = any(getattr(fresh, k) != getattr(self.settings, k) for k in analysis)
        if analysis_changed:
            self._requeue_running()
            self._stop_pool()
        player_keys = [k for k in changed if k.startswith(("player", "mpd_", "mpris_", "autoqueue"))
                       or k in ("skip_min_s", "listen_fraction", "listen_min_s", "seek_min_s")]
        self.settings = fresh
        if player_keys:
            self._stop_player()
            self._start_player()
        # New analysis settings: files that failed because of the old ones (deadline, memory) are
        # tried again by a rescan now.
        self.next_rescan = 0.0 if analysis_changed else min(self.next_rescan, time.monotonic() + fresh.rescan_interval_s)
        self.untrainable_feedback_id = -1
        from prefrec.config import schema

        secret = {k for k, f in schema().items() if f.metadata.get("secret")}
        log.info("SIGHUP: settings reloaded (%s)",
                 ", ".join(f"{k}={'***' if k in secret else v}" for k, v in sorted(changed.items()))
                 or "nothing changed")

    def _requeue_running(self) -> None:
        for path, entry in self.running.items():
            self.pending[path] = _Pending(entry.size, entry.mtime_ns, 0.0)
        self.running.clear()

    def _start_player(self) -> None:
        """Follow the configured player on threads of its own (prefrec.player.host): it records
        sessions and acts itself, in short transactions, so they reach the database within a
        second even while this loop is busy; the loop sees them through the log's ids."""
        from prefrec.player.host import start_player

        try:
            self.player = start_player(self.settings, autoqueue=self.autoqueue)
        except Exception as exc:  # noqa: BLE001 - the daemon never depends on a player
            log.exception("could not start following the player")
            self.error(f"player: {type(exc).__name__}: {exc}")

    def _stop_player(self) -> None:
        from prefrec.player.host import stop_player

        try:
            stop_player(self.player)
        except Exception as exc:  # noqa: BLE001
            log.warning("while stopping the player client: %s", exc)
        self.player = None

    def _shutdown(self, service: Service, observer: Any) -> None:
        self._stop_player()
        if observer is not None:
            observer.stop()
        if self.trainer is not None:
            self.trainer.stop(STOP_GRACE_S)
        self._stop_pool()
        try:
            service.store.clear_daemon_state(os.getpid())
        except PrefrecError as exc:
            log.warning("%s", exc)
        service.close()
        if observer is not None:
            observer.join(timeout=STOP_GRACE_S)


def _setup_logging(home: Path) -> None:
    from logging.handlers import RotatingFileHandler

    path = home / LOG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    file_handler = RotatingFileHandler(path, maxBytes=5_000_000, backupCount=3, encoding="utf-8")
    stderr_handler = logging.StreamHandler(sys.stderr)
    for handler in (file_handler, stderr_handler):
        handler.setFormatter(fmt)
    root = logging.getLogger()
    root.handlers = [file_handler, stderr_handler]
    root.setLevel(logging.INFO)
    logging.getLogger("watchdog").setLevel(logging.WARNING)


def run_daemon(settings: Settings, roots: list[str], *, autoqueue: bool | None = None) -> int:
    """Run the daemon in the foreground until SIGTERM/SIGINT; returns the exit code.

    Raises LockHeld when another daemon holds the data dir, UsageError for a bad folder.
    """
    from prefrec.errors import UsageError
    from prefrec.fsutil import check_data_dir

    for root in roots:
        if not os.path.isdir(root):
            raise UsageError(f"{root}: not a folder; give the folder(s) that hold your music")
    check_data_dir(settings.home, create=True)  # before the lock file: never write into a foreign folder
    lock = PidLock(settings.home / DAEMON_LOCK, what="a daemon")
    try:
        lock.acquire()
    except LockHeld as exc:
        raise LockHeld(f"{settings.home}: a daemon (pid {exc.pid or 'unknown'}) already runs on this data dir; "
                       f"stop it first (kill {exc.pid}) or use another --home", exc.pid) from None
    try:
        _setup_logging(settings.home)
        return Daemon(settings, [os.path.realpath(r) for r in roots], autoqueue=autoqueue).run()
    finally:
        lock.release()


