"""Word lists that steer the engine (knowledge/cues.yaml) and small talk (knowledge/smalltalk.yaml)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .normalize import compact

# The cue lists cues.yaml must have (kb check reports a missing one).
CUE_NAMES = ("domain", "sharing", "account", "cross_province", "other_province", "cross", "place_evidence",
             "eligibility_strong",
             "eligibility", "uninsured", "deceased", "lend", "how", "flexible", "contribution", "pension",
             "medical", "other_card", "ours")
# Particles and fillers that do not change what a short message means (谢谢你啊 = 谢谢你).
_TRAILING = re.compile(r"[啊呀哦噢喔哈嘛吧呢啦咯了哇嗯]+$")


def compile_cue(patterns: list[str]) -> re.Pattern[str] | None:
    """One alternation of a cue's regular expressions; None for an empty list."""
    parts = [f"(?:{p})" for p in patterns if p]
    return re.compile("|".join(parts)) if parts else None


@dataclass(frozen=True)
class Route:
    """When every named cue is in a question, the answer is this entry's."""

    when: tuple[str, ...]
    entry: str


class Cues:
    """The compiled cue lists, looked up by name."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._patterns: dict[str, re.Pattern[str] | None] = {}
        for name in CUE_NAMES:
            raw = data.get(name) or []
            self._patterns[name] = compile_cue([str(p) for p in raw] if isinstance(raw, list) else [])
        requires = data.get("requires") or {}
        # category id → the cue a question must hit for that topic's entries to count in full
        self.requires = {str(k): str(v) for k, v in requires.items()} if isinstance(requires, dict) else {}
        yields = data.get("yields") or {}
        # category id → the cue in whose presence that topic's entries step back (a twin topic,
        # e.g. the general insurance entries when the asker is a flexible worker)
        self.yields = {str(k): str(v) for k, v in yields.items()} if isinstance(yields, dict) else {}
        self.routes = tuple(
            Route(tuple(str(w) for w in r.get("when") or []), str(r.get("entry") or ""))
            for r in data.get("routes") or [] if isinstance(r, dict)
        )

    def has(self, name: str, text: str) -> bool:
        """Whether the cue `name` occurs in text."""
        pattern = self._patterns.get(name)
        return pattern is not None and pattern.search(text) is not None

    def route(self, text: str) -> str | None:
        """The entry a route sends this text to, if any."""
        for route in self.routes:
            if route.when and all(self.has(name, text) for name in route.when):
                return route.entry
        return None


class Offer(StrEnum):
    """What a small-talk reply offers under its text."""

    NOTHING = ""
    TOPICS = "topics"
    BIND = "bind"


@dataclass(frozen=True)
class Intent:
    """One kind of small talk: its examples and the reply."""

    id: str
    examples: tuple[str, ...]
    reply: str
    offer: Offer = Offer.NOTHING


def short_form(text: str) -> str:
    """A short message as compared with small-talk examples: compact, trailing particles gone."""
    return _TRAILING.sub("", compact(text)) or compact(text)


class SmallTalk:
    """Small-talk intents and the unrelated questions that teach the classifier what is not ours."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.intents: dict[str, Intent] = {}
        for item in data.get("intents") or []:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            offer = str(item.get("offer") or "")
            self.intents[str(item["id"])] = Intent(
                str(item["id"]),
                tuple(str(e) for e in item.get("examples") or []),
                str(item.get("reply") or "").strip(),
                Offer(offer) if offer in Offer._value2member_map_ else Offer.NOTHING,
            )
        self.unrelated = tuple(str(q) for q in data.get("unrelated") or [])
        self._exact = {short_form(e): i for i in self.intents.values() for e in i.examples}

    def exact(self, text: str) -> Intent | None:
        """The intent whose example this message is (punctuation and particles aside)."""
        return self._exact.get(short_form(text))
