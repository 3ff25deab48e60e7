"""The starter set: tracks to rate on the first day, chosen to cover the library.

Before any rating there is nothing to rank, so `recommend` offers tracks whose ratings will teach
the most: tracks that together represent the library's sound and its folders (or artists), not
its oddities. The order is a greedy k-medoids build (as PAM's BUILD step): each next track is
the one that most reduces the total distance from every track to its nearest chosen one, in the
pretrained encoder's space; so any prefix of the order is a good set of representatives of its
size. Farthest-point sampling, tried first, picks outliers: on the real-music corpus it covered
no more of its 13 sources than a random draw (bench/RESULTS.md). Folders and artists are spread
first: the next track comes from the top folders (an artist's or a source's), then the folders, then
the artists picked least so far.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

MAX_ORDER = 200  # tracks in the stored order; the rest of a large library follows folder by folder
MAX_POINTS = 2000  # tracks the distances are computed over (the pretraining sample at most)


def starter_order(vectors: np.ndarray, groups: list[tuple[str, ...]], *, count: int = MAX_ORDER) -> list[int]:
    """Indices of up to `count` rows of `vectors` (float [n, d], one per track) in starter order.

    groups[i] names the groups track i belongs to, coarsest first (e.g. its top folder, its
    folder, its artist). Each step considers only the tracks whose groups have been picked least
    so far (fewest picks of the first group, then of the second...), and takes the one that most
    reduces the sum over all tracks of the distance (Euclidean, each dimension standardised) to
    their nearest chosen track.
    """
    import numpy as np

    n = len(vectors)
    if n == 0:
        return []
    x = np.asarray(vectors, dtype=np.float64)
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
    squared = (x * x).sum(axis=1)
    dist = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2.0 * (x @ x.T), 0.0))  # [n, n]
    levels = len(groups[0]) if groups else 0
    ids = [_ids([g[level] for g in groups]) for level in range(levels)]
    picks = [np.zeros(i.max() + 1, dtype=np.int64) for i in ids]
    nearest = np.full(n, np.inf)
    chosen: list[int] = []
    taken = np.zeros(n, dtype=bool)
    for _ in range(min(count, n)):
        if chosen:
            gain = np.maximum(nearest[None, :] - dist, 0.0).sum(axis=1)  # [n]: drop in total distance
        else:
            gain = -dist.sum(axis=1)  # the first: the medoid, the most typical track
        rank = np.zeros(n, dtype=np.int64)
        for level in range(levels):  # lexicographic: fewest picks of the coarsest group first
            rank = rank * (n + 1) + picks[level][ids[level]]
        rank = np.where(taken, np.iinfo(np.int64).max, rank)
        eligible = rank == rank.min()
        i = int(np.argmax(np.where(eligible, gain, -np.inf)))
        chosen.append(i)
        taken[i] = True
        for level in range(levels):
            picks[level][ids[level][i]] += 1
        nearest = np.minimum(nearest, dist[i])
    return chosen


def library_groups(paths: list[str], artists: list[str | None]) -> list[tuple[str, str, str]]:
    """(top folder, folder, artist) of each track: the top folder is the first folder below the
    folder all the tracks share (an artist's folder in Artist/Album/track, a source's in
    Source/track), so a starter set covers the library's own layout first, whatever the tags."""
    import os

    folders = [os.path.dirname(p) for p in paths]
    root = os.path.commonpath(folders) if folders else ""
    tops = []
    for folder in folders:
        rest = os.path.relpath(folder, root) if root else folder
        tops.append(root if rest == "." else os.path.join(root, rest.split(os.sep)[0]))
    return [(top, folder, (artist or "").casefold()) for top, folder, artist in zip(tops, folders, artists)]


def _ids(names: list[str]) -> np.ndarray:
    import numpy as np

    index: dict[str, int] = {}
    return np.array([index.setdefault(name, len(index)) for name in names], dtype=np.int64)
