"""What every controller shares: the core's store, settings and feature cache."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefrec.cache import FeatureCache
    from prefrec.config import Settings
    from prefrec.service import Service
    from prefrec.store import Store

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total) — called as long work advances; stage is 'analysing',
'pretraining', 'fine-tuning' or 'scoring' (total may grow while a stage learns how long it is)."""


class Controller:
    """One concern of the use-cases (library, learning, queries, control) over the Service core."""

    def __init__(self, core: Service) -> None:
        self.core = core

    @property
    def store(self) -> Store:
        return self.core.store

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def cache(self) -> FeatureCache:
        return self.core.cache
