"""Learning from the listener's music player, and feeding it.

- `sessions`: one SessionTracker turns either player's events into raw listening sessions
  (the `session` observations of docs/feedback.md) and classifies them (skip / listen / nothing);
- `mpd`: the MPD client (python-mpd2, asyncio): sessions, acts sent over the `prefrec` channel,
  the autoqueue and radio;
- `mpris`: desktop players over D-Bus (dbus-fast): sessions only;
- `queue`: the autoqueue and radio policy as pure functions;
- `base`: what they share: the records they hand over, the narrow interface through which they
  ask prefrec for music, connection state and reconnect back-off.

Nothing here touches the database: records go out through a callback, music comes in through
`base.Library`. Nothing is imported at package import time.
"""

STATE_KEY = "player_state"  # the `meta` key where the daemon keeps the player's state for `status`
