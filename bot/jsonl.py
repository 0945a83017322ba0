"""JSON Lines for the command line: lines read as bytes whatever the locale, records written as UTF-8.

`python -m bot match --jsonl` reads questions from any source: a line that is not valid UTF-8
must neither abort the batch (a strict UTF-8 locale would raise) nor be echoed back as it came.
Its output is UTF-8 whatever the locale, readable (ensure_ascii=False), with U+2028 and U+2029
escaped (valid in JSON, but line breaks to JavaScript and to some line-based tools).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

MAX_LINE_BYTES = 1 << 20  # this much of a line is read; the rest of that line is skipped
LINE_SEPARATORS = {"\u2028": "\\u2028", "\u2029": "\\u2029"}


def input_lines(stdin: IO[Any]) -> Iterator[str]:
    """Lines of `stdin` (its binary buffer when it has one), each cut at MAX_LINE_BYTES.

    Bytes are decoded as UTF-8 with invalid sequences replaced by U+FFFD; a text stream without
    a buffer (a StringIO) has its lone surrogates replaced too.
    """
    source = getattr(stdin, "buffer", stdin)
    while True:
        line = source.readline(MAX_LINE_BYTES)
        if not line:
            return
        ending = b"\n" if isinstance(line, bytes) else "\n"
        if not line.endswith(ending):  # cut: skip the rest of this line
            while (rest := source.readline(MAX_LINE_BYTES)) and not rest.endswith(ending):
                pass
        if isinstance(line, bytes):
            yield line.decode("utf-8", errors="replace")
        else:
            yield line.encode("utf-8", errors="replace").decode("utf-8")


def json_line(obj: object) -> str:
    """One record: JSON with non-ASCII text as is but U+2028/U+2029 escaped, and a newline."""
    text = json.dumps(obj, ensure_ascii=False)
    for char, escaped in LINE_SEPARATORS.items():
        text = text.replace(char, escaped)
    return text + "\n"


def write_line(stdout: IO[Any], obj: object) -> None:
    """Write one record and flush: as UTF-8 bytes to the stream's buffer when it has one."""
    sink = getattr(stdout, "buffer", None)
    if sink is None:
        stdout.write(json_line(obj))
        stdout.flush()
        return
    stdout.flush()  # anything written as text goes first
    sink.write(json_line(obj).encode("utf-8"))
    sink.flush()
