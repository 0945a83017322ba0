"""Spot ID numbers, bank cards, phone numbers and passwords in text; warn about them and redact them.

Numbers are looked for in a normalised copy of the text: digits of any script (full-width,
Arabic-Indic, mathematical, and Chinese 〇一二…/幺/壹贰…) become ASCII digits, full-width ASCII
becomes ASCII, and invisible format characters (a zero-width space inside a number) are dropped.
Offsets are mapped back, so what is redacted or removed is the span of the original text.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from . import messages as msg

ID, CARD, PHONE, PASSWORD = "id", "card", "phone", "password"
# What each kind is called in the warning, and the placeholder that replaces it in logs.
KIND_NAMES = {ID: "身份证号", CARD: "银行卡号", PHONE: "手机号", PASSWORD: "密码"}
PLACEHOLDER = "[{name}已隐藏]"

ID_LENGTH = 18
ID_OLDEST_YEAR = 1900
CARD_LENGTHS = range(16, 20)  # bank cards issued in China have 16 to 19 digits
# A number typed in groups is a card only when it starts like one (UnionPay 62…, Visa 4…,
# Mastercard 5…, JCB/Amex 3…, old domestic debit cards 9…): a list of years or amounts that
# happens to pass Luhn ("2020 2021 2022 2023") is not.
CARD_FIRST_DIGITS = "34569"
PHONE_RE = re.compile(r"1[3-9]\d{9}")
PHONE_COUNTRY_CODE = "86"
# The longest number looked for (a 19-digit card); it may be typed in as many groups as it has
# digits ("1 3 8 0 0 1 3 8 0 0 0"). Every span of groups within that bound is tried, so the work
# grows linearly with the text.
MAX_NUMBER_CHARS = 19
MAX_GROUPS = MAX_NUMBER_CHARS
MIN_NUMBER_CHARS = 11  # the shortest number looked for: a mobile number

# Chinese digits as people read a number out digit by digit (幺 is 1 on the phone), and the
# financial forms; 十/百/千 are not digits of a number typed this way and are left alone.
CHINESE_DIGITS = {
    "〇": "0", "零": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
    "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
    "壹": "1", "贰": "2", "貳": "2", "叁": "3", "參": "3", "肆": "4", "伍": "5", "陆": "6",
    "陸": "6", "柒": "7", "捌": "8", "玖": "9",
}
# Other characters mapped one to one: the ideographic space and the hyphens and minus signs.
_OTHER = {"\u3000": " ", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
          "\u2014": "-", "\u2212": "-", "\ufe63": "-"}
_FULL_WIDTH_ASCII = range(0xFF01, 0xFF5F)  # ！ to ～: ASCII plus 0xFEE0
_FULL_WIDTH_OFFSET = 0xFEE0
MAX_CACHED_CHARS = 20_000  # characters whose normal form is remembered
PAREN = ")"  # "(138)0013-8000": a closing parenthesis goes with any other separator

# Digit groups joined by one or two spaces or a tab, by a newline, by a dash, dot, low line,
# comma, slash or star (with a space either side at most), or by a closing parenthesis; an
# opening parenthesis may come before a group and an X may end one (the last character of an ID
# number). A run may touch letters ("ID11010519491231002X", "tel13800138000") but not digits.
_SEPARATOR = (r"(?:[ \u00a0\t]{1,2}|[ \u00a0\t]?\r?\n[ \u00a0\t]?|[ \u00a0]?[-._,/*][ \u00a0]?"
              r"|\)[ \u00a0]?)")
_DIGIT_RUN = re.compile(
    rf"(?<![0-9])\(?[0-9]+[Xx]?(?:{_SEPARATOR}\(?[0-9]+[Xx]?)*(?![0-9])")
_GROUP = re.compile(r"[0-9]+[Xx]?")
# "密码是abc123", "密 码 是 abc123", "密碼:123456", "pwd abc123", "password is hunter22",
# "pass: abc123". A strong keyword may be followed by the value directly (then it must hold a
# digit); "pass" needs an explicit 是/:/=/is ("passport", "pass the test" are no passwords).
_PASSWORD = re.compile(
    r"(?i)(?<![a-z])(?:(?P<strong>密\s{0,2}[码碼]|口\s{0,2}令|passw(?:or)?d|pwd|pin(?:\s{0,2}[码碼])?)"
    r"|(?P<weak>pass))"
    r"(?P<sep>\s*(?:是|为|為|:|=|is\b)\s*|\s*)"
    r"(?P<value>[\x21-\x7e]{4,64})"
)


@dataclass(frozen=True)
class Finding:
    """One piece of sensitive data: its kind (id, card, phone, password) and where it is."""

    kind: str
    start: int
    end: int


class _Normaliser(dict[int, str | None]):
    """A str.translate table built as characters are met: each maps to one character or none."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        value: str | None
        if unicodedata.category(char) == "Cf":  # zero-width space, joiners, soft hyphen, BOM…
            value = None
        elif char in CHINESE_DIGITS:
            value = CHINESE_DIGITS[char]
        elif (digit := unicodedata.decimal(char, None)) is not None:  # ١ ۱ ９ 𝟗 …
            value = str(digit)
        elif code in _FULL_WIDTH_ASCII:
            value = chr(code - _FULL_WIDTH_OFFSET)
        else:
            value = _OTHER.get(char, char)
        if len(self) < MAX_CACHED_CHARS:  # bounded: text may hold any of a million code points
            self[code] = value
        return value


_NORMALISER = _Normaliser()


def normalise(text: str) -> tuple[str, list[int] | None]:
    """The text searched, and where each of its characters is in `text` (None: same places).

    The list has one more element than the normalised text: len(text), for end offsets.
    """
    if text.isascii():
        return text, None
    mapped = text.translate(_NORMALISER)
    if len(mapped) == len(text):
        return mapped, None
    origin = [i for i, char in enumerate(text) if _NORMALISER[ord(char)] is not None]
    origin.append(len(text))
    return mapped, origin


def id_check_ok(number: str) -> bool:
    """Whether 18 characters are a resident ID number: GB 11643 check character and birth date.

    The check is python-stdnum's (stdnum.cn.ric); its birth-place lookup is left out, as a
    number from a county since renamed must still be hidden.
    """
    number = number.upper()
    if len(number) != ID_LENGTH or not number[:-1].isdigit():
        return False
    try:
        if ric.calc_check_digit(number) != number[-1]:
            return False
        born = ric.get_birth_date(number)
    except (ValidationError, ValueError):
        return False
    return ID_OLDEST_YEAR <= born.year <= dt.date.today().year


def luhn_ok(digits: str) -> bool:
    """Whether a digit string passes the Luhn check used by bank cards (stdnum.luhn)."""
    return digits.isascii() and digits.isdigit() and luhn.is_valid(digits)


@functools.lru_cache(maxsize=4096)
def _classify(chars: str, grouped: bool = False) -> str | None:
    """The kind of a number written without separators (`grouped`: assembled from groups)."""
    if len(chars) == ID_LENGTH and id_check_ok(chars):
        return ID
    if not chars.isdigit():  # an X only ends an ID number
        return None
    if PHONE_RE.fullmatch(chars) or (
        chars.startswith(PHONE_COUNTRY_CODE) and PHONE_RE.fullmatch(chars[len(PHONE_COUNTRY_CODE):])
    ):
        return PHONE
    if len(chars) in CARD_LENGTHS and (not grouped or chars[0] in CARD_FIRST_DIGITS) \
            and luhn_ok(chars):
        return CARD
    return None


def _separator_kind(between: str) -> str:
    """What joins two digit groups: " " for spaces, "\\n" for a line break, else the character."""
    if ")" in between:
        return PAREN
    if "\n" in between:
        return "\n"
    return between.strip(" \u00a0\t(") or " "


def _typed_in_groups(text: str, groups: list[tuple[int, int, str, str]]) -> list[Finding]:
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
        joiner = ""
        for j in range(i + 1, min(len(groups), i + MAX_GROUPS)):
            chars += groups[j][2]
            kind_here = groups[j][3]
            if kind_here != PAREN:
                if joiner and kind_here != joiner:
                    break  # another separator: "2024-12-02 6222 …" is not one number
                joiner = kind_here
            if len(chars) > MAX_NUMBER_CHARS:
                break
            kind = _classify(chars, grouped=True) if len(chars) >= MIN_NUMBER_CHARS else None
            if kind:
                best = (j, kind)
        if best is None:
            i += 1
            continue
        j, kind = best
        start = groups[i][0]
        if any(group[3] == PAREN for group in groups[i + 1:j + 1]) and text[start - 1:start] == "(":
            start -= 1  # "(138)0013-8000" is hidden whole
        found.append(Finding(kind, start, groups[j][1]))
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
            found += _typed_in_groups(text, pending)
            found.append(Finding(kind, start, end))
            pending = []
        found += _typed_in_groups(text, pending)
    return found


def _passwords(text: str) -> list[Finding]:
    """Values typed after a password keyword; without an explicit 是/:/= they must hold a digit."""
    found = []
    for m in _PASSWORD.finditer(text):
        explicit = m.group("sep").strip() != ""
        if explicit or (m.group("strong") and any(c.isdigit() for c in m.group("value"))):
            found.append(Finding(PASSWORD, m.start("value"), m.end("value")))
    return found


def find(text: str) -> list[Finding]:
    """Every piece of sensitive data in `text`, in order, without overlaps."""
    mapped, origin = normalise(text)
    candidates = sorted(_numbers(mapped) + _passwords(mapped), key=lambda f: (f.start, -f.end))
    kept: list[Finding] = []
    for finding in candidates:
        if not kept or finding.start >= kept[-1].end:
            kept.append(finding)
    if origin is None:
        return kept
    return [Finding(f.kind, origin[f.start], origin[f.end - 1] + 1) for f in kept]


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


def install_log_redaction(logger: logging.Logger | None = None,
                          secrets: Iterable[str | None] = ()) -> None:
    """Put one bot.logsafe.SafeLogFilter (a RedactingFilter that also masks bot tokens and these
    `secrets`) on every handler of `logger` (the root logger by default)."""
    from ..logsafe import install  # bot.logsafe builds on this module

    install(secrets, logger)
