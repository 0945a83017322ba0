"""Feature ids without a dictionary of strings: stable, dense, and honest about the unknown."""

from __future__ import annotations

import subprocess
import sys

from bot.engine.features import MISSING, FeatureIds, feature_hash


def test_ids_are_dense_distinct_and_unknowns_are_missing() -> None:
    words = ["社保卡", "~社保", "#how", "共济", "医保"]
    ids = FeatureIds(words)
    found = ids.lookup(words)
    assert sorted(found) == list(range(len(words)))
    assert ids.lookup(["护照", "社保卡"]) == [MISSING, found[0]]
    assert FeatureIds([]).lookup(["共济"]) == [MISSING]


def test_a_features_hash_is_the_same_in_every_process() -> None:
    """str's own hash is salted per process; a stored engine needs one that is not."""
    code = "from bot.engine.features import feature_hash; print(feature_hash('家庭共济'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(other.stdout) == feature_hash("家庭共济")
