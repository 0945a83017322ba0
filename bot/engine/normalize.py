"""Clean up text as people type it: width, Traditional characters, case, emoji and punctuation."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

# Everything that is not a CJK ideograph, a Latin letter or a digit becomes a space.
_NOISE = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")
_SPACES = re.compile(r"\s+")
_MENTION = re.compile(r"@\w+")
# "能用不" / "交了没": a clause-final 不 or 没 is the spoken form of the question particle 吗.
_CLAUSE_END = r"(?=[啊呀呢嘛哇吧啦]?(?:[\s,.!?;:~、，。！？；：…]|$))"
_TAG_QUESTION = re.compile(r"(?<=[\u4e00-\u9fff])(?:不|没有|没)" + _CLAUSE_END)


@lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc  # on first use: most commands never fold text

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=4096)
def to_simplified(text: str) -> str:
    """Convert Traditional characters to Simplified (OpenCC t2s); leaves Simplified unchanged."""
    return str(_converter().convert(text))


def fold(text: str) -> str:
    """Full-width to half-width, Traditional to Simplified, lower case, @mentions dropped."""
    # A lone surrogate (possible in JSON: "\ud800") cannot be encoded for OpenCC: replace it.
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = unicodedata.normalize("NFKC", text)
    text = _MENTION.sub(" ", text)
    text = to_simplified(text).lower()
    return _TAG_QUESTION.sub("吗", text)


def clean(text: str) -> str:
    """fold() and then reduce emoji, punctuation and symbols to single spaces."""
    return _SPACES.sub(" ", _NOISE.sub(" ", fold(text))).strip()


def compact(text: str) -> str:
    """clean() without spaces: the form used for character-level comparison."""
    return clean(text).replace(" ", "")
