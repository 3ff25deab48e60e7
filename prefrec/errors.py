"""The error hierarchy. Every message says what happened, to what, and what to do."""

from __future__ import annotations


class PrefrecError(Exception):
    """Base of every error prefrec reports to the listener (exit code 1 unless stated). Its message
    is one line; `multiline` errors list several problems, one per line."""

    exit_code = 1
    multiline = False


class AudioError(PrefrecError):
    """A file could not be decoded or analysed. `transient`: because of the machine (a decoder
    missing, a full disk), not the file: the next scan tries again."""

    transient = False


class MissingDecoder(AudioError):
    """The decoder a file needs (ffmpeg) is not installed."""

    transient = True


class UnknownTrack(PrefrecError):
    """No track in the library matches what the listener typed."""

    exit_code = 1


class AmbiguousTrack(PrefrecError):
    """Several tracks match; `candidates` lists them so the listener can be more precise."""

    exit_code = 2

    def __init__(self, message: str, candidates: list) -> None:
        super().__init__(message)
        self.candidates = candidates


class NotReady(PrefrecError):
    """A use-case needs something that does not exist yet (no feedback, no model, no features)."""


class StoreBusy(PrefrecError):
    """The database stayed locked by another process for longer than the busy timeout."""


class UsageError(PrefrecError):
    """The listener asked for something malformed (e.g. a bad --at position)."""

    exit_code = 2


class UnknownName(PrefrecError):
    """No artist/album (or ban) matches the name the listener typed."""

    exit_code = 1


class AmbiguousName(PrefrecError):
    """Several artists/albums match; `candidates` lists their names."""

    exit_code = 2

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


class MissingExtra(PrefrecError):
    """An optional feature needs a package that is not installed (e.g. matplotlib for --plot)."""


class ImportSourceError(PrefrecError):
    """A source to import could not be read, or is in no format prefrec understands."""


class OutputError(PrefrecError):
    """Standard output cannot be written (a full device, a closed terminal)."""
