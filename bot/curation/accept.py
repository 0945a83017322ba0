"""`kb accept`: write an accepted alternate into its entry's YAML file, but only when it is safe.

Before anything is written: the base passes `kb check`; a copy with the alternate added passes
it too; an engine built on that copy ranks the alternate's entry first for the question (the
alternate is not closer to another entry); and accuracy on every labelled set does not drop.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import Engine
from ..engine.check import errors, validate
from ..engine.knowledge import KnowledgeBase
from ..engine.normalize import compact
from .proposals import ANSWER_KINDS, Kind, Proposal, is_sensitive
from .yamledit import EditError, add_alternate, unified_diff

MAX_LISTED = 8  # regressions or check errors named in a refusal


class Refused(Exception):
    """An accept that would harm the knowledge base; the message is the reason."""


@dataclass(frozen=True)
class LabelledSet:
    """Questions labelled with the entry they must get (None: must be refused)."""

    name: str
    items: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class Score:
    """How an engine does on one labelled set: right answers, and which questions it gets wrong."""

    right: int
    total: int
    wrong: frozenset[str] = field(default=frozenset())


def labelled_sets() -> list[LabelledSet]:
    """The dev set and every held-out set (tests/data/devset.yaml, holdout*.yaml), as
    benchmarks/evaluate.py reads them; [] outside a checkout."""
    from benchmarks.evaluate import DATA, load_set

    names = ["devset", *sorted(p.stem for p in DATA.glob("holdout*.yaml"))]
    return [LabelledSet(n, tuple((i.q, i.id) for i in load_set(n)))
            for n in names if (DATA / f"{n}.yaml").is_file()]


def predictor(engine: Engine) -> Callable[[str], str | None]:
    """Question → the entry the engine answers with (a case verdict counts), or None."""

    def predict(question: str) -> str | None:
        reply = engine.answer(question)
        return reply.entry_id if reply.kind in ANSWER_KINDS else None

    return predict


def score(engine: Engine, labelled: LabelledSet) -> Score:
    """The engine's accuracy on one labelled set (scored by benchmarks/evaluate.py)."""
    from benchmarks.evaluate import Item, evaluate

    result = evaluate([Item(q, want, "plain") for q, want in labelled.items], predictor(engine))
    return Score(result.answerable_right + result.refusals_right, result.total,
                 frozenset(item.q for item, _ in result.failures))


@dataclass(frozen=True)
class Accepted:
    """An alternate written: the file and the change."""

    proposal: Proposal
    file: Path
    diff: str
    note: str = ""


class Curator:
    """Accepts alternates into one knowledge folder, one at a time, each checked against the last."""

    def __init__(self, root: Path, labelled: Sequence[LabelledSet], engine: Engine | None = None) -> None:
        self.root = root
        self.labelled = list(labelled)
        if not self.labelled:
            raise Refused("no labelled question sets found (tests/data/devset.yaml, holdout*.yaml): "
                          "accuracy cannot be checked")
        self.kb = self._checked(root, "the knowledge base")
        self.engine = engine if engine is not None and engine.kb.digest == self.kb.digest else Engine(self.kb)
        self._scores: dict[str, Score] | None = None

    @property
    def scores(self) -> dict[str, Score]:
        """The current engine's accuracy on each labelled set (computed when first needed)."""
        if self._scores is None:
            self._scores = {s.name: score(self.engine, s) for s in self.labelled}
        return self._scores

    @staticmethod
    def _checked(root: Path, what: str) -> KnowledgeBase:
        kb, problems = validate(root)
        bad = errors(problems)
        if kb is None or bad:
            listing = "\n  ".join(str(p) for p in bad[:MAX_LISTED]) or "it cannot be loaded"
            raise Refused(f"{what} fails `kb check`:\n  {listing}")
        return kb

    def accept(self, proposal: Proposal) -> Accepted:
        """Write one alternate after every check; raises Refused with the reason otherwise."""
        if proposal.kind is not Kind.ALTERNATE or not proposal.entry:
            raise Refused(f"a {proposal.kind.value} proposal cannot be accepted automatically: "
                          + ("write the new entry (with its answer and source) by hand"
                             if proposal.kind is Kind.NEW_ENTRY else "re-read the entry's answer by hand")
                          + f", then `python -m bot kb reject {proposal.id}`")
        entry = self.kb.entries.get(proposal.entry)
        if entry is None:
            raise Refused(f"entry '{proposal.entry}' is not in {self.root}")
        question = proposal.question.strip()
        if is_sensitive(question):
            raise Refused("the question holds an ID, card or phone number or a password")
        form = compact(question)
        for other in self.kb.entries.values():
            if form in {compact(v) for v in other.variants}:
                where = "already a question of this entry" if other.id == entry.id else \
                    f"already a question of '{other.id}'"
                raise Refused(f"'{question}' is {where}")
        old = entry.file.read_text(encoding="utf-8")
        try:
            new = add_alternate(old, entry.id, question)
        except EditError as exc:
            raise Refused(f"{entry.file}: {exc}") from exc
        engine = self._trial(entry.file, new, proposal)
        note, scores = self._guard(engine, proposal)
        _write(entry.file, new)
        self.kb, self.engine, self._scores = engine.kb, engine, scores
        try:
            name = str(entry.file.relative_to(self.root.parent))
        except ValueError:
            name = str(entry.file)
        return Accepted(proposal, entry.file, unified_diff(old, new, name), note)

    def _trial(self, file: Path, new: str, proposal: Proposal) -> Engine:
        """An engine on a scratch copy of the folder with the edited file."""
        with tempfile.TemporaryDirectory(prefix="shebao-accept-") as scratch:
            copy = Path(scratch) / self.root.name
            shutil.copytree(self.root, copy)
            (copy / file.relative_to(self.root)).write_text(new, encoding="utf-8")
            kb = self._checked(copy, f"with '{proposal.question}' added, the knowledge base")
            engine = Engine(kb)
        # The files are gone; the engine only needs the parsed base. Point it back at the
        # real folder so that later edits read and write the real files.
        engine.kb = _rebased(engine.kb, copy, self.root)
        return engine

    def _guard(self, engine: Engine, proposal: Proposal) -> tuple[str, dict[str, Score]]:
        """Refuse when the alternate is closer to another entry or accuracy drops; else a note
        and the new engine's accuracy."""
        reply, match = engine.answer_and_match(proposal.question)
        ranking = match.ranking if match is not None else ()
        top = ranking[0] if ranking else None
        if top is None or top[0] != proposal.entry:
            mine = next((s for k, s in ranking if k == proposal.entry), 0.0)
            other = f"'{top[0]}' ({top[1]:.2f})" if top else "nothing"
            raise Refused(f"even as an alternate of '{proposal.entry}' ({mine:.2f}), "
                          f"'{proposal.question}' is closer to {other}")
        drops: list[str] = []
        traded: list[str] = []
        scores: dict[str, Score] = {}
        predict = predictor(engine)
        for labelled in self.labelled:
            before, after = self.scores[labelled.name], score(engine, labelled)
            scores[labelled.name] = after
            lost = sorted(after.wrong - before.wrong)
            if not lost:
                continue
            want = dict(labelled.items)
            shown = "; ".join(f"'{q}' ({want[q] or 'refuse'} → {predict(q) or 'no answer'})"
                              for q in lost[:MAX_LISTED])
            line = (f"{labelled.name}: {before.right}/{before.total} → "
                    f"{after.right}/{after.total} right; now wrong: {shown}")
            (drops if after.right < before.right else traded).append(line)
        if drops:
            raise Refused("accuracy on the labelled questions would drop:\n  " + "\n  ".join(drops))
        notes = [f"note: as many right as before, but other questions change ({t})" for t in traded]
        if reply.kind not in ANSWER_KINDS or reply.entry_id != proposal.entry:
            rule = getattr(match, "rule", "")  # the confidence policy's rule, when it names one
            why = f"rule '{rule}', " if rule else ""
            notes.append(f"note: '{proposal.entry}' now ranks first for '{proposal.question}', but "
                         f"the bot would still reply '{reply.kind}' ({why}score {top[1]:.2f})")
        return "\n".join(notes), scores


def _rebased(kb: KnowledgeBase, old: Path, new: Path) -> KnowledgeBase:
    """The base with file paths under `old` moved to `new`."""
    from dataclasses import replace

    def moved(path: Path) -> Path:
        try:
            return new / path.relative_to(old)
        except ValueError:
            return path

    kb.root = new
    kb.entries = {k: replace(e, file=moved(e.file)) for k, e in kb.entries.items()}
    kb.categories = [replace(c, file=moved(c.file) if c.file else None) for c in kb.categories]
    return kb


def _write(path: Path, text: str) -> None:
    """Replace a file atomically (a reader never sees half a file), keeping its permissions."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
