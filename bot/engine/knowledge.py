"""Load the YAML knowledge base (faq, regions, relatives, synonyms, flows) into typed records."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


def _default_dir() -> Path:
    """knowledge/ beside the package in a checkout (or an editable install), else in the
    working directory (a wheel does not carry the knowledge base: it is data, mounted or copied)."""
    beside = Path(__file__).resolve().parents[2] / "knowledge"
    return beside if beside.is_dir() else Path.cwd() / "knowledge"


DEFAULT_DIR = _default_dir()


class KnowledgeError(Exception):
    """A knowledge base that cannot be loaded; the message names file and line."""


class LineDict(dict):  # type: ignore[type-arg]
    """A mapping that remembers the YAML line of itself and of each key."""

    line: int = 0
    key_lines: dict[str, int]


# libyaml's C parser when PyYAML has it (several times faster than the pure-Python one).
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """A safe YAML loader whose mappings carry 1-based line numbers."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    mapping = LineDict(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {
        str(key_node.value): key_node.start_mark.line + 1 for key_node, _ in node.value
    }
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file, turning syntax errors into a KnowledgeError with file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(f"{path}: cannot read: {exc}") from exc
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise KnowledgeError(f"{where}: invalid YAML: {problem}") from exc


def line_of(obj: Any, key: str | None = None) -> int:
    """Best-known line of a loaded mapping, or of one of its keys."""
    if isinstance(obj, LineDict):
        if key is not None and key in obj.key_lines:
            return obj.key_lines[key]
        return obj.line
    return 0


@dataclass(frozen=True)
class Entry:
    """One question and its answer."""

    id: str
    category: str
    question: str
    alternates: tuple[str, ...]
    answer: str
    related: tuple[str, ...]
    source: str
    as_of: dt.date
    review_by: dt.date | None
    file: Path
    line: int
    traits: frozenset[str] = frozenset()

    @property
    def variants(self) -> tuple[str, ...]:
        """The canonical question followed by its alternates."""
        return (self.question, *self.alternates)


@dataclass(frozen=True, slots=True)
class Category:
    """A topic: a group of entries shown together in the topic menu."""

    id: str
    title: str
    order: int
    entry_ids: tuple[str, ...]
    flow: str | None = None  # a guided dialogue the answers of this topic offer
    file: Path | None = None


@dataclass(frozen=True)
class OutOfScope:
    """A topic people ask about that the knowledge base deliberately does not answer."""

    id: str
    examples: tuple[str, ...]
    hint: str


@dataclass(frozen=True)
class Training:
    """Questions that only teach the classifier (examples/*.yaml): more ways people ask each entry
    and each uncovered topic, and questions about something else. Never answered as written, never
    shown; the lexical index reads only the entries' own questions."""

    entries: dict[str, tuple[str, ...]] = field(default_factory=dict)
    uncovered: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unrelated: tuple[str, ...] = ()


@dataclass
class KnowledgeBase:
    """The whole knowledge base as loaded from one folder."""

    root: Path
    entries: dict[str, Entry] = field(default_factory=dict)
    categories: list[Category] = field(default_factory=list)
    out_of_scope: list[OutOfScope] = field(default_factory=list)
    regions: dict[str, Any] = field(default_factory=dict)
    relatives: dict[str, Any] = field(default_factory=dict)
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    flows: dict[str, Any] = field(default_factory=dict)
    cues: dict[str, Any] = field(default_factory=dict)  # cues.yaml, typed by engine.cues.Cues
    smalltalk: dict[str, Any] = field(default_factory=dict)  # smalltalk.yaml, see cues.SmallTalk
    training: Training = field(default_factory=Training)
    digest: str = ""

    def with_trait(self, trait: str) -> list[Entry]:
        """The entries that carry a trait, in file order."""
        return [e for e in self.entries.values() if trait in e.traits]

    @property
    def version(self) -> str:
        """A short content hash with the entry count, for logs and health checks."""
        return f"{len(self.entries)} entries, {self.digest[:12]}"


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v) for v in value if v is not None)
    return ()


def faq_files(root: Path) -> list[Path]:
    """The FAQ files of a knowledge folder, in a stable order."""
    return sorted((root / "faq").glob("*.yaml"))


def example_files(root: Path) -> list[Path]:
    """The classifier's training-question files of a knowledge folder, in a stable order."""
    return sorted((root / "examples").glob("*.yaml"))


def knowledge_files(root: Path) -> list[Path]:
    """The YAML files a knowledge folder is made of, in a stable order."""
    paths = [*faq_files(root)]
    for name in ("regions.yaml", "relatives.yaml", "synonyms.yaml", "out_of_scope.yaml",
                 "cues.yaml", "smalltalk.yaml"):
        if (root / name).exists():
            paths.append(root / name)
    paths.extend(sorted((root / "flows").glob("*.yaml")))
    paths.extend(example_files(root))
    return paths


def content_digest(paths: list[Path]) -> str:
    """The hash of the files' names and bytes: KnowledgeBase.digest, without parsing anything."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_raw(root: Path) -> dict[Path, Any]:
    """Every YAML file of the knowledge folder, parsed (raises on the first syntax error)."""
    return {path: load_yaml(path) for path in knowledge_files(root)}


def build(root: Path, raw: dict[Path, Any]) -> KnowledgeBase:
    """Turn parsed YAML into a KnowledgeBase, skipping what is malformed (check reports it)."""
    kb = KnowledgeBase(root=root)
    kb.digest = content_digest(list(raw))
    for path in faq_files(root):
        doc = raw.get(path)
        if not isinstance(doc, dict):
            continue
        cat_id = str(doc.get("category") or path.stem)
        ids: list[str] = []
        for item in doc.get("entries") or []:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            entry = Entry(
                id=str(item["id"]),
                category=cat_id,
                question=str(item.get("question") or ""),
                alternates=_strings(item.get("alternates")),
                answer=str(item.get("answer") or "").strip(),
                related=_strings(item.get("related")),
                source=str(item.get("source") or ""),
                as_of=_as_date(item.get("as_of")) or dt.date.min,
                review_by=_as_date(item.get("review_by")),
                file=path,
                line=line_of(item),
                traits=frozenset(_strings(item.get("traits"))),
            )
            kb.entries.setdefault(entry.id, entry)
            ids.append(entry.id)
        order = doc.get("order")
        kb.categories.append(
            Category(
                id=cat_id,
                title=str(doc.get("title") or cat_id),
                order=order if isinstance(order, int) else 99,
                entry_ids=tuple(ids),
                flow=str(doc["flow"]) if doc.get("flow") else None,
                file=path,
            )
        )
    kb.categories.sort(key=lambda c: (c.order, c.id))
    oos = raw.get(root / "out_of_scope.yaml")
    if isinstance(oos, dict):
        for item in oos.get("topics") or []:
            if isinstance(item, dict) and item.get("id"):
                kb.out_of_scope.append(
                    OutOfScope(
                        id=str(item["id"]),
                        examples=_strings(item.get("examples")),
                        hint=str(item.get("hint") or "").strip(),
                    )
                )
    for name, attr in (("regions", "regions"), ("relatives", "relatives"), ("cues", "cues"),
                       ("smalltalk", "smalltalk")):
        doc = raw.get(root / f"{name}.yaml")
        setattr(kb, attr, doc if isinstance(doc, dict) else {})
    syn = raw.get(root / "synonyms.yaml")
    if isinstance(syn, dict):
        kb.synonyms = {str(k): list(_strings(v)) for k, v in syn.items()}
    for path in sorted((root / "flows").glob("*.yaml")):
        doc = raw.get(path)
        if isinstance(doc, dict):
            kb.flows[str(doc.get("id") or path.stem)] = doc
    kb.training = _training([raw.get(path) for path in example_files(root)])
    return kb


def _training(docs: list[Any]) -> Training:
    """The training questions of every examples file, merged key by key in file order."""
    entries: dict[str, list[str]] = {}
    uncovered: dict[str, list[str]] = {}
    unrelated: list[str] = []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        for section, merged in (("entries", entries), ("uncovered", uncovered)):
            if isinstance(doc.get(section), dict):
                for key, questions in doc[section].items():
                    merged.setdefault(str(key), []).extend(_strings(questions))
        unrelated.extend(_strings(doc.get("unrelated")))
    return Training({k: tuple(v) for k, v in entries.items()},
                    {k: tuple(v) for k, v in uncovered.items()}, tuple(unrelated))


def load(root: Path | str | None = None) -> KnowledgeBase:
    """Load a knowledge folder without validating it (see check.validate)."""
    path = Path(root) if root else DEFAULT_DIR
    if not path.is_dir():
        raise KnowledgeError(f"{path}: not a knowledge folder")
    return build(path, load_raw(path))
