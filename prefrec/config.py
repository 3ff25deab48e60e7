"""Settings: defaults < config.toml in the data dir < PREFREC_* environment < CLI options.

The data directory is `--home`, else `$PREFREC_HOME`, else the platform's user data dir. Every
key has a schema (type, bounds, allowed values, help); a bad value is refused with a message that
names the key, where it came from and what is expected, and an unknown key gets a "did you mean".
All problems are reported at once. Standard library only.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefrec.errors import PrefrecError


class SettingsError(PrefrecError):
    """One or more settings are invalid; the message lists each with its source (one per line)."""

    exit_code = 2
    multiline = True


def setting(default: Any = dataclasses.MISSING, *, help: str, minimum: float | None = None,
            maximum: float | None = None, choices: tuple[str, ...] | None = None,
            default_factory: Any = dataclasses.MISSING, secret: bool = False) -> Any:
    """A Settings field with its schema in the field's metadata."""
    meta = {"help": help, "minimum": minimum, "maximum": maximum, "choices": choices, "secret": secret}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def _default_workers() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Settings:
    """Everything a run of prefrec may tune. Paths are absolute."""

    home: Path
    workers: int = setting(default_factory=_default_workers, minimum=1, maximum=256,
                           help="analysis, training and scoring processes (default: all cores)")
    decode_timeout_s: float = setting(300.0, minimum=1, help="seconds a worker may spend on one file…")
    decode_timeout_per_audio_s: float = setting(0.05, minimum=0, maximum=10,
                                                help="…plus this per second of audio (+6 min for a 2-hour mix)")
    worker_memory_mb: int = setting(2048, minimum=256, help="address space a worker may use beyond its libraries")
    busy_timeout_s: float = setting(30.0, minimum=0, help="how long to wait for a database another process holds")
    trainer_wait_s: float = setting(600.0, minimum=0, help="`train` while another process trains waits this long")
    train_seed: int = setting(0, minimum=0, help="seed of training and pretraining (runs are repeatable)")
    train_max_epochs: int = setting(0, minimum=0, maximum=10000, help="fine-tuning epochs (a fixed schedule); 0: the training default")
    pretrain_max_steps: int = setting(0, minimum=0, maximum=100000, help="most steps of the pretraining on the "
                                      "library's sound (fewer: sooner, a less learnt encoder); 0: the default, 1500")
    # The daemon (see prefrec/daemon.py):
    settle_s: float = setting(3.0, minimum=0, help="a new file is analysed once stable this long")
    quiet_period_s: float = setting(10.0, minimum=0, help="retrain this long after the latest feedback…")
    train_after_events: int = setting(20, minimum=1, help="…or as soon as this many feedback events wait")
    fast_updates: bool = setting(True, help="after new feedback refit only the model's head on stored window "
                                 "representations (seconds), leaving the full fine-tune for a quiet spell")
    full_retrain_quiet_s: float = setting(900.0, minimum=0, help="the full fine-tune and rescore of every track wait "
                                          "for this long without new feedback")
    defer_full_retrain_on_battery: bool = setting(True, help="on battery, keep to head updates and leave the full "
                                                  "fine-tune for when the machine is on mains power")
    nice: int = setting(10, minimum=0, maximum=19, help="CPU priority of the daemon's training and scoring "
                        "(0 normal, 19 lowest)")
    rescan_interval_s: float = setting(3600.0, minimum=1, help="full rescan of the folders, to recover missed events")
    watch: str = setting("auto", choices=("auto", "polling"), help="how the daemon watches the folders")
    poll_interval_s: float = setting(5.0, minimum=0.1, help="how often the polling watcher looks")
    # What a listening session a player saw means (prefrec.labels, docs/feedback.md):
    skip_min_s: float = setting(3.0, minimum=0, help="played less than this: nothing (an accidental start)")
    listen_fraction: float = setting(0.5, minimum=0.05, maximum=1, help="a listen: this fraction of the track…")
    listen_min_s: float = setting(240.0, minimum=1, help="…or this many seconds played")
    seek_min_s: float = setting(10.0, minimum=0, help="a forward seek this long keeps skipped windows out of a listen")
    # The music player the daemon follows (prefrec/player/, README "With your music player"):
    player: str = setting("none", choices=("none", "mpd", "mpris"), help="the player the daemon learns from")
    mpd_host: str = setting("", help="MPD's host, socket path or password@host (default: $MPD_HOST, "
                                     "else the usual sockets, else localhost)")
    mpd_port: int = setting(0, minimum=0, maximum=65535, help="MPD's port (0: $MPD_PORT, else 6600)")
    mpd_password: str = setting("", secret=True, help="MPD's password, if it asks for one")
    mpd_music_directory: str = setting("", help="MPD's music_directory, when prefrec cannot ask MPD "
                                                "(over TCP MPD does not tell)")
    mpris_player: str = setting("", help="the MPRIS player to follow, e.g. vlc (default: the first on the bus)")
    autoqueue: bool = setting(False, help="keep MPD's queue filled with recommendations")
    autoqueue_keep: int = setting(3, minimum=1, maximum=100, help="songs kept queued after the current one")
    autoqueue_cooldown_h: float = setting(8.0, minimum=0, help="no song queued again within this many hours")
    # What is recommended (prefrec/service/queries.py):
    diversity_margin: float = setting(0.1, minimum=0, maximum=1,
                                      help="recommend spreads artists, albums and folders only among tracks "
                                      "scoring within this of each other")
    flat_scores: float = setting(0.05, minimum=0, maximum=1,
                                 help="explain calls a track's window scores flat when they span less than this")

    def label_rules(self):  # -> prefrec.labels.Rules
        """The label rule set with this listener's thresholds."""
        from prefrec.labels import Rules

        return Rules(skip_min_s=self.skip_min_s, listen_fraction=self.listen_fraction,
                     listen_min_s=self.listen_min_s, seek_min_s=self.seek_min_s)

    @property
    def db_path(self) -> Path:
        return self.home / "prefrec.sqlite"

    @property
    def features_dir(self) -> Path:
        return self.home / "features"

    @property
    def reps_dir(self) -> Path:
        """Stored window representations for head-only updates (prefrec.reps)."""
        return self.home / "reps"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"


def schema() -> dict[str, dataclasses.Field]:
    """The tunable keys (every Settings field but `home`) and their fields (type, metadata)."""
    return {f.name: f for f in dataclasses.fields(Settings) if f.name != "home"}


def default_home() -> Path:
    """The data dir when neither --home nor $PREFREC_HOME is given."""
    import platformdirs

    return Path(platformdirs.user_data_dir("prefrec", appauthor=False))


def _expected(f: dataclasses.Field) -> str:
    kind = {"int": "an integer", "float": "a number", "str": "text", "bool": "true or false"}[str(f.type)]
    meta = f.metadata
    if meta.get("choices"):
        return "one of " + ", ".join(f'"{c}"' for c in meta["choices"])
    low, high = meta.get("minimum"), meta.get("maximum")
    bounds = [f"≥ {low:g}" if low is not None else "", f"≤ {high:g}" if high is not None else ""]
    return " ".join([kind, " and ".join(b for b in bounds if b)]).strip()


def coerce(name: str, raw: object, *, from_text: bool) -> object:
    """`raw` as the type of setting `name`, within its bounds; ValueError saying what is expected.

    from_text: the value is a string from the environment or the command line (so "4" is an
    integer); in config.toml a string is never a number.
    """
    f = schema()[name]
    kind = str(f.type)
    expected = _expected(f)
    value: object
    if kind == "bool":
        if isinstance(raw, bool):
            value = raw
        elif from_text and isinstance(raw, str) and raw.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            value = raw.lower() in ("1", "true", "yes", "on")
        else:
            raise ValueError(f"expected {expected}, got {raw!r}")
    elif kind in ("int", "float"):
        number: float
        if isinstance(raw, bool) or not (isinstance(raw, (int, float)) or (from_text and isinstance(raw, str))):
            raise ValueError(f"expected {expected}, got {raw!r}")
        try:
            number = float(raw) if kind == "float" else int(str(raw).strip()) if isinstance(raw, str) else raw
        except ValueError:
            raise ValueError(f"expected {expected}, got {raw!r}") from None
        if kind == "int" and isinstance(number, float):
            if not number.is_integer():
                raise ValueError(f"expected {expected}, got {raw!r}")
            number = int(number)
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"expected {expected}, got {raw!r}")
        low, high = f.metadata.get("minimum"), f.metadata.get("maximum")
        if (low is not None and number < low) or (high is not None and number > high):
            raise ValueError(f"expected {expected}, got {raw!r}")
        value = float(number) if kind == "float" else int(number)
    else:
        if not isinstance(raw, str):
            raise ValueError(f"expected {expected}, got {raw!r}")
        choices = f.metadata.get("choices")
        if choices and raw not in choices:
            raise ValueError(f"expected {expected}, got {raw!r}")
        value = raw
    return value


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known settings: {', '.join(sorted(known))}"


def load_settings(home: str | os.PathLike[str] | None = None, **overrides: object) -> Settings:
    """Resolve the data dir and merge config.toml, PREFREC_* variables and explicit overrides
    (None overrides are ignored). Raises SettingsError listing every invalid key with its source."""
    if home is None:
        home = os.environ.get("PREFREC_HOME") or default_home()
    home_path = Path(home).expanduser().resolve()
    keys = schema()
    values: dict[str, object] = {}
    problems: list[str] = []
    config_file = home_path / "config.toml"
    if config_file.is_file():
        import tomllib

        try:
            data = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{config_file}: not valid TOML ({exc}); fix or delete it") from exc
        except OSError as exc:
            raise SettingsError(f"{config_file}: cannot be read ({exc.strerror})") from exc
        for name, raw in data.items():
            if name not in keys:
                problems.append(f"{config_file}: unknown setting {name!r}{_did_you_mean(name, list(keys))}")
                continue
            try:
                values[name] = coerce(name, raw, from_text=False)
            except ValueError as exc:
                problems.append(f"{config_file}: {name}: {exc}")
    for variable, raw in os.environ.items():
        if not variable.startswith("PREFREC_") or variable == "PREFREC_HOME":
            continue
        name = variable[len("PREFREC_"):].lower()
        if name not in keys:
            # Other PREFREC_* variables may belong to other tools (benchmarks); a near miss is a typo.
            close = difflib.get_close_matches(name, list(keys), n=1, cutoff=0.8)
            if close:
                problems.append(f"environment: {variable} is not a setting; did you mean "
                                f"PREFREC_{close[0].upper()}?")
            continue
        try:
            values[name] = coerce(name, raw, from_text=True)
        except ValueError as exc:
            problems.append(f"environment: {variable}: {exc}")
    for name, raw in overrides.items():
        if raw is None:
            continue
        try:
            values[name] = coerce(name, raw, from_text=isinstance(raw, str))
        except ValueError as exc:
            problems.append(f"command line: {name}: {exc}")
    if problems:
        raise SettingsError("; ".join(problems) if len(problems) == 1 else
                            f"{len(problems)} settings are invalid:\n  " + "\n  ".join(problems))
    return Settings(home=home_path, **values)  # type: ignore[arg-type]
