"""Validate a knowledge folder and report every problem with its file, line, entry and field."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from .cues import CUE_NAMES, Offer, short_form
from .knowledge import (
    KnowledgeBase,
    KnowledgeError,
    build,
    example_files,
    faq_files,
    line_of,
    load_raw,
)
from .normalize import compact

# What an entry can be marked as (its `traits`), read by the engine's case logic.
TRAITS = {
    "relative-verdict": "verdicts on a named relative are reported under this entry (exactly one)",
    "place-verdict": "verdicts on a named place are reported under this entry (exactly one)",
    "how-to": "a question naming a near relative gets this entry, headed by the verdict",
    "any-relative": "the answer is the same whoever the relative is",
    "any-place": "the answer is the same wherever the user is",
}
SINGLE_TRAITS = ("relative-verdict", "place-verdict")
REQUIRED_ENTRY_FIELDS = ("id", "question", "alternates", "answer", "related", "source", "as_of")
NEAR_IDENTICAL = 95.0  # rapidfuzz ratio above which two questions of different entries clash
ID_PATTERN_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass(frozen=True)
class Problem:
    """One finding of the check."""

    file: str
    line: int
    where: str  # entry id or section
    field: str
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line else self.file
        return f"{loc}: {self.severity}: [{self.where}] {self.field}: {self.message}"


class _Report:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []

    def add(self, path: Path, line: int, where: str, field: str, message: str,
            severity: str = "error") -> None:
        try:
            name = str(path.relative_to(self.root.parent))
        except ValueError:
            name = str(path)
        self.problems.append(Problem(name, line, where, field, message, severity))


def _list(value: Any) -> list[Any]:
    """A YAML list, or nothing (a wrongly typed value is reported where it is read)."""
    return value if isinstance(value, list) else []


def _check_faq(report: _Report, raw: dict[Path, Any], today: dt.date) -> None:
    seen: dict[str, tuple[Path, int]] = {}
    all_ids: set[str] = set()
    for path in faq_files(report.root):
        doc = raw.get(path)
        if isinstance(doc, dict):
            for item in doc.get("entries") or []:
                if isinstance(item, dict) and item.get("id"):
                    all_ids.add(str(item["id"]))
    for path in faq_files(report.root):
        doc = raw.get(path)
        if not isinstance(doc, dict):
            report.add(path, 1, path.stem, "-", "the file must be a mapping with category, title, entries")
            continue
        for key in ("category", "title", "entries"):
            if not doc.get(key):
                report.add(path, line_of(doc), path.stem, key, "missing")
        entries = doc.get("entries") or []
        if not isinstance(entries, list):
            report.add(path, line_of(doc, "entries"), path.stem, "entries", "must be a list")
            continue
        for item in entries:
            if not isinstance(item, dict):
                report.add(path, line_of(doc, "entries"), path.stem, "entries", "each entry must be a mapping")
                continue
            eid = str(item.get("id") or "?")
            at = line_of(item)
            for key in REQUIRED_ENTRY_FIELDS:
                value = item.get(key)
                if value is None or value == "" or (key == "alternates" and not value):
                    report.add(path, at, eid, key, "missing")
            if eid != "?":
                if not set(eid) <= ID_PATTERN_CHARS:
                    report.add(path, at, eid, "id", "use lowercase letters, digits and dashes")
                if eid in seen:
                    other, other_line = seen[eid]
                    report.add(path, at, eid, "id", f"duplicate id (first in {other.name}:{other_line})")
                else:
                    seen[eid] = (path, at)
            for key in ("alternates", "related"):
                value = item.get(key)
                if value is not None and not isinstance(value, list):
                    report.add(path, line_of(item, key), eid, key, "must be a list")
            for rel in _list(item.get("related")):
                if rel not in all_ids:
                    report.add(path, line_of(item, "related"), eid, "related", f"points to unknown id '{rel}'")
                elif rel == eid:
                    report.add(path, line_of(item, "related"), eid, "related", "an entry cannot relate to itself")
            for key in ("as_of", "review_by"):
                value = item.get(key)
                if value is None:
                    if key == "review_by":
                        report.add(path, at, eid, key, "missing: set a date to re-check this entry",
                                   "warning")
                    continue
                if not isinstance(value, dt.date):
                    report.add(path, line_of(item, key), eid, key, f"not a date (YYYY-MM-DD): {value!r}")
                elif key == "review_by" and value < today:
                    report.add(path, line_of(item, key), eid, key,
                               f"past its review date ({value}): re-check the facts", "warning")
                elif key == "as_of" and value > today:
                    report.add(path, line_of(item, key), eid, key, f"in the future ({value})")
            if item.get("traits") is not None and not isinstance(item.get("traits"), list):
                report.add(path, line_of(item, "traits"), eid, "traits", "must be a list")
            for trait in _list(item.get("traits")):
                if trait not in TRAITS:
                    report.add(path, line_of(item, "traits"), eid, "traits",
                               f"unknown trait '{trait}' (known: {', '.join(TRAITS)})")
            answer = item.get("answer")
            if isinstance(answer, str) and len(answer) > 3500:
                report.add(path, line_of(item, "answer"), eid, "answer",
                           f"{len(answer)} characters: split it, answers should stay short", "warning")


def _check_clashes(report: _Report, kb: KnowledgeBase) -> None:
    """Two entries must not ask (nearly) the same question, nor share an alternate."""
    entries = list(kb.entries.values())
    questions = [compact(e.question) for e in entries]
    for i, question in enumerate(questions):
        later = questions[i + 1:]
        for _, score, k in process.extract(question, later, scorer=fuzz.ratio,
                                           score_cutoff=NEAR_IDENTICAL, limit=None):
            a, b = entries[i], entries[i + 1 + k]
            report.add(b.file, b.line, b.id, "question",
                       f"near-identical to '{a.id}' ({score:.0f}%): '{b.question}' / '{a.question}'")
    owner: dict[str, str] = {}
    for entry in entries:
        for text in entry.variants:
            key = compact(text)
            if not key:
                report.add(entry.file, entry.line, entry.id, "alternates", "an empty question or alternate")
                continue
            first = owner.setdefault(key, entry.id)
            if first != entry.id:
                report.add(entry.file, entry.line, entry.id, "alternates",
                           f"'{text}' is also a question of '{first}'")


def _check_roles(report: _Report, kb: KnowledgeBase) -> None:
    """One entry for each kind of verdict, and topics that offer flows that exist."""
    for trait in SINGLE_TRAITS:
        holders = kb.with_trait(trait)
        if len(holders) > 1:
            for entry in holders[1:]:
                report.add(entry.file, entry.line, entry.id, "traits",
                           f"'{trait}' is also on '{holders[0].id}': only one entry may have it")
        elif not holders:
            report.add(report.root / "faq", 0, "faq", "traits", f"no entry has the trait '{trait}'")
    for cat in kb.categories:
        if cat.flow is not None and cat.flow not in kb.flows and cat.file is not None:
            report.add(cat.file, 1, cat.id, "flow", f"unknown flow '{cat.flow}' (see flows/)")


def _check_words(report: _Report, path: Path, where: str, words: list[tuple[str, int]]) -> None:
    counts = Counter(w for w, _ in words)
    for word, line in words:
        if counts[word] > 1:
            report.add(path, line, where, "words", f"'{word}' appears {counts[word]} times")
            counts[word] = 0  # report once


def _check_regions(report: _Report, raw: dict[Path, Any]) -> None:
    path = report.root / "regions.yaml"
    doc = raw.get(path)
    if doc is None:
        report.add(path, 0, "regions", "-", "missing file")
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("first_batch"), dict):
        report.add(path, 1, "regions", "first_batch", "missing")
        return
    batch = doc["first_batch"]
    names: list[tuple[str, int]] = []
    count = 0
    for prov in batch.get("provinces") or []:
        if not isinstance(prov, dict) or not prov.get("province"):
            report.add(path, line_of(prov), "regions", "province", "missing")
            continue
        names += [(a, line_of(prov)) for a in [prov["province"], *(prov.get("aliases") or [])]]
        for region in prov.get("regions") or []:
            if not isinstance(region, dict) or not region.get("name"):
                report.add(path, line_of(region), prov["province"], "regions", "a region needs a name")
                continue
            count += 1
            names += [(a, line_of(region)) for a in region.get("aliases") or []]
    declared = batch.get("count")
    if declared is not None and declared != count:
        report.add(path, line_of(batch, "count"), "first_batch", "count",
                   f"says {declared} but {count} regions are listed")
    for key in ("provinces", "cities"):
        for place in (doc.get("other_places") or {}).get(key) or []:
            if isinstance(place, dict) and place.get("name"):
                names += [(a, line_of(place)) for a in [place["name"], *(place.get("aliases") or [])]]
            else:
                report.add(path, line_of(place), "other_places", key, "each place needs a name")
    _check_words(report, path, "regions", [(n, ln) for n, ln in names if n != "省本级"])
    for name, line in names:
        if len(str(name)) < 2:
            report.add(path, line, "regions", "aliases", f"'{name}' is too short to recognise safely")


def _mapping(report: _Report, raw: dict[Path, Any], name: str) -> tuple[Path, dict[str, Any] | None]:
    """The path and parsed mapping of knowledge/<name>.yaml; None (reported) when it is missing or
    not a mapping."""
    path = report.root / f"{name}.yaml"
    doc = raw.get(path)
    if not isinstance(doc, dict):
        report.add(path, 0, name, "-", "missing file or not a mapping")
        return path, None
    return path, doc


def _check_relatives(report: _Report, raw: dict[Path, Any]) -> None:
    path, doc = _mapping(report, raw, "relatives")
    if doc is None:
        return
    words: list[tuple[str, int]] = []
    for key in ("near", "not_near"):
        groups = doc.get(key)
        if not isinstance(groups, list) or not groups:
            report.add(path, line_of(doc, key), "relatives", key, "missing")
            continue
        for group in groups:
            if not isinstance(group, dict) or not group.get("words"):
                report.add(path, line_of(group), key, "words", "missing")
                continue
            if not isinstance(group["words"], list):
                report.add(path, line_of(group, "words"), key, "words", "must be a list of words")
                continue
            need = "category" if key == "near" else "reason"
            if not group.get(need):
                report.add(path, line_of(group), key, need, "missing")
            words += [(str(w), line_of(group)) for w in group["words"]]
    _check_words(report, path, "relatives", words)
    categories = {str(g.get("category")) for g in doc.get("near") or [] if isinstance(g, dict)}
    for chain in doc.get("chains") or []:
        if (not isinstance(chain, list) or len(chain) != 3
                or not {str(chain[0]), str(chain[1])} <= categories):
            report.add(path, line_of(doc, "chains"), "relatives", "chains",
                       f"{chain!r}: each chain is [near category, near category, result]")


def _check_synonyms(report: _Report, raw: dict[Path, Any]) -> None:
    path = report.root / "synonyms.yaml"
    doc = raw.get(path)
    if doc is None:
        return
    if not isinstance(doc, dict):
        report.add(path, 1, "synonyms", "-", "must be a mapping canonical: [variants]")
        return
    words: list[tuple[str, int]] = []
    for canonical, variants in doc.items():
        if not isinstance(variants, list):
            report.add(path, line_of(doc, canonical), str(canonical), "variants", "must be a list")
            continue
        for v in variants:
            words.append((str(v), line_of(doc, canonical)))
            if str(v) in doc:
                report.add(path, line_of(doc, canonical), str(canonical), "variants",
                           f"'{v}' is itself a canonical word")
    _check_words(report, path, "synonyms", words)


def _check_cues(report: _Report, raw: dict[Path, Any], kb: KnowledgeBase) -> None:
    """cues.yaml: every cue list present, each pattern a valid regular expression, every route
    naming known cues and an existing entry."""
    path, doc = _mapping(report, raw, "cues")
    if doc is None:
        return
    for name in CUE_NAMES:
        patterns = doc.get(name)
        if not isinstance(patterns, list) or not patterns:
            report.add(path, line_of(doc, name) or 1, "cues", name, "missing: a list of regular expressions")
            continue
        for pattern in patterns:
            try:
                re.compile(str(pattern))
            except re.error as exc:
                report.add(path, line_of(doc, name), "cues", name, f"bad regular expression {pattern!r}: {exc}")
    topics = {c.id for c in kb.categories} | set(kb.entries)
    for section in ("requires", "yields"):
        mapping = doc.get(section) or {}
        if not isinstance(mapping, dict):
            report.add(path, line_of(doc, section), "cues", section, "must map a topic to a cue")
            continue
        for topic, cue in mapping.items():
            if str(topic) not in topics or str(cue) not in CUE_NAMES:
                report.add(path, line_of(mapping, str(topic)) or line_of(doc, section), "cues", section,
                           f"'{topic}: {cue}' must name a topic or an entry of faq/ and a known cue")
    for route in _list(doc.get("routes")):
        line = line_of(route) if isinstance(route, dict) else line_of(doc, "routes")
        if not isinstance(route, dict):
            report.add(path, line, "cues", "routes", "each route is a mapping {when, entry}")
            continue
        unknown = [w for w in _list(route.get("when")) if w not in CUE_NAMES]
        if not _list(route.get("when")) or unknown:
            report.add(path, line, "cues", "routes", f"`when` must list known cues, not {unknown or 'nothing'}")
        if str(route.get("entry")) not in kb.entries:
            report.add(path, line, "cues", "routes", f"unknown entry '{route.get('entry')}'")


def _check_smalltalk(report: _Report, raw: dict[Path, Any]) -> None:
    """smalltalk.yaml: intents with an id, examples and a reply; a known offer; no example twice."""
    path, doc = _mapping(report, raw, "smalltalk")
    if doc is None:
        return
    seen: dict[str, str] = {}
    for item in _list(doc.get("intents")):
        if not isinstance(item, dict) or not item.get("id"):
            report.add(path, line_of(doc, "intents"), "smalltalk", "intents", "each intent needs an id")
            continue
        iid, line = str(item["id"]), line_of(item)
        if not str(item.get("reply") or "").strip():
            report.add(path, line, iid, "reply", "missing")
        if item.get("offer") and str(item["offer"]) not in Offer._value2member_map_:
            report.add(path, line, iid, "offer", f"unknown offer '{item['offer']}' (topics or bind)")
        for example in _list(item.get("examples")):
            key = short_form(str(example))
            if key in seen and seen[key] != iid:
                report.add(path, line, iid, "examples", f"'{example}' is also an example of {seen[key]}")
            seen[key] = iid
    if len(_list(doc.get("unrelated"))) < 10:
        report.add(path, line_of(doc, "unrelated") or 1, "smalltalk", "unrelated",
                   "list at least 10 unrelated questions: they teach the classifier what is not ours")


TRAINING_SECTIONS = ("entries", "uncovered", "unrelated")


def _check_training(report: _Report, raw: dict[Path, Any], kb: KnowledgeBase) -> None:
    """examples/*.yaml: known entry and topic ids, and no question taught as two things (nor as
    something other than the entry that lists it word for word)."""
    taught: dict[str, str] = {short_form(q): e.id for e in kb.entries.values() for q in e.variants}
    topics = {t.id for t in kb.out_of_scope}
    for path in example_files(report.root):
        doc = raw.get(path)
        if not isinstance(doc, dict) or set(doc) - set(TRAINING_SECTIONS):
            report.add(path, 1, path.stem, "-", f"the file must be a mapping of {', '.join(TRAINING_SECTIONS)}")
            continue
        groups: list[tuple[str, str, Any, int]] = [("unrelated", "unrelated", doc.get("unrelated"),
                                                    line_of(doc, "unrelated"))]
        for section, known in (("entries", kb.entries), ("uncovered", topics)):
            mapping = doc.get(section)
            if mapping is not None and not isinstance(mapping, dict):
                report.add(path, line_of(doc, section), section, "-", "must map ids to lists of questions")
                continue
            for key, questions in (mapping or {}).items():
                line = line_of(mapping, key)
                if str(key) not in known:
                    report.add(path, line, str(key), section, f"unknown {'entry' if section == 'entries' else 'topic'}")
                label = str(key) if section == "entries" else f"uncovered:{key}"
                groups.append((label, section, questions, line))
        for label, section, questions, line in groups:
            if questions is not None and not isinstance(questions, list):
                report.add(path, line, label, section, "must be a list of questions")
                continue
            for question in _list(questions):
                form = short_form(str(question))
                other = taught.setdefault(form, label)
                if other != label:
                    report.add(path, line, label, section, f"'{question}' is also taught as {other}")


def validate(root: Path, today: dt.date | None = None) -> tuple[KnowledgeBase | None, list[Problem]]:
    """Load and check a knowledge folder; returns the base (None if unloadable) and the problems."""
    report = _Report(root)
    today = today or dt.date.today()
    if not root.is_dir():
        report.add(root, 0, "knowledge", "-", "not a folder")
        return None, report.problems
    try:
        raw = load_raw(root)
    except KnowledgeError as exc:
        report.problems.append(Problem(str(exc).split(": ")[0], 0, "yaml", "-", str(exc)))
        return None, report.problems
    if not faq_files(root):
        report.add(root / "faq", 0, "faq", "-", "no FAQ files (faq/*.yaml)")
    _check_faq(report, raw, today)
    kb = build(root, raw)
    _check_clashes(report, kb)
    _check_roles(report, kb)
    _check_regions(report, raw)
    _check_relatives(report, raw)
    _check_synonyms(report, raw)
    _check_cues(report, raw, kb)
    _check_smalltalk(report, raw)
    _check_training(report, raw, kb)
    from .dialogue import check_flows  # local import: flows depend on the loaded entries

    for path, line, where, fld, msg in check_flows(kb):
        report.add(path, line, where, fld, msg)
    return kb, report.problems


def errors(problems: list[Problem]) -> list[Problem]:
    """Only the problems that make a knowledge base unusable."""
    return [p for p in problems if p.severity == "error"]
