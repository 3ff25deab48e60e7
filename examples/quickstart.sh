#!/usr/bin/env bash
# The daily loop from the shell, on a library you give (default: ~/Music).
# Usage: examples/quickstart.sh [MUSIC_DIR]    (set PREFREC_HOME to keep data elsewhere)
set -euo pipefail
MUSIC=${1:-$HOME/Music}
prefrec scan "$MUSIC"                       # analyse every track once (a progress bar shows the rate)
prefrec recommend                           # with no feedback yet: a few tracks to start rating
first=$(find "$MUSIC" -type f \( -name '*.flac' -o -name '*.mp3' -o -name '*.ogg' \) | sort | head -n 1)
last=$(find "$MUSIC" -type f \( -name '*.flac' -o -name '*.mp3' -o -name '*.ogg' \) | sort | tail -n 1)
prefrec like "$first"
prefrec skip "$last" --at 0:05              # skipped after five seconds
prefrec train                               # fit the model and rank every track
prefrec recommend -n 5
prefrec recommend --json -n 5 > /dev/null   # the same for scripts
prefrec explain "$first"                    # why: window scores over time
prefrec status
