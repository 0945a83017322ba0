"""Add an alternate to an entry of a FAQ file with ruamel.yaml's round trip: comments, order and
quoting stay as the curator wrote them, and the result is verified before it is used."""

from __future__ import annotations

import difflib
import io
from typing import Any, cast

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

# Indentation styles tried, in order, until one reproduces the file byte for byte:
# (mapping, sequence, offset). The shipped files use the first.
INDENT_STYLES = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (2, 4, 0))
LINE_WIDTH = 4096  # never fold a long line


class EditError(ValueError):
    """The file cannot be edited safely; the message says why."""


def _yaml(style: tuple[int, int, int]) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = LINE_WIDTH
    mapping, sequence, offset = style
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    return y


def _dump(y: YAML, doc: Any) -> str:
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


def _round_trip(text: str) -> tuple[YAML, Any]:
    """A loader whose dump of the unchanged document is the text itself, and the document."""
    for style in INDENT_STYLES:
        y = _yaml(style)
        try:
            doc = y.load(text)
        except YAMLError as exc:
            raise EditError(f"invalid YAML: {exc}") from exc
        if _dump(y, doc) == text:
            return y, doc
    raise EditError("its layout does not survive a YAML round trip unchanged; add the alternate by hand")


def _entry(doc: Any, entry_id: str) -> CommentedMap:
    entries = doc.get("entries") if isinstance(doc, CommentedMap) else None
    for item in entries or []:
        if isinstance(item, CommentedMap) and str(item.get("id")) == entry_id:
            return item
    raise EditError(f"entry '{entry_id}' is not in this file")


def _styled(question: str, seq: CommentedSeq) -> str:
    """The new item quoted like the item before it (plain when that one is plain)."""
    last = seq[-1] if len(seq) else None
    if isinstance(last, DoubleQuotedScalarString):
        return cast(str, DoubleQuotedScalarString(question))  # a str subclass that keeps its quotes
    if isinstance(last, SingleQuotedScalarString):
        return cast(str, SingleQuotedScalarString(question))
    return question


def _append(seq: CommentedSeq, value: str) -> None:
    """Append to a block sequence, keeping comment lines that followed its last item after it.

    ruamel.yaml attaches the comment lines after a sequence's last item (up to the next key) to
    that item: a plain append would put the new item below them. The end-of-line comment stays
    with the old item; the lines after it move to the new one.
    """
    last = len(seq) - 1
    seq.append(value)
    if last < 0 or last not in seq.ca.items:
        return
    slots = seq.ca.items[last]
    token = slots[0]
    if not isinstance(token, CommentToken):
        return
    head, newline, rest = token.value.partition("\n")
    if not newline or not rest:
        return
    if head:
        token.value = head + "\n"
    else:
        del seq.ca.items[last]
    moved = CommentToken("\n" + rest, token.start_mark, None)
    seq.ca.items[last + 1] = [moved, None, None, None]


def _marked_lines(text: str) -> list[str]:
    """Every line with a # in it: comments (and any # in a value), which must all survive."""
    return [line for line in text.splitlines() if "#" in line]


def _is_subsequence(needles: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(n == h for h in it) for n in needles)


def add_alternate(text: str, entry_id: str, question: str) -> str:
    """`text` (one FAQ file) with `question` appended to the alternates of `entry_id`.

    Raises EditError when the file cannot be edited without disturbing it: the result must
    parse to the same data plus the alternate, and keep every comment line in order.
    """
    y, doc = _round_trip(text)
    item = _entry(doc, entry_id)
    alternates = item.get("alternates")
    if alternates is None:
        item["alternates"] = CommentedSeq([question])
    elif isinstance(alternates, CommentedSeq):
        _append(alternates, _styled(question, alternates))
    else:
        raise EditError(f"the alternates of '{entry_id}' are not a list")
    new = _dump(y, doc)
    expected = yaml.safe_load(text)
    for entry in expected.get("entries") or []:
        if isinstance(entry, dict) and str(entry.get("id")) == entry_id:
            entry["alternates"] = [*(entry.get("alternates") or []), question]
    if yaml.safe_load(new) != expected:
        raise EditError("the edited file would not read back as the same data plus the alternate")
    if not _is_subsequence(_marked_lines(text), new.splitlines()):
        raise EditError("the edit would move or lose a comment line; add the alternate by hand")
    return new


def unified_diff(old: str, new: str, name: str) -> str:
    """The change as a unified diff (git's a/ b/ naming)."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"a/{name}", tofile=f"b/{name}"))
