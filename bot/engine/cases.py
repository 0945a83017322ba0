"""Specific cases read from data: is this relative a near relative, is this place in the first batch."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .normalize import fold

# A one-character relation word (妈, 哥) only counts after a possessive, so 哥们 or 妹子 do not.
_POSSESSIVE = "我俺咱你他她家的"
_CHAIN = frozenset({"", "的", "家", "家的", "那边的", "家里的"})


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
        self.condition = str(data.get("condition") or "")
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

    def words(self) -> set[str]:
        """Every relation word known."""
        return set(self._by_word)

    def find(self, prepared: str) -> list[Relation]:
        """Relation words in order of appearance, each once.

        In a possessive chain (我姐家的外甥女) only the last word is the person asked about.
        """
        if self._pattern is None:
            return []
        found: dict[str, Relation] = {}
        last_end = -1
        last_word = ""
        for m in self._pattern.finditer(prepared):
            word = m.group(0)
            if len(word) == 1 and m.start() > 0 and prepared[m.start() - 1] not in _POSSESSIVE:
                continue
            if last_word and prepared[last_end:m.start()] in _CHAIN:
                found.pop(last_word, None)
            found.setdefault(word, self._by_word[word])
            last_end, last_word = m.end(), word
        return list(found.values())


class Regions:
    """Finds place names (regions.yaml) and says whether they are in the first batch."""

    def __init__(self, data: dict[str, Any]) -> None:
        batch = data.get("first_batch") or {}
        self.live_since = str(batch.get("live_since") or "")
        self.count = int(batch.get("count") or 0)
        self.later = str(data.get("later") or "").strip()
        self._by_word: dict[str, Place] = {}
        self.batch_by_province: list[tuple[str, tuple[str, ...]]] = []
        for prov in batch.get("provinces") or []:
            pname = str(prov.get("province"))
            regions = tuple(str(r.get("name")) for r in prov.get("regions") or [])
            self.batch_by_province.append((pname, regions))
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

    def words(self) -> set[str]:
        """Every place name and alias known."""
        return set(self._by_word)

    def find(self, prepared: str) -> list[Place]:
        """Places in order of appearance, each once (a city wins over its province)."""
        if self._pattern is None:
            return []
        found: dict[str, Place] = {}
        for m in self._pattern.finditer(prepared):
            place = self._by_word[m.group(0)]
            found.setdefault(place.name, place)
        return list(found.values())
