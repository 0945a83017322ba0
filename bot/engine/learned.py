"""A classifier trained from the knowledge base itself when it loads (scikit-learn).

Its classes are the entries, the uncovered topics of out_of_scope.yaml, the small-talk intents and
one class of unrelated questions; its training examples are their questions, alternates and
examples. Nothing is downloaded: the model is learned from the YAML in well under a second.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .features import MISSING, FeatureIds


def _identity(features: list[str]) -> list[str]:
    """The documents are feature lists already (module-level so that the model pickles)."""
    return features


def char_ngrams(text: str, n: int) -> list[str]:
    """Character n-grams of compact text, marked so they never collide with words."""
    return [f"^{text[i:i + n]}" for i in range(len(text) - n + 1)]


def learned_features(words: Sequence[str], features: list[str]) -> list[str]:
    """What the classifier reads of a question: the lexicon's features and the characters and
    character pairs of its content words (the same recipe for training and for asking). Single
    characters and pairs carry over to spellings and phrasings the lexicon has never seen (繳/缴
    aside, 个账/账户/帐); trigrams were tried and generalised less on the held-out sets."""
    text = "".join(words)
    return features + char_ngrams(text, 1) + char_ngrams(text, 2)


class Learned:
    """A linear classifier over TF-IDF features; a nearest-centroid model for very large bases,
    where one-vs-rest training over thousands of classes would take minutes."""

    LINEAR_MAX_CLASSES = 1500
    CENTROID_FEATURES = 48  # features kept per class centroid on a large base
    C = 1.0  # LinearSVC's regularisation: smaller generalises more, larger fits the alternates

    def __init__(self, examples: Iterable[tuple[str, Sequence[str]]]) -> None:
        """Train on (class key, feature list) pairs."""
        # Imported here: a model loaded from a cache needs numpy only, not scikit-learn's
        # second of imports.
        from scipy import sparse
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import normalize
        from sklearn.svm import LinearSVC

        keys: list[str] = []
        docs: list[Sequence[str]] = []
        for key, feats in examples:
            keys.append(key)
            docs.append(feats)
        large = len(set(keys)) > self.LINEAR_MAX_CLASSES
        # On a large base a feature seen once is noise that costs memory in every process that
        # loads the model (the vocabulary is a dict): keep features seen at least twice.
        vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, lowercase=False,
                                     min_df=2 if large else 1)
        matrix = vectorizer.fit_transform(docs)
        # Columns renumbered in the order of FeatureIds: no vocabulary dict is kept (see features.py).
        vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._features = FeatureIds(vocabulary)
        columns = np.empty(len(self._features), dtype=np.intp)  # (a shared hash keeps one column)
        for column, feature_id in zip(vocabulary.values(), self._features.lookup(list(vocabulary)), strict=True):
            columns[feature_id] = column
        matrix = matrix.tocsc()[:, columns].tocsr()
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)[columns]
        classes = sorted(set(keys))
        self.classes: tuple[str, ...] = tuple(classes)
        self.linear = len(classes) > 1 and not large
        if self.linear:
            model = LinearSVC(C=self.C).fit(matrix, keys)
            order = [list(model.classes_).index(c) for c in classes]
            coef = np.asarray(model.coef_)
            if coef.shape[0] == 1:  # two classes: one hyperplane
                coef = np.vstack([-coef[0], coef[0]])
                bias = np.array([-model.intercept_[0], model.intercept_[0]])
            else:
                coef, bias = coef[order], np.asarray(model.intercept_)[order]
            self._weights: Any = np.ascontiguousarray(coef.T)  # features × classes
            self._bias = bias
        else:
            index = {c: i for i, c in enumerate(classes)}
            owner = sparse.csr_matrix(
                (np.ones(len(keys)), ([index[k] for k in keys], np.arange(len(keys)))),
                shape=(len(classes), len(keys)),
            )
            centroids = sparse.csr_matrix(normalize(owner @ normalize(matrix)))
            # Each class keeps its CENTROID_FEATURES heaviest features: the tail weighs little in a
            # cosine and would cost memory in every process that loads the model.
            for row in range(centroids.shape[0]):
                lo, hi = centroids.indptr[row], centroids.indptr[row + 1]
                if hi - lo > self.CENTROID_FEATURES:
                    cut = np.argsort(centroids.data[lo:hi])[: hi - lo - self.CENTROID_FEATURES]
                    centroids.data[lo + cut] = 0.0
            centroids.eliminate_zeros()
            self._weights = sparse.csr_matrix(normalize(centroids).T)  # features × classes
            self._bias = np.zeros(len(classes))

    def decision(self, features: Sequence[str]) -> np.ndarray:
        """One score per class (LinearSVC's margin, or cosine to the class centroid)."""
        counts: dict[int, int] = {}
        for column in self._features.lookup(features):
            if column != MISSING:
                counts[column] = counts.get(column, 0) + 1
        if not counts:
            return np.array(self._bias, copy=True)
        # TF-IDF as TfidfVectorizer(sublinear_tf=True) computes it, for one question.
        idx = np.fromiter(counts, dtype=np.intp, count=len(counts))
        values = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
        values *= self._idf[idx]
        values /= np.linalg.norm(values)
        rows = self._weights[idx]
        scores = rows.T @ values if isinstance(rows, np.ndarray) else rows.T.dot(values)  # sparse
        result: np.ndarray = np.asarray(scores).ravel() + self._bias
        return result

    def probabilities(self, features: Sequence[str], temperature: float, limit: int = 8) -> dict[str, float]:
        """The `limit` most likely classes with a softmax share of the decision scores."""
        scores = self.decision(features)
        z = np.exp((scores - scores.max()) / temperature)
        z /= z.sum()
        top = np.argpartition(-z, min(limit, len(z) - 1))[:limit] if len(z) > limit else np.arange(len(z))
        return {self.classes[i]: float(z[i]) for i in top}
