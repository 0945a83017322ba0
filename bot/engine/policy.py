"""The one confidence policy: when the bot answers, offers "did you mean", or says it does not know.

Private chats, group auto-answers and inline results all decide with this module. The cut-offs were
chosen on the held-out sets tests/data/holdout.yaml … holdout6.yaml (never on the dev set, against
which the alternates were written; `python -m benchmarks.calibrate`) and are checked on holdout7.yaml,
written blind and seen by no cut-off, no alternate and no training question.

The contract, in order (the first rule that applies decides; `Decision.rule` names it):
1. `empty`: nothing in the question matches anything → no answer.
   `exact`: the question is, word for word, a question or alternate of one entry → that entry.
2. `not-ours`: the best class is unrelated chatter or small talk → no answer from the knowledge base.
   A question with domain words (evidence, rule 4) is that only when the classifier gives the class
   `unrelated_sure`; else such classes are set aside and the entries decide.
3. `uncovered`: the best class is a topic out_of_scope.yaml lists → no answer, with that topic's pointer
   (a short question only with a lead of `short_margin` over the best entry; else the entries decide).
   Rules 2 and 3 also apply when the learned classifier alone gives such a class `learned_veto` and
   no entry scores `sure` (for chatter and other subjects, with domain words: `unrelated_sure`).
4. `no-evidence`: the question has no domain word (cues.yaml `domain`), relative or place in context,
   and the learned classifier is not `learned_evidence` sure of an entry → no answer; suggestions
   only at or above `sure`.
5. `bare-word`: one content word (共济?) → an answer only at or above `bare_word_sure`, or with a
   lead of twice `short_margin` (挂失); a short
   question (`short_words` or fewer) below that needs a lead of `short_margin`.
6. `sure` / `clear-lead`: a score at or above `sure`, or at or above `answer` and `margin` ahead of
   the runner-up (`agreed_margin` when the lexical scorer and the classifier both rank it first)
   → the answer.
7. `ambiguous` / `weak`: down to `suggest` (half of it for a one- or two-word question) → up to
   `max_suggestions` suggestions and 都不是.
8. `below-floor` → no answer.
An unasked answer in a group needs more (`unasked`); a list the user picks from (inline mode) offers
less (`offered`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

# Class keys of the matcher besides entry ids.
OOS_PREFIX = "oos:"  # an uncovered topic (out_of_scope.yaml)
CHAT_PREFIX = "chat:"  # a small-talk intent (smalltalk.yaml)
UNRELATED = "unrelated"  # questions about something else entirely (smalltalk.yaml `unrelated`)


class Outcome(StrEnum):
    """What the bot does with a question."""

    ANSWER = "answer"
    SUGGEST = "suggest"
    NONE = "none"


def is_entry(key: str) -> bool:
    """Whether a class key is a knowledge entry (not a topic we do not cover, chat or unrelated)."""
    return not (key.startswith(OOS_PREFIX) or key.startswith(CHAT_PREFIX) or key == UNRELATED)


@dataclass(frozen=True)
class Decision:
    """The policy's verdict on one ranking."""

    outcome: Outcome
    entry: str | None
    suggestions: tuple[str, ...]
    rule: str
    evidence: bool = True  # whether the question showed it is about our domain (see rule 4)


@dataclass(frozen=True)
class Policy:
    """The cut-offs of the contract above, and how the two scorers are blended."""

    answer: float = 0.26
    suggest: float = 0.22
    margin: float = 0.08
    sure: float = 0.55
    bare_word_sure: float = 0.85
    short_words: int = 2  # a question with this few content words is short …
    short_suggest_factor: float = 0.5  # … and gets suggestions down to this share of `suggest`
    short_margin: float = 0.25  # … and is answered below `bare_word_sure` only this far ahead
    max_suggestions: int = 3
    learned_share: float = 0.3  # how much of a lexical score the classifier can take away
    learned_boost: float = 0.4  # … and what share of the final score is its probability
    temperature: float = 0.2  # softmax temperature over the classifier's decision scores
    agreed_margin: float = 0.02  # the lead needed when both scorers put the same entry first
    learned_evidence: float = 0.8  # a classifier this sure of an entry is domain evidence enough
    learned_veto: float = 0.4  # … and this sure that it is about something we do not answer
    unrelated_sure: float = 0.9  # … or, with domain words in it, this sure it is chatter or off-topic
    offer_floor: float = 0.05  # a list the user picks from (inline mode) offers entries above this …
    offer_share: float = 0.25  # … and above this share of the best score
    unasked_score: float = 0.45  # a group auto-answer (nobody asked the bot) needs this score …
    unasked_margin: float = 0.08  # … and this lead over the runner-up (verdicts excepted)

    def decide(self, ranking: Sequence[tuple[str, float]], words: int, evidence: bool,
               parts: Mapping[str, tuple[float, float]] | None = None,
               exact: str | None = None) -> Decision:
        """Apply the contract to a ranking (best first) of a question with `words` content words;
        `parts` holds each key's (lexical score, learned probability); `exact` is the key whose
        listed question the question is, word for word."""
        if not ranking:
            return Decision(Outcome.NONE, None, (), "empty")
        if exact is not None and is_entry(exact):
            others = tuple(k for k, _ in ranking if is_entry(k) and k != exact)
            return Decision(Outcome.ANSWER, exact, others[: self.max_suggestions - 1], "exact")
        best_key, best = ranking[0]
        parts = parts or {}
        if not is_entry(best_key) and not best_key.startswith(OOS_PREFIX):
            # Chatter or another subject. A question with domain words (卡里的钱, 医保) is that
            # only when the classifier is `unrelated_sure`; else the entries are weighed alone.
            if not evidence or parts.get(best_key, (0.0, 0.0))[1] >= self.unrelated_sure:
                return Decision(Outcome.NONE, None, (), "not-ours", False)
            ranking = [(k, sc) for k, sc in ranking if is_entry(k) or k.startswith(OOS_PREFIX)]
            if not ranking:
                return Decision(Outcome.NONE, None, (), "not-ours", False)
            best_key, best = ranking[0]
        if best_key.startswith(OOS_PREFIX):
            entry_best = next((sc for k, sc in ranking if is_entry(k)), 0.0)
            if words > self.short_words or best - entry_best >= self.short_margin:
                return Decision(Outcome.NONE, None, (), "uncovered")
            # "社保怎么弄啊?": too little said to tell an uncovered topic from the entries near it;
            # the entries are weighed as if the topic were not there (a "did you mean", mostly).
            ranking = [(k, sc) for k, sc in ranking if not k.startswith(OOS_PREFIX)]
            if not ranking:
                return Decision(Outcome.NONE, None, (), "uncovered")
            best_key, best = ranking[0]
        # The classifier is sure the question is about something we do not answer (an uncovered
        # topic, small talk, another subject) and no entry is sure: that wins.
        vetoes = [(k, p[1]) for k, p in parts.items() if not is_entry(k)
                  and (k.startswith(OOS_PREFIX) or not evidence or p[1] >= self.unrelated_sure)]
        veto, veto_p = max(vetoes, key=lambda kv: kv[1], default=("", 0.0))
        if veto_p >= self.learned_veto and best < self.sure:
            if veto.startswith(OOS_PREFIX):
                return Decision(Outcome.NONE, None, (), "uncovered")
            return Decision(Outcome.NONE, None, (), "not-ours", False)
        entries = [(k, s) for k, s in ranking if is_entry(k)]
        short = words <= self.short_words
        floor = self.suggest * self.short_suggest_factor if short else self.suggest
        suggestions = tuple(k for k, s in entries if s >= floor)[: self.max_suggestions]
        lexical, learned = parts.get(best_key, (best, 0.0))
        # Both scorers agree when the learned classifier's favourite is the blended best and the
        # lexical score alone would rank it first too.
        agreed = (best_key in parts
                  and learned >= max((p[1] for p in parts.values()), default=0.0)
                  and lexical >= max((p[0] for p in parts.values()), default=0.0))
        if not evidence and learned >= self.learned_evidence:
            evidence = True
        if not evidence:
            if best >= self.sure and suggestions:
                return Decision(Outcome.SUGGEST, None, suggestions, "no-evidence", evidence)
            return Decision(Outcome.NONE, None, (), "no-evidence", evidence)
        runner_up = ranking[1][1] if len(ranking) > 1 else 0.0
        if words <= 1:
            # 挂失: one entry far ahead of any other is what the word means here.
            if best >= self.bare_word_sure or (best >= self.answer and best - runner_up >= 2 * self.short_margin):
                return Decision(Outcome.ANSWER, best_key, suggestions[1:], "bare-word", evidence)
        elif short and best < self.bare_word_sure and best - runner_up < self.short_margin:
            pass  # "社保卡怎么弄?": too little said to pick one of several close entries
        elif best >= self.sure:
            return Decision(Outcome.ANSWER, best_key, suggestions[1:], "sure", evidence)
        elif best >= self.answer and best - runner_up >= (self.agreed_margin if agreed else self.margin):
            return Decision(Outcome.ANSWER, best_key, suggestions[1:], "clear-lead", evidence)
        if best >= floor and suggestions:
            rule = "ambiguous" if best >= self.answer else "weak"
            return Decision(Outcome.SUGGEST, None, suggestions, rule, evidence)
        return Decision(Outcome.NONE, None, (), "below-floor", evidence)

    def offered(self, ranking: Sequence[tuple[str, float]]) -> list[str]:
        """The entries worth listing for the user to pick from (inline results), best first."""
        entries = [(k, s) for k, s in ranking if is_entry(k)]
        top = entries[0][1] if entries else 0.0
        return [k for k, s in entries if s >= max(self.offer_floor, top * self.offer_share)]

    def unasked(self, ranking: Sequence[tuple[str, float]], verdict: bool) -> bool:
        """Whether an answer is sure enough to post unasked (a group auto-answer).

        A verdict read from relatives.yaml / regions.yaml needs only the score, not the lead."""
        if not ranking:
            return False
        top = ranking[0][1]
        runner_up = ranking[1][1] if len(ranking) > 1 else 0.0
        return top >= self.unasked_score and (verdict or top - runner_up >= self.unasked_margin)
