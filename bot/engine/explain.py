"""Why the bot answered a question as it did: the curators' hit-testing view (`python -m bot explain`)."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any

from .cues import CUE_NAMES
from .engine import Engine
from .normalize import fold


@dataclass(frozen=True)
class Candidate:
    """One ranked class with the parts of its score."""

    key: str
    score: float  # blended: what the policy compares
    lexical: float
    learned: float  # the classifier's probability
    closest: str = ""  # the entry's question (as the matcher sees it) closest to the question
    details: dict[str, Any] = field(default_factory=dict)  # the lexical score's parts


@dataclass(frozen=True)
class Explanation:
    """How one question was read, scored and decided."""

    question: str
    folded: str  # width, Traditional characters, case, tag questions
    prepared: str  # after typo repair: what the case rules read
    typo_repairs: list[tuple[str, str]]
    synonyms: list[tuple[str, str]]
    words: list[str]
    features: list[str]
    content_words: int
    evidence: bool
    cues: list[str]  # the cues.yaml lists the question hits
    route: str | None
    relatives: list[str]  # word: ✅/❌ category
    places: list[str]
    candidates: list[Candidate]
    rule: str  # the policy rule, or what decided before the policy (small talk, route, verdict)
    outcome: str
    reply_kind: str
    entry: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)

    def text(self) -> str:
        """A terminal report."""
        lines = [f"问题: {self.question}", f"归一化: {self.folded}"]
        if self.typo_repairs:
            lines.append("纠错: " + ", ".join(f"{a}→{b}" for a, b in self.typo_repairs))
        if self.synonyms:
            lines.append("同义词: " + ", ".join(f"{a}→{b}" for a, b in self.synonyms))
        lines.append(f"分词: {' / '.join(self.words)} (内容词 {self.content_words} 个)")
        lines.append("特征: " + " ".join(self.features))
        lines.append(f"领域证据: {'有' if self.evidence else '无'}; 命中提示词: {', '.join(self.cues) or '—'}")
        if self.route:
            lines.append(f"直达条目: {self.route}")
        if self.relatives or self.places:
            lines.append(f"亲属: {', '.join(self.relatives) or '—'}; 地点: {', '.join(self.places) or '—'}")
        lines.append("候选(合并分 = 词面分经分类器加权,再加上一份分类器概率):")
        for c in self.candidates:
            d = c.details
            extra = ""
            if d:
                extra = (f" 句子 {d.get('variant', 0):.2f} 覆盖 {d.get('coverage', 0):.2f}"
                         f" BM25 {d.get('bm25', 0):.2f}"
                         + ("" if d.get("anchored", True) else " 无实词锚点")
                         + (" 问法不符" if d.get("intent_mismatch") else ""))
            lines.append(f"  {c.score:.3f}  {c.key:<28} 词面 {c.lexical:.3f} 分类器 {c.learned:.3f}{extra}")
            if c.closest:
                lines.append(f"         最像: {c.closest}")
        lines.append(f"决定: {self.rule} → {self.outcome}; 回复: {self.reply_kind} {self.entry or ''}".rstrip())
        return "\n".join(lines)


def _changes(before: str, after: str) -> list[tuple[str, str]]:
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return [(before[i1:i2], after[j1:j2]) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal"]


def explain(engine: Engine, question: str, limit: int = 5) -> Explanation:
    """Run one question through the engine and keep every step's result."""
    lexicon, matcher = engine.lexicon, engine.matcher
    folded = fold(question)
    prepared = lexicon.prepare(question)
    words, features = lexicon.analyse(prepared)
    places = engine.regions.find(prepared, lexicon.boundaries, lexicon.is_word)
    relations = engine.relatives.find(prepared)
    evidence = engine.evidence(prepared, places, relations)
    trace: dict[str, dict[str, Any]] = {}
    ranking, content, parts, _ = matcher.rank(prepared, trace=trace, demoted=engine.demoted(prepared))
    reply, match = engine.answer_and_match(question)
    route = engine.cues.route(prepared) if evidence else None
    if match is None:
        rule = "small-talk"
    elif reply.kind == "smalltalk":
        rule = f"{match.rule}: small-talk"
    elif route and reply.entry_id == route:
        rule = f"route → {route}"
    elif reply.kind == "case":
        rule = f"{match.rule}: verdict under {reply.entry_id}"
    else:
        rule = match.rule
    candidates = []
    for key, score in ranking[:limit]:
        lexical, learned = parts.get(key, (0.0, 0.0))
        details = dict(trace.get(key, {}))
        closest = str(details.pop("closest", ""))
        details = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in details.items()}
        candidates.append(Candidate(key, round(score, 4), round(lexical, 4), round(learned, 4),
                                    closest, details))
    return Explanation(
        question=question,
        folded=folded,
        prepared=prepared,
        typo_repairs=_changes(folded, prepared),
        synonyms=lexicon.synonym_hits(prepared),
        words=words,
        features=features,
        content_words=content,
        evidence=evidence,
        cues=[name for name in CUE_NAMES if engine.cues.has(name, prepared)],
        route=route,
        relatives=[f"{r.word}: {'✅' if r.near else '❌'} {r.category}" for r in relations],
        places=[f"{p.word}: {'首批' if p.first_batch else '不在首批'}" for p in places],
        candidates=candidates,
        rule=rule,
        outcome=str(match.outcome) if match else "smalltalk",
        reply_kind=reply.kind,
        entry=reply.entry_id,
    )


def table(explanations: list[Explanation]) -> str:
    """One line per question: what it got and which rule decided (for `explain --file`)."""
    lines = ["| 问题 | 回复 | 条目 | 分数 | 次优 | 规则 |", "|---|---|---|---|---|---|"]
    for e in explanations:
        top = e.candidates[0] if e.candidates else None
        second = e.candidates[1] if len(e.candidates) > 1 else None
        cells = [
            e.question.replace("|", "\\|"), e.reply_kind, e.entry or "—",
            f"{top.score:.3f} {top.key}" if top else "—",
            f"{second.score:.3f} {second.key}" if second else "—",
            e.rule,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
