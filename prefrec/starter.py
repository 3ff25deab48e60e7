"""The starter set: tracks to rate on the first day, chosen to cover the library.

Before any rating there is nothing to rank, so `recommend` offers tracks whose ratings will teach
the most: tracks that together represent the library's sound and its folders (or artists), not
its oddities. The order is a greedy k-medoids build (as PAM's BUILD step): each next track is
the one that most reduces the total distance from every track to its nearest chosen one, in the
pretrained encoder's space; so any prefix of the order is a good set of representatives of its
size. Farthest-point sampling, tried first, picks outliers: on the real-music corpus it covered
no more of its 13 sources than a random draw (bench/RESULTS.md). Folders and artists are spread
first: the next track comes from the artists (or top folders) and folders picked least so far.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

MAX_ORDER = 200  # tracks in the stored order; the rest of a large library follows folder by folder
MAX_POINTS = 2000  # tracks the distances are computed over (the pretraining sample at most)


def starter_order(vectors: "np.ndarray", groups: list[tuple[str, str]], *, count: int = MAX_ORDER) -> list[int]:
    """Indices of up to `count` rows of `vectors` (float [n, d], one per track) in starter order.

    groups[i] = (artist or top folder, folder) of track i. Each step considers only the tracks
    whose (artist, folder) have been picked least so far (fewest picks of its artist, then of its
    folder), and takes the one that most reduces the sum over all tracks of the distance
    (Euclidean, each dimension standardised) to their nearest chosen track.
    """
    import numpy as np

    n = len(vectors)
    if n == 0:
        return []
    x = np.asarray(vectors, dtype=np.float64)
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
    squared = (x * x).sum(axis=1)
    dist = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2.0 * (x @ x.T), 0.0))  # [n, n]
    artist_ids = _ids([g[0] for g in groups])
    folder_ids = _ids([g[1] for g in groups])
    artist_picks = np.zeros(artist_ids.max() + 1, dtype=np.int64)
    folder_picks = np.zeros(folder_ids.max() + 1, dtype=np.int64)
    nearest = np.full(n, np.inf)
    chosen: list[int] = []
    taken = np.zeros(n, dtype=bool)
    for _ in range(min(count, n)):
        if chosen:
            gain = np.maximum(nearest[None, :] - dist, 0.0).sum(axis=1)  # [n]: drop in total distance
        else:
            gain = -dist.sum(axis=1)  # the first: the medoid, the most typical track
        rank = artist_picks[artist_ids] * (n + 1) + folder_picks[folder_ids]
        rank = np.where(taken, np.iinfo(np.int64).max, rank)
        eligible = rank == rank.min()
        i = int(np.argmax(np.where(eligible, gain, -np.inf)))
        chosen.append(i)
        taken[i] = True
        artist_picks[artist_ids[i]] += 1
        folder_picks[folder_ids[i]] += 1
        nearest = np.minimum(nearest, dist[i])
    return chosen


def _ids(names: list[str]) -> "np.ndarray":
    import numpy as np

    index: dict[str, int] = {}
    return np.array([index.setdefault(name, len(index)) for name in names], dtype=np.int64)
