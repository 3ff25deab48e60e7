"""Settings: defaults < config.toml in the data dir < PREFREC_* environment < CLI options.

The data directory is `--home`, else `$PREFREC_HOME`, else the platform's user data dir.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

@dataclass(frozen=True)
class Settings:
    """Everything a run of prefrec may tune. Paths are absolute."""

    home: Path
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    decode_timeout_s: float = 300.0  # per file, after a worker's start-up…
    decode_timeout_per_audio_s: float = 0.05  # …plus this per second of audio (+6 min for a 2-hour mix)
    worker_memory_mb: int = 2048  # address space a worker may use beyond its libraries
    busy_timeout_s: float = 30.0
    train_seed: int = 0
    train_max_epochs: int = 0  # 0: the training default (prefrec.train.TrainConfig.max_epochs)
    # The daemon (see prefrec/daemon.py):
    settle_s: float = 3.0  # a new or changed file is analysed once its size and mtime are stable this long
    quiet_period_s: float = 10.0  # retrain this long after the latest feedback…
    train_after_events: int = 20  # …or as soon as this many feedback events are waiting
    rescan_interval_s: float = 3600.0  # full rescan of the folders, to recover missed events
    watch: str = "auto"  # "auto" (inotify where available, else polling) or "polling"
    poll_interval_s: float = 5.0  # how often the polling watcher looks at the folders
    # What a listening session a player saw means (prefrec.labels, docs/feedback.md):
    skip_min_s: float = 3.0  # played less than this: nothing (an accidental start)
    listen_fraction: float = 0.5  # a listen: at least this fraction of the track played…
    listen_min_s: float = 240.0  # …or at least this many seconds
    seek_min_s: float = 10.0  # a forward seek this long keeps the windows jumped over out of a listen

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
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"


def default_home() -> Path:
    """The data dir when neither --home nor $PREFREC_HOME is given."""
    import platformdirs

    return Path(platformdirs.user_data_dir("prefrec", appauthor=False))


def _coerce(name: str, raw: object) -> object:
    kinds = {f.name: f.type for f in dataclasses.fields(Settings)}
    kind = kinds[name]
    if kind in ("int", int):
        return int(raw)  # type: ignore[arg-type]
    if kind in ("float", float):
        return float(raw)  # type: ignore[arg-type]
    return raw


def load_settings(home: str | os.PathLike[str] | None = None, **overrides: object) -> Settings:
    """Resolve the data dir and merge config.toml, PREFREC_* variables and explicit overrides."""
    from prefrec.errors import PrefrecError

    if home is None:
        home = os.environ.get("PREFREC_HOME") or default_home()
    home_path = Path(home).expanduser().resolve()
    tunable = {f.name for f in dataclasses.fields(Settings)} - {"home"}
    values: dict[str, object] = {}
    config_file = home_path / "config.toml"
    if config_file.is_file():
        import tomllib

        try:
            data = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PrefrecError(f"{config_file}: not valid TOML ({exc}); fix or delete it") from exc
        unknown = set(data) - tunable
        if unknown:
            raise PrefrecError(
                f"{config_file}: unknown setting(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(tunable))}"
            )
        values.update(data)
    for name in tunable:
        env = os.environ.get(f"PREFREC_{name.upper()}")
        if env is not None:
            values[name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        coerced = {k: _coerce(k, v) for k, v in values.items()}
    except (TypeError, ValueError) as exc:
        raise PrefrecError(f"a setting has the wrong type: {exc}") from exc
    return Settings(home=home_path, **coerced)  # type: ignore[arg-type]
