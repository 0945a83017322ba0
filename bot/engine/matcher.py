"""Find the knowledge entry a question asks about: an answer, a few suggestions, or none."""

from __future__ import annotations

import heapq
import math
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from rapidfuzz import fuzz

from .features import MISSING, FeatureIds
from .learned import Learned, learned_features
from .lexicon import INTENT_OF, Lexicon
from .policy import CHAT_PREFIX, OOS_PREFIX, Outcome, Policy


@dataclass(frozen=True)
class Match:
    """What the matcher concluded about one question."""

    outcome: Outcome
    entry_id: str | None
    score: float
    suggestions: tuple[str, ...] = ()
    oos: str | None = None  # a known uncovered topic the question is about
    ranking: tuple[tuple[str, float], ...] = field(default=(), repr=False)
    rule: str = ""  # the rule of the confidence policy that decided (see policy.py)
    evidence: bool = True  # the question showed it is about our domain
    # Per class key in the ranking: (lexical score, learned probability), for `bot explain`.
    parts: Mapping[str, tuple[float, float]] = field(default_factory=dict, repr=False)

    @property
    def chat(self) -> str | None:
        """The small-talk intent the question is closest to, when that decided."""
        if self.rule == "not-ours" and self.ranking and self.ranking[0][0].startswith(CHAT_PREFIX):
            return self.ranking[0][0][len(CHAT_PREFIX):]
        return None


class Ranked(NamedTuple):
    """The matcher's view of one question before the policy decides."""

    ranking: list[tuple[str, float]]  # blended scores, best first
    words: int  # content words (not question words)
    parts: dict[str, tuple[float, float]]  # key → (lexical score, learned probability)
    exact: str | None  # the one key whose listed question this is, word for word


class Matcher:
    """An inverted index over every question and alternate, scored by weighted overlap and rapidfuzz."""

    BIGRAM_WEIGHT = 0.5
    MAX_POSTINGS = 1000  # features in more questions than this (or than COMMON_SHARE of them)
    COMMON_SHARE = 0.4  # are not walked: they only count in the exact scoring of candidates
    MIN_WALK = 50  # … but a feature in this few questions is always walked
    CANDIDATES = 30  # variants scored exactly after the first pass
    FUZZ_SHARE = 0.2  # how much of the score comes from rapidfuzz's character similarity
    BETA = 1.5  # F-beta over weighted overlap: >1 values covering the variant over covering the query
    ENTRY_SHARE = 0.4  # how much of the score comes from the entry as a whole (all its questions)
    UNKNOWN_SHARE = 0.2  # how much a word unknown to the knowledge base dilutes a question
    ANCHOR_IDF = 1.0  # the shared words (not question words) must add up to this much idf …
    UNANCHORED_FACTOR = 0.3  # … or the entry's score is cut by this factor
    HARD_INTENTS = frozenset({"#amount", "#when", "#why"})
    INTENT_MISMATCH_FACTOR = 0.6
    INTENT_WEIGHT = 2.0  # weight of a question-word class (#how, #what …), see lexicon.INTENTS
    BACKGROUND_MATCH = 0.5  # a query word found only in an entry's answer counts as this many questions
    DEMOTED_FACTOR = 0.7  # a key of a topic the question does not name keeps this share
    BM25_SHARE = 0.3  # how far an entry BM25 ranks below the best one can pull its score down
    BM25_B = 0.75  # BM25's length normalisation
    SATURATION = 1.2  # BM25's k1: how fast repeated use across an entry's questions saturates

    def __init__(
        self,
        lexicon: Lexicon,
        documents: Iterable[tuple[str, Sequence[str], str]],
        policy: Policy | None = None,
        others: Iterable[tuple[str, Sequence[str]]] = (),
    ) -> None:
        """Index (key, questions, background text) triples; background is e.g. the answer.

        `others` (key, examples) pairs only teach the learned classifier (small talk, unrelated
        questions): they are classes to recognise, never answers to give."""
        self.lexicon = lexicon
        self.policy = policy or Policy()
        raw: list[tuple[str, str, list[str]]] = []
        examples: list[tuple[str, list[str]]] = []
        doc_freq: dict[str, int] = defaultdict(int)
        asked: dict[str, dict[str, int]] = {}
        background: dict[str, set[str]] = {}
        for key, texts, extra in documents:
            counts: dict[str, int] = defaultdict(int)
            for text in texts:
                toks, feats = lexicon.analyse(lexicon.prepare(text))
                raw.append((key, "".join(toks), feats))
                examples.append((key, learned_features(toks, feats)))
                for feat in set(feats):
                    counts[feat] += 1
            asked[key] = counts
            background[key] = set(lexicon.features(lexicon.prepare(extra))) - set(counts) if extra else set()
            for feat in set(counts) | background[key]:
                doc_freq[feat] += 1
        n = max(len(asked), 1)
        # Every index below is flat arrays over feature ids (features.py) and entry numbers: a
        # 10,000-entry base is ~90,000 questions and ~160,000 features, and dicts or objects per
        # question or feature would cost hundreds of megabytes in every process that loads it.
        self._features = FeatureIds(doc_freq)
        names = list(doc_freq)
        fid = dict(zip(names, self._features.lookup(names), strict=True))  # only while building
        self._idf = array("d", bytes(8 * len(self._features)))
        for feat, df in doc_freq.items():
            self._idf[fid[feat]] = math.log(1 + n / df)
        self._unknown_idf = math.log(1 + n / 0.5)
        self._keys: list[str] = list(asked)
        key_no = {key: i for i, key in enumerate(self._keys)}
        # Per entry, how many of its questions use each feature (0: only its answer does), as
        # (feature id, count) runs sorted by id. How central a feature is, in [0, 1): the more
        # questions use it, the more it counts (saturating like BM25's term frequency); one found
        # only in the answer counts as BACKGROUND_MATCH questions. BM25 over the entry's questions
        # taken together is a second opinion on the ranking that rewards words an entry uses again
        # and again, and forgives long chatty questions.
        self._entry_start = array("i", [0])
        self._entry_feature = array("i")
        self._entry_count = array("H")
        for key in self._keys:
            merged = dict.fromkeys(background[key], 0)
            merged.update(asked[key])
            for feature_id, count in sorted((fid[f], c) for f, c in merged.items()):
                self._entry_feature.append(feature_id)
                self._entry_count.append(min(count, 0xFFFF))
            self._entry_start.append(len(self._entry_feature))
        self._entry_len = array("d", (sum(asked[key].values()) for key in self._keys))
        k = self.SATURATION
        self._background_central = self.BACKGROUND_MATCH / (self.BACKGROUND_MATCH + k)
        self._avg_len = sum(self._entry_len) / n
        # Per listed question: its entry, its compact text (for rapidfuzz), its distinct feature
        # ids and their total weight; and per feature, the questions that use it.
        self._doc_key = array("i")
        self._doc_text: list[str] = []
        self._doc_start = array("i", [0])
        self._doc_feature = array("i")
        self._doc_total = array("d")
        postings: dict[int, list[int]] = defaultdict(list)
        for key, text, feats in raw:
            unique = tuple(dict.fromkeys(feats))
            idx = len(self._doc_text)
            self._doc_key.append(key_no[key])
            self._doc_text.append(text)
            self._doc_total.append(sum(self._weight(f, fid[f]) for f in unique))
            for feat in unique:
                self._doc_feature.append(fid[feat])
                postings[fid[feat]].append(idx)
            self._doc_start.append(len(self._doc_feature))
        self._posting_start = array("i", [0])
        self._posting_doc = array("i")
        for feature_id in range(len(self._features)):
            self._posting_doc.extend(postings.get(feature_id, ()))
            self._posting_start.append(len(self._posting_doc))
        del postings, fid
        self._scratch = [0.0] * len(self._doc_text)
        self._walk_limit = max(self.MIN_WALK, min(self.MAX_POSTINGS, int(len(raw) * self.COMMON_SHARE)))
        # A question that is, word for word, one listed for a single key gets that key: what a
        # curator wrote down is answered as written (kb accept relies on it).
        owners: dict[str, set[str]] = defaultdict(set)
        for key, text, _ in raw:
            if text:
                owners[text].add(key)
        self._exact = {text: next(iter(keys)) for text, keys in owners.items() if len(keys) == 1}
        for key, texts in others:
            for text in texts:
                toks, feats = lexicon.analyse(lexicon.prepare(text))
                examples.append((key, learned_features(toks, feats)))
        self.learned = Learned(examples)

    def _weight(self, feat: str, feature_id: int) -> float:
        if feat[0] in "#@":
            return self.INTENT_WEIGHT
        idf = self._idf[feature_id] if feature_id != MISSING else self._unknown_idf
        return idf * self.BIGRAM_WEIGHT if feat[0] == "~" else idf

    def _lexical(self, toks: list[str], feat_list: list[str],
                 trace: dict[str, dict[str, object]] | None = None) -> tuple[dict[str, float], int]:
        """The lexical score of every candidate key, and how many content words the question has.

        With `trace`, each candidate's parts are written there (for `bot explain`)."""
        feats = set(feat_list)
        ids = dict(zip(feats, self._features.lookup(list(feats)), strict=True))
        content = [f for f in feats if f[0] not in "#~@" and f not in INTENT_OF]
        # Unknown words make a question long: "护照" is not a short question about us; a
        # question word makes it a question, not a bare keyword ("共济是什么" vs "共济").
        words = sum(1 if ids[f] != MISSING else self.policy.short_words + 1 for f in content)
        words += any(f[0] == "#" for f in feats)
        if not feats:
            return {}, words
        qweights = {f: self._weight(f, ids[f]) for f in feats}
        # Words no entry knows lower every entry's score alike; they count only in part, so a
        # chatty question is not refused for its chat, while an unknown topic word still weighs.
        qtotal = sum(w if ids[f] != MISSING or f[0] in "#@" else w * self.UNKNOWN_SHARE
                     for f, w in qweights.items())
        # Accumulate overlap per question in a reused array (faster than a dict on the hot path;
        # the engine is synchronous, so one array serves every call).
        partial = self._scratch
        touched: list[int] = []
        skipped: list[tuple[int, float]] = []  # too common to walk; counted per candidate below
        starts, docs = self._posting_start, self._posting_doc
        for feat, weight in qweights.items():
            feature_id = ids[feat]
            if feature_id == MISSING:
                continue
            lo, hi = starts[feature_id], starts[feature_id + 1]
            if lo == hi:
                continue
            if hi - lo > self._walk_limit:
                skipped.append((feature_id, weight))
                continue
            for idx in docs[lo:hi]:
                if not partial[idx]:
                    touched.append(idx)
                partial[idx] += weight
        if not touched:
            return {}, words
        top = heapq.nlargest(self.CANDIDATES, touched, key=partial.__getitem__)
        shared_of = {idx: partial[idx] for idx in top}
        for idx in touched:
            partial[idx] = 0.0
        qtext = "".join(toks)
        b2 = self.BETA * self.BETA
        best: dict[int, float] = {}  # entry number → score
        for idx in top:
            key_no, text = self._doc_key[idx], self._doc_text[idx]
            shared = shared_of[idx]
            if skipped:
                own = self._doc_feature[self._doc_start[idx]:self._doc_start[idx + 1]]
                shared += sum(w for feature_id, w in skipped if feature_id in own)
            precision, recall = shared / qtotal, shared / self._doc_total[idx]
            overlap = (1 + b2) * precision * recall / (b2 * precision + recall) if shared else 0.0
            chars = fuzz.ratio(qtext, text) / 100 if qtext and text else 0.0
            score = (1 - self.FUZZ_SHARE) * overlap + self.FUZZ_SHARE * chars
            if score > best.get(key_no, -1.0):
                best[key_no] = score
                if trace is not None:
                    trace[self._keys[key_no]] = {"closest": text, "overlap": overlap, "characters": chars}
        # Per query feature, once: is it a telling word (counts as an anchor), a hard intent?
        qitems = [(ids[f], w, f[0] not in "#~@" and f not in INTENT_OF, f in self.HARD_INTENTS)
                  for f, w in qweights.items()]
        k, b = self.SATURATION, self.BM25_B
        entry_feature, entry_count = self._entry_feature, self._entry_count
        details: dict[int, tuple[float, float, float, bool]] = {}
        for key_no in best:
            lo, hi = self._entry_start[key_no], self._entry_start[key_no + 1]
            norm = k * (1 - b + b * self._entry_len[key_no] / self._avg_len)
            covered = anchor = bm25 = 0.0
            mismatch = False
            for feature_id, w, telling, hard in qitems:
                at = bisect_left(entry_feature, feature_id, lo, hi) if feature_id != MISSING else hi
                if at == hi or entry_feature[at] != feature_id:
                    mismatch = mismatch or hard
                    continue
                n = entry_count[at]
                covered += w * (n / (n + k) if n else self._background_central)
                if telling:
                    anchor += self._idf[feature_id]
                if n:
                    bm25 += w * n * (k + 1) / (n + norm)
            details[key_no] = (covered / qtotal, anchor, bm25, mismatch)
        top_bm25 = max((d[2] for d in details.values()), default=0.0) or 1.0
        scores: dict[str, float] = {}
        for key_no, variant_score in best.items():
            covered, anchor, bm25, mismatch = details[key_no]
            score = (1 - self.ENTRY_SHARE) * variant_score + self.ENTRY_SHARE * covered
            # An entry must share at least one telling word with the question: agreeing only
            # on 怎么/哪/办 is no evidence at all (护照去哪办 is not about binding a relative).
            if anchor < self.ANCHOR_IDF:
                score *= self.UNANCHORED_FACTOR
            # "How much / how long / when / why" needs an entry that answers such a thing: an
            # entry none of whose questions asks it is a weak match (工伤保险能赔多少钱).
            if mismatch:
                score *= self.INTENT_MISMATCH_FACTOR
            key = self._keys[key_no]
            scores[key] = score * (1 - self.BM25_SHARE + self.BM25_SHARE * bm25 / top_bm25)
            if trace is not None:
                trace[key].update(variant=variant_score, coverage=covered, anchored=anchor >= self.ANCHOR_IDF,
                                  intent_mismatch=mismatch, bm25=bm25 / top_bm25, lexical=scores[key])
        return scores, words

    def rank(
        self, prepared: str, limit: int = 8, trace: dict[str, dict[str, object]] | None = None,
        demoted: frozenset[str] = frozenset(),
    ) -> Ranked:
        """The blended ranking of prepared text and what the policy weighs beside it; `trace`
        collects the lexical details."""
        toks, feat_list = self.lexicon.analyse(prepared)
        lexical, words = self._lexical(toks, feat_list, trace)
        learned = self.learned.probabilities(
            learned_features(toks, feat_list), self.policy.temperature, limit
        ) if toks else {}
        # The classifier re-weighs the lexical candidates: one it agrees with keeps its score, one
        # it finds unlikely loses up to `learned_share` of it. Classes only it knows (small talk,
        # unrelated questions) enter with their probability times that share.
        # Then `learned_boost` of the final score is the classifier's probability itself, so a
        # class it is sure of gains even where the words of the question are not the entry's.
        # (Only a linear model's probabilities are worth a share of their own: on a base large
        # enough for nearest centroids, the generated look-alikes' centroids crowd them.)
        share = self.policy.learned_share
        boost = self.policy.learned_boost if self.learned.linear else 0.0
        top = max(learned.values(), default=0.0) or 1.0
        blended = {k: (1 - boost) * s * (1 - share + share * learned.get(k, 0.0) / top)
                   + boost * learned.get(k, 0.0) for k, s in lexical.items()}
        for key, p in learned.items():
            blended.setdefault(key, ((1 - boost) * share + boost) * p)
        for key in demoted & blended.keys():
            # A topic the question does not name (灵活就业 for the flexible-work entries).
            blended[key] *= self.DEMOTED_FACTOR
        ranked = sorted(blended.items(), key=lambda kv: kv[1], reverse=True)[:limit]
        parts = {k: (lexical.get(k, 0.0), learned.get(k, 0.0)) for k, _ in ranked}
        return Ranked(ranked, words, parts, self._exact.get("".join(toks)))

    def match(self, question: str, prepared: str | None = None, evidence: bool = True,
              demoted: frozenset[str] = frozenset()) -> Match:
        """Decide between answer, suggestions and no answer for one question (policy.py).

        `prepared` is lexicon.prepare(question), when the caller has it already; `evidence` says
        whether the question shows it is about our domain at all; `demoted` keys belong to a
        topic the question does not name."""
        if prepared is None:
            prepared = self.lexicon.prepare(question)
        ranking, words, parts, exact = self.rank(prepared, demoted=demoted)
        decision = self.policy.decide(ranking, words, evidence, parts, exact)
        best = round(ranking[0][1], 4) if ranking else 0.0
        oos = None
        if decision.rule == "uncovered":
            # The topic that decided: the best-ranked uncovered topic.
            oos = next(k for k, _ in ranking if k.startswith(OOS_PREFIX))[len(OOS_PREFIX):]
        return Match(decision.outcome, decision.entry, best, decision.suggestions, oos,
                     tuple(ranking), decision.rule, decision.evidence, parts)
