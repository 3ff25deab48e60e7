"""prefrec: a personal music recommender that learns a listener's taste from like/skip.

Nothing is imported or computed here: the CLI must start fast, so heavy modules
(torch, librosa) are imported only by the functions that need them.
"""

__version__ = "0.1.0"
