"""Find the knowledge entry a question asks about: an answer, a few suggestions, or none."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from .lexicon import Lexicon

OOS_PREFIX = "oos:"


@dataclass(frozen=True)
class Thresholds:
    """The scoring contract: where an answer, a suggestion and a refusal begin."""

    answer: float = 0.34  # at or above, and clear of the runner-up by `margin`: answer
    suggest: float = 0.25  # at or above (and not answered): "did you mean"
    margin: float = 0.07  # a top score this close to the runner-up is ambiguous
    sure: float = 0.55  # at or above this the margin does not matter
    max_suggestions: int = 3


@dataclass(frozen=True)
class Match:
    """What the matcher concluded about one question."""

    outcome: str  # "answer" | "suggest" | "none"
    entry_id: str | None
    score: float
    suggestions: tuple[str, ...] = ()
    oos: str | None = None  # a known uncovered topic the question is about
    ranking: tuple[tuple[str, float], ...] = field(default=(), repr=False)


@dataclass
class _Doc:
    key: str  # entry id, or "oos:<topic>"
    text: str
    weights: dict[str, float]
    total: float


class Matcher:
    """An inverted index over every question and alternate, scored by weighted overlap and rapidfuzz."""

    BIGRAM_WEIGHT = 0.5
    MAX_POSTINGS = 4000  # features more common than this only count in the final scoring
    CANDIDATES = 40  # variants scored exactly after the first pass
    FUZZ_SHARE = 0.25  # how much of the score comes from rapidfuzz's character similarity
    BETA = 1.5  # F-beta over weighted overlap: >1 values covering the variant over covering the query
    ENTRY_SHARE = 0.5  # how much of the score comes from the entry as a whole (all its questions)
    UNKNOWN_SHARE = 0.2  # how much a word unknown to the knowledge base dilutes a question
    ANCHOR_IDF = 2.0  # the shared words (not question words) must add up to this much idf …
    UNANCHORED_FACTOR = 0.3  # … or the entry's score is cut by this factor
    INTENT_WEIGHT = 2.0  # weight of a question-word class (#how, #what …), see lexicon.INTENTS
    BACKGROUND_MATCH = 0.5  # a query word found only in an entry's answer counts as this many questions
    SATURATION = 1.2  # BM25's k1: how fast repeated use across an entry's questions saturates

    def __init__(
        self,
        lexicon: Lexicon,
        documents: Iterable[tuple[str, Sequence[str], str]],
        thresholds: Thresholds | None = None,
    ) -> None:
        """Index (key, questions, background text) triples; background is e.g. the answer."""
        self.lexicon = lexicon
        self.thresholds = thresholds or Thresholds()
        raw: list[tuple[str, str, list[str]]] = []
        doc_freq: dict[str, int] = defaultdict(int)
        asked: dict[str, dict[str, int]] = {}
        background: dict[str, set[str]] = {}
        for key, texts, extra in documents:
            counts: dict[str, int] = defaultdict(int)
            for text in texts:
                prepared = lexicon.prepare(text)
                feats = lexicon.features(prepared)
                raw.append((key, self._compact(prepared), feats))
                for feat in set(feats):
                    counts[feat] += 1
            asked[key] = counts
            background[key] = set(lexicon.features(lexicon.prepare(extra))) - set(counts) if extra else set()
            for feat in set(counts) | background[key]:
                doc_freq[feat] += 1
        n = max(len(asked), 1)
        self._idf = {f: math.log(1 + n / df) for f, df in doc_freq.items()}
        self._unknown_idf = math.log(1 + n / 0.5)
        # How central a feature is to an entry, in [0, 1): the more of its questions use it,
        # the more it counts (saturating like BM25's term frequency); a feature found only in
        # the answer counts as half a question.
        k = self.SATURATION
        self._entry_feats: dict[str, dict[str, float]] = {}
        for key, counts in asked.items():
            b = self.BACKGROUND_MATCH
            central = dict.fromkeys(background[key], b / (b + k))
            central.update({f: c / (c + k) for f, c in counts.items()})
            self._entry_feats[key] = central
        self._docs: list[_Doc] = []
        self._postings: dict[str, list[int]] = defaultdict(list)
        for key, text, feats in raw:
            weights = {f: self._weight(f) for f in set(feats)}
            idx = len(self._docs)
            self._docs.append(_Doc(key, text, weights, sum(weights.values())))
            for feat in weights:
                self._postings[feat].append(idx)

    def _compact(self, prepared: str) -> str:
        return "".join(self.lexicon.tokens(prepared))

    def _weight(self, feat: str) -> float:
        if feat[0] in "#@":
            return self.INTENT_WEIGHT
        idf = self._idf.get(feat, self._unknown_idf)
        return idf * self.BIGRAM_WEIGHT if feat.startswith("~") else idf

    def rank(self, question: str, limit: int = 8) -> list[tuple[str, float]]:
        """Entry keys with their best variant score, best first."""
        prepared = self.lexicon.prepare(question)
        feats = set(self.lexicon.features(prepared))
        if not feats:
            return []
        qweights = {f: self._weight(f) for f in feats}
        # Words no entry knows lower every entry's score alike; they count only in part, so a
        # chatty question is not refused for its chat, while an unknown topic word still weighs.
        qtotal = sum(w if f in self._idf or f[0] in "#@" else w * self.UNKNOWN_SHARE
                     for f, w in qweights.items())
        partial: dict[int, float] = defaultdict(float)
        for feat, weight in qweights.items():
            posting = self._postings.get(feat)
            if posting and len(posting) <= self.MAX_POSTINGS:
                for idx in posting:
                    partial[idx] += weight
        if not partial:
            return []
        top = sorted(partial, key=partial.__getitem__, reverse=True)[: self.CANDIDATES]
        qtext = self._compact(prepared)
        best: dict[str, float] = {}
        for idx in top:
            doc = self._docs[idx]
            shared = sum(w for f, w in qweights.items() if f in doc.weights)
            precision, recall = shared / qtotal, shared / doc.total
            b2 = self.BETA * self.BETA
            overlap = (1 + b2) * precision * recall / (b2 * precision + recall) if shared else 0.0
            chars = fuzz.ratio(qtext, doc.text) / 100 if qtext and doc.text else 0.0
            score = (1 - self.FUZZ_SHARE) * overlap + self.FUZZ_SHARE * chars
            if score > best.get(doc.key, -1.0):
                best[doc.key] = score
        for key, variant_score in best.items():
            feats = self._entry_feats[key]
            covered = sum(w * feats.get(f, 0.0) for f, w in qweights.items()) / qtotal
            score = (1 - self.ENTRY_SHARE) * variant_score + self.ENTRY_SHARE * covered
            # An entry must share at least one telling word with the question: agreeing only
            # on 怎么/哪/办 is no evidence at all (护照去哪办 is not about binding a relative).
            anchor = sum(self._idf.get(f, 0.0) for f in qweights if f in feats and f[0] not in "#~@")
            best[key] = score if anchor >= self.ANCHOR_IDF else score * self.UNANCHORED_FACTOR
        ranked = sorted(best.items(), key=lambda kv: kv[1], reverse=True)
        return ranked[:limit]

    def match(self, question: str) -> Match:
        """Decide between answer, suggestions and no answer for one question."""
        ranking = self.rank(question)
        t = self.thresholds
        if not ranking:
            return Match("none", None, 0.0)
        best_key, best = ranking[0]
        entries = [(k, s) for k, s in ranking if not k.startswith(OOS_PREFIX)]
        if best_key.startswith(OOS_PREFIX):
            # The question is closest to a topic we know we do not cover: say so honestly.
            topic = best_key[len(OOS_PREFIX):]
            return Match("none", None, round(best, 4), oos=topic, ranking=tuple(ranking))
        suggestions = tuple(k for k, s in entries if s >= t.suggest)[: t.max_suggestions]
        runner_up = entries[1][1] if len(entries) > 1 else 0.0
        if best >= t.answer and (best >= t.sure or best - runner_up >= t.margin):
            return Match("answer", best_key, round(best, 4), suggestions[1:], ranking=tuple(ranking))
        if best >= t.suggest:
            return Match("suggest", None, round(best, 4), suggestions, ranking=tuple(ranking))
        return Match("none", None, round(best, 4), ranking=tuple(ranking))
