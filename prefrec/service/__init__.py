"""The use-cases shared by the CLI and the daemon, one controller per concern (as mopidy's core):

- `library`: scan the folders, record analysis results, follow moves and deletions;
- `learning`: pretrain, train, score, publish rankings;
- `queries`: recommend, explain, similar, status;
- `control`: rate, forget, ban, history;
- `player`: like/skip/ban of the song playing now, radio.

Nothing here prints or exits: results are dataclasses, problems PrefrecError subclasses. Torch
and librosa are imported only inside the use-cases that need them, so rating and querying start
fast. `Service` owns the one database connection its controllers share.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from prefrec.config import Settings
from prefrec.store import Store

if TYPE_CHECKING:
    from prefrec.cache import FeatureCache
    from prefrec.service.control import ControlController
    from prefrec.service.learning import LearningController
    from prefrec.service.library import LibraryController
    from prefrec.service.player import PlayerController
    from prefrec.service.queries import QueryController


class Service:
    """The use-cases over one data directory. Use as a context manager, or call close()."""

    def __init__(self, settings: Settings, *, create: bool = True) -> None:
        """Raises UsageError when settings.home is a folder prefrec did not create (fsutil.check_data_dir);
        with `create` False (commands that only read) NotReady when it holds no data dir, and nothing
        is created."""
        from prefrec.fsutil import check_data_dir

        check_data_dir(settings.home, create=create)
        self.settings = settings
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.settings.db_path, busy_timeout_s=self.settings.busy_timeout_s)
        return self._store

    @property
    def cache(self) -> FeatureCache:
        from prefrec.cache import FeatureCache

        return FeatureCache(self.settings.features_dir)

    @cached_property
    def library(self) -> LibraryController:
        from prefrec.service.library import LibraryController

        return LibraryController(self)

    @cached_property
    def learning(self) -> LearningController:
        from prefrec.service.learning import LearningController

        return LearningController(self)

    @cached_property
    def queries(self) -> QueryController:
        from prefrec.service.queries import QueryController

        return QueryController(self)

    @cached_property
    def control(self) -> ControlController:
        from prefrec.service.control import ControlController

        return ControlController(self)

    @cached_property
    def player(self) -> PlayerController:
        from prefrec.service.player import PlayerController

        return PlayerController(self)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
