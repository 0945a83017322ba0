"""Feature strings → dense ids without a dictionary of strings.

A 10,000-entry base has a quarter of a million distinct features (words, word pairs, character
trigrams). Held in dicts keyed by strings they cost ~100 bytes each in every process that loads the
engine, and once more in each index that keys on them. Here a feature is known by a stable 64-bit
hash, and its id is the hash's position in one sorted array: 8 bytes a feature, one array for the
whole index, pickled as bytes. Two features sharing a 64-bit hash would share an id; at this size
the chance is about one in 10⁹.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import blake2b

import numpy as np

MISSING = -1


def feature_hash(feature: str) -> int:
    """A hash of a feature that is the same in every process (str's own hash is salted)."""
    return int.from_bytes(blake2b(feature.encode(), digest_size=8).digest(), "little")


class FeatureIds:
    """Ids 0…n-1 for a fixed set of features, in the order of their hashes."""

    __slots__ = ("_hashes",)

    def __init__(self, features: Iterable[str]) -> None:
        hashes = np.fromiter({feature_hash(f) for f in features}, dtype=np.uint64)
        hashes.sort()
        self._hashes = hashes

    def __len__(self) -> int:
        return len(self._hashes)

    def lookup(self, features: Sequence[str]) -> list[int]:
        """The id of each feature, MISSING for one not in the set."""
        if not features or not len(self._hashes):
            return [MISSING] * len(features)
        wanted = np.fromiter((feature_hash(f) for f in features), dtype=np.uint64, count=len(features))
        at = np.searchsorted(self._hashes, wanted)
        at[at == len(self._hashes)] = 0
        found = self._hashes[at] == wanted
        return np.where(found, at, MISSING).tolist()  # type: ignore[no-any-return]
