"""Specific cases read from data: is this relative a near relative, is this place in the first batch."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .normalize import fold

# A one-character relation word (妈, 哥) only counts after a possessive or a birth-order word
# (二姨, 大哥, 老舅), so 哥们 or 妹子 do not.
# Both lists can be extended in relatives.yaml (`possessives`, `chain_links`).
_POSSESSIVE = "我俺咱你他她家的大二三四五六七八九十小老"
_CHAIN = frozenset({"的", "家", "家的", "那边的", "家里的"})


@dataclass(frozen=True)
class Relation:
    """A relation word found in a question, with its verdict under 民法典 art. 1045."""

    word: str
    near: bool
    category: str  # the near-relative category (外祖母 → 外祖父母), or what the word means
    note: str  # a note for near relatives, or the reason for not-near ones


@dataclass(frozen=True)
class Place:
    """A place found in a question, and whether it is in the first cross-province batch."""

    word: str
    name: str  # the official name (苏州市)
    province: str
    first_batch: bool
    is_province: bool = False
    batch_regions: tuple[str, ...] = ()  # for a province: its regions in the first batch


def _alternation(words: list[str]) -> re.Pattern[str] | None:
    words = sorted({w for w in words if w}, key=len, reverse=True)
    return re.compile("|".join(re.escape(w) for w in words)) if words else None


class Relatives:
    """Finds relation words (relatives.yaml) and gives their verdict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.law = str(data.get("law") or "《民法典》第一千零四十五条")
        self._by_word: dict[str, Relation] = {}
        for group in data.get("near") or []:
            for word in group.get("words") or []:
                self._by_word[fold(str(word))] = Relation(
                    str(word), True, str(group.get("category", "")), str(group.get("note") or "")
                )
        for group in data.get("not_near") or []:
            for word in group.get("words") or []:
                self._by_word[fold(str(word))] = Relation(
                    str(word), False, str(group.get("means") or ""), str(group.get("reason") or "")
                )
        self._pattern = _alternation(list(self._by_word))
        self._chains = {
            (str(c[0]), str(c[1])): str(c[2])
            for c in data.get("chains") or [] if isinstance(c, list) and len(c) == 3
        }
        links = data.get("chain_links")
        self._links = frozenset(str(w) for w in links) if isinstance(links, list) else _CHAIN
        self._possessive = str(data.get("possessives") or _POSSESSIVE)
        self._chain_means = str(data.get("chain_means") or "")
        self._chain_reason = str(data.get("chain_reason") or "")

    def words(self) -> set[str]:
        """Every relation word known."""
        return set(self._by_word)

    def _compose(self, chain: list[tuple[str, Relation]], text: str) -> Relation:
        """The relation of a possessive chain (我哥的儿子): a relative's relative."""
        if len(chain) == 1:
            return chain[0][1]
        category: str | None = chain[0][1].category if chain[0][1].near else None
        for _, relation in chain[1:]:
            if category is None or not relation.near:
                category = None
                break
            category = self._chains.get((category.split("或")[0], relation.category))
        if category is None:
            return Relation(text, False, self._chain_means, self._chain_reason)
        return Relation(text, True, category, "")

    def find(self, prepared: str) -> list[Relation]:
        """Relations in order of appearance, each once; a possessive chain (我老婆的妈妈) is one
        relation, composed with the `chains` of relatives.yaml."""
        if self._pattern is None:
            return []
        chains: list[list[tuple[str, Relation]]] = []
        spans: list[tuple[int, int]] = []
        for m in self._pattern.finditer(prepared):
            word = m.group(0)
            if len(word) == 1 and m.start() > 0 and prepared[m.start() - 1] not in self._possessive:
                continue
            if chains and prepared[spans[-1][1]:m.start()] in self._links:
                chains[-1].append((word, self._by_word[word]))
                spans[-1] = (spans[-1][0], m.end())
            else:
                chains.append([(word, self._by_word[word])])
                spans.append((m.start(), m.end()))
        found: dict[str, Relation] = {}
        for chain, (start, end) in zip(chains, spans, strict=True):
            relation = self._compose(chain, prepared[start:end])
            found.setdefault(relation.word, relation)
        return list(found.values())


class Regions:
    """Finds place names (regions.yaml) and says whether they are in the first batch."""

    def __init__(self, data: dict[str, Any]) -> None:
        batch = data.get("first_batch") or {}
        self.live_since = str(batch.get("live_since") or "")
        self.count = int(batch.get("count") or 0)
        self.later = str(data.get("later") or "").strip()
        notes = data.get("province_notes") or {}
        self._notes = {str(k): str(v).strip() for k, v in notes.items()} if isinstance(notes, dict) else {}
        self._by_word: dict[str, Place] = {}
        for prov in batch.get("provinces") or []:
            pname = str(prov.get("province"))
            regions = tuple(str(r.get("name")) for r in prov.get("regions") or [])
            for word in [pname, *(prov.get("aliases") or [])]:
                self._by_word[fold(str(word))] = Place(
                    str(word), pname, pname, True, True, regions
                )
            for region in prov.get("regions") or []:
                name = str(region.get("name"))
                words = list(region.get("aliases") or [])
                if name != "省本级":
                    words.append(name)
                for word in words:
                    self._by_word[fold(str(word))] = Place(str(word), name, pname, True)
        other = data.get("other_places") or {}
        for prov in other.get("provinces") or []:
            pname = str(prov.get("name"))
            for word in [pname, *(prov.get("aliases") or [])]:
                self._by_word.setdefault(fold(str(word)), Place(str(word), pname, pname, False, True))
        for city in other.get("cities") or []:
            name = str(city.get("name"))
            for word in [name, *(city.get("aliases") or [])]:
                self._by_word.setdefault(
                    fold(str(word)), Place(str(word), name, str(city.get("province") or ""), False)
                )
        self._pattern = _alternation(list(self._by_word))

    def note_for(self, place: Place) -> str:
        """What regions.yaml says about the place's province in particular (广东), or ""."""
        return self._notes.get(place.province, "")

    def words(self) -> set[str]:
        """Every place name and alias known."""
        return set(self._by_word)

    def find(self, prepared: str, boundaries: Callable[[str], set[int]] | None = None,
             is_word: Callable[[str], bool] | None = None) -> list[Place]:
        """Places in order of appearance, each once; a province named with one of its cities
        (江苏无锡) gives way to the city.

        A name inside other words is not a place (医保定点 holds 保定, 推广安全 holds 广安): with
        `boundaries` (the word boundaries of the text) and `is_word`, a name counts when the
        segmenter cuts the text at both its ends, or when neither end forms a word with its
        neighbour.
        """
        if self._pattern is None:
            return []
        cuts: set[int] | None = None  # segmenting is costly: only once a name is seen
        found: dict[str, Place] = {}
        for m in self._pattern.finditer(prepared):
            start, end = m.span()
            if cuts is None and boundaries is not None:
                cuts = boundaries(prepared)
            if cuts is not None and not (start in cuts and end in cuts) and is_word is not None and (
                (start > 0 and is_word(prepared[start - 1:start + 1]))
                or (end < len(prepared) and is_word(prepared[end - 1:end + 1]))
            ):
                continue
            place = self._by_word[m.group(0)]
            found.setdefault(place.name, place)
        cities = {p.province for p in found.values() if not p.is_province}
        return [p for p in found.values() if not (p.is_province and p.name in cities)]
