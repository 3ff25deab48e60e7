"""The training child the daemon starts, and the protocol between them.

The daemon never imports torch: when feedback or new tracks call for it, it starts
`python -m prefrec.trainer HOME DAEMON_PID STATUS_FD MODE`, at the CPU priority `nice`. MODE:
- `update` (new feedback): refit the model's head on stored window representations and rescore
  every track through it (seconds; Settings.fast_updates off: the full fine-tune), or score tracks
  the current model has not scored;
- `full` (a quiet spell after head updates, or after the library changed): pretrain again if the
  library changed enough, fine-tune encoder and head on all feedback, rescore every track.
It publishes the ranking and reports what happened as JSON lines on the status pipe (its stdout and
stderr go to the training log for people to read):

    {"event": "pretrained", "tracks": 812, "steps": 1500, "seconds": 61.2}
    {"event": "trained", "model_id": 7, "likes": 20, "skips": 18, "epochs": 25, "train_s": 6.1,
     "scored": 812, "rebuilt_because": null, "kind": "full"}      (kind "head": a head update)
    {"event": "scored", "tracks": 3}
    {"event": "done"}              the last line of a run that succeeded (maybe with nothing to do)
    {"event": "not_ready", "message": "..."}   the feedback cannot train a model yet
    {"event": "busy", "message": "..."}        another process holds the trainer lock
    {"event": "failed", "message": "..."}      a PrefrecError; the daemon backs off

A child that dies without a final line (killed, crashed) counts as failed. Standard library only
at import time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FINAL_EVENTS = frozenset({"done", "not_ready", "busy", "failed"})


@dataclass
class TrainerOutcome:
    """How a training child ended: its exit code and the events it reported, in order."""

    code: int
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """done | not_ready | busy | failed (also for a child that died without saying)."""
        final = self.events[-1]["event"] if self.events else None
        return final if final in FINAL_EVENTS and (final != "done" or self.code == 0) else "failed"

    @property
    def message(self) -> str:
        """One line for the daemon's log."""
        from prefrec.render import plural

        if self.kind == "done":
            parts = []
            for e in self.events:
                if e["event"] == "pretrained":
                    parts.append(f"pretrained on {plural(e['tracks'], 'track')} ({plural(e['steps'], 'step')}, "
                                 f"{e['seconds']:.0f} s)")
                elif e["event"] == "trained":
                    rebuilt = f" (rebuilt: {e['rebuilt_because']})" if e.get("rebuilt_because") else ""
                    what = "updated the head" if e.get("kind") == "head" else "trained"
                    parts.append(f"{what} on {plural(e['likes'], 'like')} and {plural(e['skips'], 'skip')} in "
                                 f"{e['train_s']:.1f} s, ranked {plural(e['scored'], 'track')} (model #{e['model_id']})"
                                 f"{rebuilt}")
                elif e["event"] == "scored" and e["tracks"]:
                    parts.append(f"scored {plural(e['tracks'], 'new track')}")
            return "; ".join(parts) or "nothing to do"
        if self.events and "message" in self.events[-1]:
            return str(self.events[-1]["message"])
        return f"the training process ended with exit code {self.code} without a report"


class TrainerProcess:
    """A running training child: start it, poll it each tick, stop it."""

    def __init__(self, home: Path, log_path: Path, mode: str = "update") -> None:
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(log_path, "a", encoding="utf-8") as out:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "prefrec.trainer", str(home), str(os.getpid()), str(write_fd), mode],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=out, pass_fds=(write_fd,))
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self._fd: int | None = read_fd
        self._buffer = b""
        self.events: list[dict[str, Any]] = []
        self.mode = mode

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _drain(self) -> None:
        while self._fd is not None:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                os.close(self._fd)
                self._fd = None
                break
            self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "event" in event:
                self.events.append(event)

    def poll(self) -> TrainerOutcome | None:
        """The outcome once the child has exited, else None (never blocks)."""
        self._drain()
        code = self.proc.poll()
        if code is None:
            return None
        self._drain_all()
        return TrainerOutcome(code, self.events)

    def _drain_all(self) -> None:
        if self._fd is not None:
            os.set_blocking(self._fd, True)
            self._drain()
        self._buffer += b"\n"
        self._drain()

    def stop(self, grace_s: float) -> None:
        """Terminate the child (its writes are transactions, its checkpoints atomic), then kill it
        if it has not ended within `grace_s`."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _report(fd: int, event: str, **fields: Any) -> None:
    os.write(fd, (json.dumps({"event": event, **fields}) + "\n").encode("utf-8"))


def main(home: str, parent_pid: int, status_fd: int, mode: str = "full") -> int:
    """The child (see the module docstring for the modes), at the CPU priority `nice`."""
    from prefrec.analysis import die_with_parent, retain_freed_memory

    die_with_parent(parent_pid)  # no orphan trainers
    retain_freed_memory()  # it scores track after track (head updates, small rescores) in-process
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from prefrec.config import load_settings
    from prefrec.errors import NotReady, PrefrecError

    try:
        settings = load_settings(home)
    except PrefrecError as exc:
        _report(status_fd, "failed", message=str(exc))
        return 1
    os.nice(max(0, settings.nice - os.nice(0)))  # before the heavy imports; scoring workers inherit it
    from prefrec.service import Service
    from prefrec.service.learning import TrainerBusy

    try:
        with Service(settings) as service:
            pretrained = None
            if mode == "full" and service.store.latest_model():
                pretrained = service.learning.pretrain_if_needed()
            if pretrained is not None:
                _report(status_fd, "pretrained", tracks=pretrained.n_tracks, steps=pretrained.steps,
                        seconds=round(pretrained.seconds, 2))
            if mode == "full":
                retrain = pretrained is not None or service.learning.full_retrain_due()
                trained, rescored = service.learning.refresh_model(retrain=retrain)
            else:
                trained, rescored = service.learning.refresh_model(fast=settings.fast_updates)
    except TrainerBusy as exc:
        _report(status_fd, "busy", message=str(exc))
        return 0
    except NotReady as exc:
        _report(status_fd, "not_ready", message=str(exc))
        return 0
    except PrefrecError as exc:
        print(f"prefrec: {exc}", file=sys.stderr)
        _report(status_fd, "failed", message=str(exc))
        return 1
    if trained is not None:
        _report(status_fd, "trained", model_id=trained.model_id, likes=trained.n_likes, skips=trained.n_skips,
                epochs=trained.epochs, train_s=round(trained.train_s, 2), scored=trained.scored,
                rebuilt_because=trained.rebuilt_because, kind=trained.kind)
    _report(status_fd, "scored", tracks=rescored)
    _report(status_fd, "done")
    return 0


if __name__ == "__main__" and len(sys.argv) in (4, 5):
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:5]))
