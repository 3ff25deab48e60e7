"""Running a player client on an asyncio event loop of its own, in a thread."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

log = logging.getLogger("prefrec.player")


class PlayerThread:
    """Runs `player.run()` (MpdPlayer, MprisPlayer) in a daemon thread until `stop()`.

    An unexpected error in the client is logged, never raised into the caller's thread."""

    def __init__(self, player: Any, *, name: str | None = None) -> None:
        self.player = player
        self._thread = threading.Thread(target=self._main, name=name or f"player-{player.source}", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> PlayerThread:
        self._thread.start()
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception as e:  # a bug, not a player problem: keep the daemon alive, say so
            self.error = e
            log.exception("the %s client stopped on an unexpected error", self.player.source)

    async def _run(self) -> None:
        asyncio.get_running_loop().set_exception_handler(_quiet_lost_connections)
        await self.player.run()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the client to stop (its open session ends with 'gone') and wait for the thread."""
        self.player.stop()
        self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


def _quiet_lost_connections(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """python-mpd2 lets a lost connection escape from a callback once more after its client has
    already seen it; that is routine here (the client reconnects), so log it quietly."""
    error = context.get("exception")
    if error is not None and type(error).__module__.startswith(("mpd", "dbus_fast")):
        log.debug("after a lost connection: %s", error)
        return
    loop.default_exception_handler(context)
