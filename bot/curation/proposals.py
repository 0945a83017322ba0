"""Proposals from what people asked: alternates, new entries and entries to review, with stable ids.

Three sources in the analytics store (bot/analytics.py):
1. a "did you mean" choice: the question becomes a proposed alternate of the chosen entry;
2. unanswered questions (and 都不是), clustered: an alternate of the nearest entry when it is
   close, otherwise a new entry (with the cluster's wordings and counts);
3. entries with many 👎, with the questions that got them: a review.
Questions that held sensitive numbers, that are already a question of the knowledge base, or that
the engine now answers as proposed are left out; so are proposals a curator rejected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shlex
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from ..analytics import (
    BUSY_TIMEOUT_S,
    DB_FILE,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    NONE_OF_THESE,
    SUGGESTION_CHOSEN,
    TIMESTAMP_FORMAT,
    UNANSWERED,
    Event,
    format_ts,
    read_events,
)
from ..engine import Engine
from ..engine.normalize import compact
from ..engine.sensitive import KIND_NAMES, PLACEHOLDER, find

DEFAULT_DAYS = 30  # `kb suggest` looks at the last 30 days unless told otherwise
ID_CHARS = 10  # hex characters of a proposal id (40 bits: no clash among a few thousand)
# Clustering of unanswered questions: TF-IDF over character 1–2-grams of the normalised text
# (synonyms rewritten), fitted together with every question of the knowledge base, and
# average-linkage agglomerative clustering on cosine distance. At 0.55, "社保卡丢了怎么办" and
# "我的社保卡丢了怎么办啊" (0.21) or "医保卡丢了咋办" join; "社保卡怎么激活" and
# "社保卡怎么挂失" (0.66) stay apart.
NGRAMS = (1, 2)
CLUSTER_DISTANCE = 0.55
MAX_CLUSTER_FORMS = 3000  # the most frequent distinct questions clustered (pairwise cost)
# A cluster is an alternate of its nearest entry when the matcher's average score for that
# entry over the cluster's questions reaches this; below it, a new entry is proposed.
NEAR_SCORE = 0.40
MIN_NEW_ENTRY_COUNT = 2  # a question asked once is no case for a new entry
MIN_DOWNVOTES = 2  # users who gave 👎 to an entry (and more than gave 👍) before it is reviewed
EXAMPLES = 3  # other wordings kept with a proposal
UNANSWERED_KINDS = (UNANSWERED, NONE_OF_THESE)
ANSWER_KINDS = ("answer", "case")
REJECTIONS_TABLE = "curation_rejections"
REJECTIONS_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {REJECTIONS_TABLE} (
    id TEXT PRIMARY KEY,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,
    entry_id TEXT,
    question TEXT
);
"""
_PLACEHOLDERS = tuple(PLACEHOLDER.format(name=name) for name in KIND_NAMES.values())


class Kind(StrEnum):
    """What a proposal asks the curator to do."""

    ALTERNATE = "alternate"  # add the question to the entry's alternates (kb accept does it)
    NEW_ENTRY = "new-entry"  # write a new entry for these questions (by hand: it needs an answer)
    REVIEW = "review"  # re-read an entry that users voted down


KIND_ORDER = {Kind.ALTERNATE: 0, Kind.NEW_ENTRY: 1, Kind.REVIEW: 2}


def proposal_id(kind: Kind, entry: str | None, question: str) -> str:
    """A short hash of kind, entry and normalised question: the same proposal has the same id
    in every run. A review is about an entry, whatever questions got the 👎."""
    key = "" if kind is Kind.REVIEW else compact(question) or question.strip()
    digest = hashlib.sha256("\x1f".join((kind.value, entry or "", key)).encode("utf-8"))
    return digest.hexdigest()[:ID_CHARS]


@dataclass(frozen=True)
class Proposal:
    """One proposal: for an alternate, `question` is the wording to add to `entry`."""

    kind: Kind
    entry: str | None
    question: str
    count: int  # times asked (alternate, new entry) or users who voted 👎 (review)
    examples: tuple[str, ...] = ()  # other wordings, or other questions that got 👎
    source: str = ""  # "did-you-mean", "unanswered" or "votes"
    score: float | None = field(default=None, compare=False)  # nearness of a cluster

    @property
    def id(self) -> str:
        """The stable id that `kb accept` and `kb reject` take."""
        return proposal_id(self.kind, self.entry, self.question)

    def command(self, data_dir: Path | str | None = None, knowledge: Path | str | None = None) -> str:
        """What the curator types to act on it (accept an alternate, reject anything else),
        naming the data and knowledge folders when given."""
        verb = "accept" if self.kind is Kind.ALTERNATE else "reject"
        options = "".join(f" {flag} {shlex.quote(str(value))}" for flag, value in
                          (("--data-dir", data_dir), ("--knowledge", knowledge)) if value)
        return f"python -m bot kb {verb} {self.id}{options}"

    def to_json(self) -> dict[str, object]:
        """The object `kb suggest --json` prints."""
        return {"id": self.id, "kind": self.kind.value, "entry": self.entry,
                "question": self.question, "count": self.count, "examples": list(self.examples),
                "source": self.source}


def is_sensitive(question: str) -> bool:
    """Whether the question held an ID, card or phone number or a password (stored redacted)."""
    return any(p in question for p in _PLACEHOLDERS) or bool(find(question))


def normal_form(engine: Engine, question: str) -> str:
    """The text clustered: folded, typos repaired, synonyms rewritten, without spaces."""
    lexicon = engine.lexicon
    return compact(lexicon.rewrite_synonyms(lexicon.prepare(question)))


def known_questions(engine: Engine) -> set[str]:
    """Compact forms of every question, alternate and out-of-scope example of the base."""
    kb = engine.kb
    texts = [v for e in kb.entries.values() for v in e.variants]
    texts += [x for topic in kb.out_of_scope for x in topic.examples]
    return {compact(t) for t in texts}


def cluster(texts: Sequence[str], corpus: Iterable[str] = (),
            distance: float = CLUSTER_DISTANCE) -> list[list[int]]:
    """Groups of indexes into `texts` that read alike, each group in index order, groups in
    order of their first member. `corpus` (the knowledge base's questions) steadies the idf."""
    if not texts:
        return []
    if len(texts) == 1:
        return [[0]]
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_distances

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, sublinear_tf=True)
    vectorizer.fit([*corpus, *texts])
    distances = cosine_distances(vectorizer.transform(texts))
    model = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                    distance_threshold=distance)
    labels = model.fit_predict(distances)
    groups: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        groups[int(label)].append(index)
    return sorted(groups.values(), key=lambda g: g[0])


class _Asker:
    """The engine's reply and ranking for each distinct question, asked once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._seen: dict[str, tuple[str | None, tuple[tuple[str, float], ...], tuple[str, ...]]] = {}

    def ask(self, question: str) -> tuple[str | None, tuple[tuple[str, float], ...], tuple[str, ...]]:
        """(entry answered directly or None, ranking, suggestions) for one question."""
        if question not in self._seen:
            reply, match = self.engine.answer_and_match(question)
            answered = reply.entry_id if reply.kind in ANSWER_KINDS else None
            ranking = match.ranking if match is not None else ()
            self._seen[question] = (answered, ranking, tuple(reply.suggestions))
        return self._seen[question]


def _usable(question: str | None, known: set[str]) -> str | None:
    """The question, or None when it is empty, sensitive or already in the knowledge base."""
    if not question or not question.strip() or is_sensitive(question):
        return None
    form = compact(question)
    if not form or form in known:
        return None
    return question.strip()


def _choices(events: Sequence[Event], engine: Engine, asker: _Asker, known: set[str]) -> list[Proposal]:
    wordings: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for e in events:
        chosen = e.chosen_entry_id or e.entry_id
        question = _usable(e.question, known)
        if e.kind != SUGGESTION_CHOSEN or not chosen or question is None:
            continue
        if chosen in engine.kb.entries:
            wordings[(compact(question), chosen)][question] += 1
    proposals = []
    for (_, entry), counter in wordings.items():
        question = counter.most_common(1)[0][0]
        if asker.ask(question)[0] == entry:
            continue  # the knowledge base has learnt it since
        proposals.append(Proposal(Kind.ALTERNATE, entry, question, sum(counter.values()),
                                  source="did-you-mean"))
    return proposals


def _nearest(members: Sequence[tuple[str, int, bool]], asker: _Asker) -> tuple[str | None, float]:
    """The key (an entry id, or oos:…, chat:…, unrelated) with the best average score over a
    cluster's questions.

    Entries the bot suggested for a question whose asker pressed 都不是 are not candidates.
    """
    totals: dict[str, float] = defaultdict(float)
    refused: set[str] = set()
    weight = 0
    for question, count, none_of_these in members:
        _, ranking, suggestions = asker.ask(question)
        weight += count
        for key, score in ranking:
            totals[key] += score * count
        if none_of_these:
            refused.update(suggestions)
    ranked = [(score / weight, key) for key, score in totals.items() if key not in refused]
    if not ranked:
        return None, 0.0
    score, key = max(ranked)
    return key, score


def _unanswered(events: Sequence[Event], engine: Engine, asker: _Asker, known: set[str],
                taken: set[str]) -> list[Proposal]:
    forms: dict[str, Counter[str]] = defaultdict(Counter)  # compact form → wordings
    none_of_these: set[str] = set()
    for e in events:
        question = _usable(e.question, known)
        if e.kind not in UNANSWERED_KINDS or question is None:
            continue
        form = compact(question)
        if form in taken:
            continue  # already proposed from a "did you mean" choice
        forms[form][question] += 1
        if e.kind == NONE_OF_THESE:
            none_of_these.add(form)
    ordered = sorted(forms, key=lambda f: (-sum(forms[f].values()), f))[:MAX_CLUSTER_FORMS]
    # A question the engine now answers (the base changed since) needs nothing.
    ordered = [f for f in ordered if asker.ask(forms[f].most_common(1)[0][0])[0] is None]
    wordings = [forms[f].most_common(1)[0][0] for f in ordered]
    corpus = {normal_form(engine, v) for e in engine.kb.entries.values() for v in e.variants}
    groups = cluster([normal_form(engine, w) for w in wordings], sorted(corpus))
    proposals = []
    for group in groups:
        counter: Counter[str] = Counter()
        for i in group:
            counter.update(forms[ordered[i]])
        ranked = sorted(counter, key=lambda w: (-counter[w], len(w), w))
        head, examples, count = ranked[0], tuple(ranked[1:1 + EXAMPLES]), sum(counter.values())
        members = [(wordings[i], sum(forms[ordered[i]].values()), ordered[i] in none_of_these)
                   for i in group]
        key, score = _nearest(members, asker)
        if key is not None and key not in engine.kb.entries:
            continue  # out of scope (oos:…), small talk or unrelated: refused on purpose
        if key in engine.kb.entries and score >= NEAR_SCORE:
            proposals.append(Proposal(Kind.ALTERNATE, key, head, count, examples, "unanswered",
                                      round(score, 4)))
        elif count >= MIN_NEW_ENTRY_COUNT:
            proposals.append(Proposal(Kind.NEW_ENTRY, None, head, count, examples, "unanswered",
                                      round(score, 4)))
    return proposals


def _reviews(events: Sequence[Event], engine: Engine,
             rejected: Mapping[str, dt.datetime]) -> list[Proposal]:
    """Entries with at least MIN_DOWNVOTES users' 👎, more than their 👍; votes before the
    curator last rejected the review do not count again."""
    voters: dict[tuple[str, str], set[str]] = defaultdict(set)
    questions: dict[str, Counter[str]] = defaultdict(Counter)
    for n, e in enumerate(events):
        if e.kind not in (FEEDBACK_DOWN, FEEDBACK_UP) or e.entry_id not in engine.kb.entries:
            continue
        since = rejected.get(proposal_id(Kind.REVIEW, e.entry_id, ""))
        if since is not None and e.ts <= since:
            continue
        voters[(e.entry_id, e.kind)].add(e.user_hash or f"anonymous-{n}")
        if e.kind == FEEDBACK_DOWN and e.question and not is_sensitive(e.question):
            questions[e.entry_id][e.question.strip()] += 1
    proposals = []
    for entry in sorted({entry for entry, kind in voters if kind == FEEDBACK_DOWN}):
        down, up = len(voters[(entry, FEEDBACK_DOWN)]), len(voters.get((entry, FEEDBACK_UP), ()))
        if down >= MIN_DOWNVOTES and down > up:
            asked = [q for q, _ in questions[entry].most_common()]
            proposals.append(Proposal(Kind.REVIEW, entry, asked[0] if asked else "", down,
                                      tuple(asked[1:1 + EXAMPLES]), "votes"))
    return proposals


def propose(events: Sequence[Event], engine: Engine,
            rejected: Mapping[str, dt.datetime] | None = None) -> list[Proposal]:
    """Every proposal the events support that was not rejected: alternates first, most asked first."""
    rejected = rejected or {}
    known = known_questions(engine)
    asker = _Asker(engine)
    choices = _choices(events, engine, asker, known)
    taken = {compact(p.question) for p in choices}
    found = [*choices, *_unanswered(events, engine, asker, known, taken),
             *_reviews(events, engine, rejected)]
    kept = [p for p in found if p.kind is Kind.REVIEW or p.id not in rejected]
    return sorted(kept, key=lambda p: (KIND_ORDER[p.kind], -p.count, p.entry or "", p.question))


def load_proposals(data_dir: Path | str, engine: Engine, since: dt.datetime | None = None,
                   until: dt.datetime | None = None) -> list[Proposal]:
    """The proposals from the store in `data_dir` for events since–until."""
    return propose(read_events(data_dir, since, until), engine, read_rejections(data_dir))


# ----- rejections -----

def _connect(data_dir: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(Path(data_dir) / DB_FILE, timeout=BUSY_TIMEOUT_S)
    conn.executescript(REJECTIONS_SCHEMA)
    return conn


def read_rejections(data_dir: Path | str) -> dict[str, dt.datetime]:
    """Rejected proposal ids with when they were (last) rejected; {} without a store."""
    if not (Path(data_dir) / DB_FILE).is_file():
        return {}
    conn = _connect(data_dir)
    try:
        rows = conn.execute(f"SELECT id, ts FROM {REJECTIONS_TABLE}").fetchall()
    finally:
        conn.close()
    return {pid: dt.datetime.strptime(ts, TIMESTAMP_FORMAT).replace(tzinfo=dt.UTC) for pid, ts in rows}


def reject(data_dir: Path | str, proposals: Iterable[Proposal], at: dt.datetime | None = None) -> None:
    """Remember that a curator rejected these proposals (in the analytics database)."""
    moment = format_ts(at or dt.datetime.now(dt.UTC))
    rows = [(p.id, moment, p.kind.value, p.entry, p.question) for p in proposals]
    conn = _connect(data_dir)
    try:
        with conn:
            conn.executemany(f"INSERT OR REPLACE INTO {REJECTIONS_TABLE} (id, ts, kind, entry_id, question)"
                             " VALUES (?, ?, ?, ?, ?)", rows)
    finally:
        conn.close()
