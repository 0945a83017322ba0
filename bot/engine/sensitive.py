"""Spot ID numbers, bank cards, phone numbers and passwords in text; warn about them and redact them."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from . import messages as msg

ID, CARD, PHONE, PASSWORD = "id", "card", "phone", "password"
# What each kind is called in the warning, and the placeholder that replaces it in logs.
KIND_NAMES = {ID: "身份证号", CARD: "银行卡号", PHONE: "手机号", PASSWORD: "密码"}
PLACEHOLDER = "[{name}已隐藏]"

ID_LENGTH = 18
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"  # GB 11643: check character for (weighted sum mod 11)
ID_OLDEST_YEAR = 1900
CARD_LENGTHS = range(16, 20)  # bank cards issued in China have 16 to 19 digits
PHONE_RE = re.compile(r"1[3-9]\d{9}")
PHONE_COUNTRY_CODE = "86"
# The longest number looked for (a 19-digit card), and the most groups it may be typed in
# ("+86 138 0013 8000", "6222 0202 0000 1234 562", "110 101 1990 0307 4514"): every span of
# digit groups within both bounds is tried, so the work grows linearly with the text.
MAX_NUMBER_CHARS = 19
MAX_GROUPS = 6

# Full-width digits, X, spaces, hyphens, full stops and low lines as typed with a Chinese input
# method (and the other hyphens), mapped one to one so that offsets in the mapped text are
# offsets in the original.
_HALF_WIDTH = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)},
                             "Ｘ": "X", "ｘ": "x", "\u3000": " ", "－": "-", "．": ".", "＿": "_",
                             "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
                             "\u2212": "-"})
# Digit groups joined by one or two spaces, or by a dash, dot or low line ("6222 0202 …",
# "138-0013-8000", "138.0013.8000"); an X may end a group (the last character of an ID number).
# A run may touch letters ("ID11010519491231002X", "tel13800138000") but not other digits.
_SEPARATOR = r"(?:[ \u00a0]{1,2}|[ \u00a0]?[-._][ \u00a0]?)"
_DIGIT_RUN = re.compile(rf"(?<![0-9])[0-9]+[Xx]?(?:{_SEPARATOR}[0-9]+[Xx]?)*(?![0-9])")
_GROUP = re.compile(r"[0-9]+[Xx]?")
# "密码是abc123", "密码:123456", "pwd abc123", "password is hunter22".
_PASSWORD = re.compile(
    r"(?i)(?<![a-z])(?:密码|口令|passwd|password|pwd|pin码?)"
    r"(?P<sep>\s*(?:是|为|:|：|=|is\b)\s*|\s*)"
    r"(?P<value>[\x21-\x7e]{4,64})"
)


@dataclass(frozen=True)
class Finding:
    """One piece of sensitive data: its kind (id, card, phone, password) and where it is."""

    kind: str
    start: int
    end: int


def id_check_ok(number: str) -> bool:
    """Whether an 18-character ID number has a valid GB 11643 check character and birth date."""
    number = number.upper()
    if len(number) != ID_LENGTH or not number[:-1].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:-1], ID_WEIGHTS, strict=True))
    if ID_CHECK_CHARS[total % 11] != number[-1]:
        return False
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return ID_OLDEST_YEAR <= born.year <= dt.date.today().year


def luhn_ok(digits: str) -> bool:
    """Whether a digit string passes the Luhn check used by bank cards."""
    if not digits.isdigit():
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _classify(chars: str) -> str | None:
    """The kind of a number written without separators, or None."""
    if len(chars) == ID_LENGTH and id_check_ok(chars):
        return ID
    if not chars.isdigit():  # an X only ends an ID number
        return None
    if PHONE_RE.fullmatch(chars) or (
        chars.startswith(PHONE_COUNTRY_CODE) and PHONE_RE.fullmatch(chars[len(PHONE_COUNTRY_CODE):])
    ):
        return PHONE
    if len(chars) in CARD_LENGTHS and luhn_ok(chars):
        return CARD
    return None


def _separator_kind(between: str) -> str:
    """What joins two digit groups: " " for spaces, else the dash, dot or low line."""
    return between.strip(" \u00a0") or " "


def _typed_in_groups(groups: list[tuple[int, int, str, str]]) -> list[Finding]:
    """Numbers made of several groups joined by one kind of separator, longest first.

    `groups` are (start, end, characters, separator before it) of consecutive groups, none of
    which is a number on its own. Only spans of at most MAX_GROUPS groups and MAX_NUMBER_CHARS
    characters are tried, so a long run of digits costs linear time.
    """
    found: list[Finding] = []
    i = 0
    while i < len(groups):
        best: tuple[int, str] | None = None
        chars = groups[i][2]
        for j in range(i + 1, min(len(groups), i + MAX_GROUPS)):
            chars += groups[j][2]
            if len(chars) > MAX_NUMBER_CHARS or (j > i + 1 and groups[j][3] != groups[i + 1][3]):
                break  # too long, or another separator: "2024-12-02 6222 …" is not one number
            kind = _classify(chars)
            if kind:
                best = (j, kind)
        if best is None:
            i += 1
            continue
        j, kind = best
        found.append(Finding(kind, groups[i][0], groups[j][1]))
        i = j + 1
    return found


def _numbers(text: str) -> list[Finding]:
    """ID, card and phone numbers: digit groups that are one by themselves, then spans of groups."""
    found: list[Finding] = []
    for run in _DIGIT_RUN.finditer(text):
        groups: list[tuple[int, int, str, str]] = []
        at = run.start()
        for m in _GROUP.finditer(text, run.start(), run.end()):
            groups.append((m.start(), m.end(), m.group(), _separator_kind(text[at:m.start()])))
            at = m.end()
        pending: list[tuple[int, int, str, str]] = []  # groups that are no number on their own
        for group in groups:
            start, end, chars, _ = group
            kind = _classify(chars)
            if kind is None and chars[-1] in "Xx":  # "tel13800138000x": the x is a letter
                end, kind = end - 1, _classify(chars[:-1])
            if kind is None:
                pending.append(group)
                continue
            found += _typed_in_groups(pending)
            found.append(Finding(kind, start, end))
            pending = []
        found += _typed_in_groups(pending)
    return found


def _passwords(text: str) -> list[Finding]:
    """Values typed after a password keyword; without an explicit 是/:/= they must hold a digit."""
    found = []
    for m in _PASSWORD.finditer(text):
        explicit = m.group("sep").strip() != ""
        if explicit or any(c.isdigit() for c in m.group("value")):
            found.append(Finding(PASSWORD, m.start("value"), m.end("value")))
    return found


def find(text: str) -> list[Finding]:
    """Every piece of sensitive data in `text`, in order, without overlaps."""
    mapped = text.translate(_HALF_WIDTH)
    candidates = sorted(_numbers(mapped) + _passwords(mapped), key=lambda f: (f.start, -f.end))
    kept: list[Finding] = []
    for finding in candidates:
        if not kept or finding.start >= kept[-1].end:
            kept.append(finding)
    return kept


def _replace(text: str, findings: list[Finding], mask: dict[str, str]) -> str:
    out, at = [], 0
    for f in findings:
        out += [text[at:f.start], mask[f.kind]]
        at = f.end
    out.append(text[at:])
    return "".join(out)


def redact(text: str) -> str:
    """`text` with each finding replaced by a placeholder such as [身份证号已隐藏]."""
    findings = find(text)
    if not findings:
        return text
    return _replace(text, findings, {k: PLACEHOLDER.format(name=n) for k, n in KIND_NAMES.items()})


def remove(text: str) -> str:
    """`text` with each finding replaced by a space: what is left to pass on to the matcher."""
    return _replace(text, find(text), dict.fromkeys(KIND_NAMES, " "))


def describe(findings: list[Finding]) -> str:
    """What was found, in Chinese: 身份证号、手机号和密码."""
    names = list(dict.fromkeys(KIND_NAMES[f.kind] for f in findings))
    return names[0] if len(names) == 1 else "、".join(names[:-1]) + "和" + names[-1]


def warning_for(findings: list[Finding]) -> str | None:
    """The warning for a message with sensitive data, or None when nothing was found."""
    if not findings:
        return None
    return msg.NUMBER_WARNING.format(what=describe(findings))


class RedactingFilter(logging.Filter):
    """A logging filter that redacts sensitive data from messages, arguments and tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message (with its arguments merged in) by its redacted form."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add a RedactingFilter to every handler of `logger` (the root logger by default), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
