"""CLI input from hostile or careless sources: very long lines, invalid UTF-8, odd locales."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot import jsonl
from bot.analytics import MAX_QUESTION_CHARS
from bot.cli import build_parser, cmd_ask, cmd_match
from bot.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
LONG_LINE = "社保卡" + "能不能坐地铁" * 16_666  # about 100,000 characters
BATCH = (
    "苏州能跨省共济吗\n".encode()
    + b"\xff\xfe bad bytes \xe4\xbd\n"  # not UTF-8, and a sequence cut short
    + "社保卡\u2028有啥用\u2029\n".encode()  # line and paragraph separators inside a question
    + b"\xed\xa0\x80 surrogate\r\n"  # an encoded surrogate: invalid UTF-8 too
    + "设保卡有啥用\n".encode()
)


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts Engine.answer was given."""
    seen: list[str] = []
    answer = Engine.answer

    def spy(self: Engine, text: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(text)
        return answer(self, text, *args, **kwargs)

    monkeypatch.setattr(Engine, "answer", spy)
    return seen


def test_ask_matches_at_most_what_telegram_would(engine: Engine, answered: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A 100,000-character question is cut to MAX_QUESTION_CHARS before matching."""
    args = build_parser().parse_args(["ask", LONG_LINE, "--json"])
    assert cmd_ask(args) == 0
    assert [len(t) for t in answered] == [MAX_QUESTION_CHARS]
    assert json.loads(capsys.readouterr().out)["id"] is not None


def test_match_cuts_long_lines(engine: Engine, answered: list[str]) -> None:
    """The matcher sees at most MAX_QUESTION_CHARS; the query echoed is what was matched."""
    args = build_parser().parse_args(["match", "--jsonl"])
    stdout = io.StringIO()
    assert cmd_match(args, io.StringIO(LONG_LINE + "\n社保卡有啥用\n"), stdout) == 0
    rows = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [len(t) for t in answered] == [MAX_QUESTION_CHARS, len("社保卡有啥用")]
    assert rows[0]["query"] == LONG_LINE[:MAX_QUESTION_CHARS] and rows[1]["id"] == "card-uses"


def test_json_line_escapes_line_separators() -> None:
    """ensure_ascii=False keeps Chinese readable; U+2028/U+2029 are escaped all the same."""
    line = jsonl.json_line({"q": "社保\u2028卡\u2029"})
    assert line == '{"q": "社保\\u2028卡\\u2029"}\n'
    assert json.loads(line) == {"q": "社保\u2028卡\u2029"}


@pytest.mark.parametrize("env", [
    {"PYTHONIOENCODING": "utf-8:strict"},  # a strict UTF-8 locale: one bad byte used to abort
    {"LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0", "PYTHONIOENCODING": "ascii"},
    {"LC_ALL": "C.UTF-8"},
])
def test_match_jsonl_survives_bad_bytes_in_any_locale(env: dict[str, str]) -> None:
    """Invalid UTF-8 never aborts the batch nor comes back out; output is UTF-8 JSON Lines with
    U+2028/U+2029 escaped, one line per question, in order."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ("LANG", "LC_ALL", "LC_CTYPE", "PYTHONIOENCODING", "PYTHONUTF8")}
    out = subprocess.run([sys.executable, "-m", "bot", "match", "--jsonl"], cwd=ROOT, input=BATCH,
                         capture_output=True, timeout=120, env={**environ, **env})
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    assert b"\xe2\x80\xa8" not in out.stdout and b"\xe2\x80\xa9" not in out.stdout  # raw U+2028/9
    lines = out.stdout.decode("utf-8").splitlines()  # strict: the output is valid UTF-8
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 5
    assert rows[0]["id"] == "sharing-cross-province" and rows[4]["id"] == "card-uses"
    assert rows[1]["query"] == "\ufffd\ufffd bad bytes \ufffd"
    assert rows[2]["query"] == "社保卡\u2028有啥用\u2029"
    assert rows[3]["query"].endswith(" surrogate") and "\ufffd" in rows[3]["query"]


def test_match_skips_the_rest_of_a_line_longer_than_the_limit(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line longer than MAX_LINE_BYTES is read up to the limit; the next line is the next query."""
    monkeypatch.setattr(jsonl, "MAX_LINE_BYTES", 64)
    stdin = io.TextIOWrapper(io.BytesIO(("问" * 100 + "\n社保卡有啥用\n").encode()), encoding="utf-8")
    stdout = io.StringIO()
    args = build_parser().parse_args(["match", "--jsonl"])
    assert cmd_match(args, stdin, stdout) == 0
    rows = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [r["query"] for r in rows] == ["问" * 21 + "\ufffd", "社保卡有啥用"]
