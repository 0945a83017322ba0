"""The command line: ask, match --jsonl, chat over a pipe, kb check, and start-up errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot import cli
from bot.cli import build_parser, cmd_chat, cmd_match
from bot.engine import Engine

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture()
def shared_engine(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The commands run in this process use the session's engine instead of loading one."""
    monkeypatch.setattr(cli, "_engine", lambda args: engine)
    return engine


# ----- a few runs of the real command, as a shell script would start it -----


def test_subprocess_ask_json_case_answer() -> None:
    out = _run("ask", "我外婆能用我的医保个账吗", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"id", "score", "text", "suggestions"}
    assert data["id"] == "sharing-relatives" and "外婆" in data["text"]


def test_subprocess_chat_exits_at_end_of_input() -> None:
    out = _run("chat", stdin="你好\n谢谢\n")
    assert out.returncode == 0
    assert "社保" in out.stdout and "不客气" in out.stdout


def test_subprocess_refuses_a_broken_knowledge_base(kb_copy: Path) -> None:
    (kb_copy / "relatives.yaml").write_text("near: [\n", encoding="utf-8")
    out = _run("match", "--jsonl", "--knowledge", str(kb_copy), stdin="你好\n")
    assert out.returncode == 1
    assert "relatives.yaml" in out.stderr


# ----- the commands in this process -----


def test_ask_plain_text_refusal(shared_engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ask", "社保卡怎么激活"]) == 0
    assert "12333" in capsys.readouterr().out


def test_match_jsonl_in_order(shared_engine: Engine) -> None:
    args = build_parser().parse_args(["match", "--jsonl"])
    stdin = io.StringIO("苏州能跨省共济吗\n\n今天天气怎么样\n设保卡有啥用\n")
    stdout = io.StringIO()
    assert cmd_match(args, stdin, stdout) == 0
    rows = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [r["query"] for r in rows] == ["苏州能跨省共济吗", "今天天气怎么样", "设保卡有啥用"]
    assert rows[0]["id"] == "sharing-cross-province"
    assert rows[1]["id"] is None
    assert rows[2]["id"] == "card-uses"
    assert all(set(r) == {"query", "id", "score", "suggestions"} for r in rows)


def test_chat_reads_lines_and_runs_the_dialogue(shared_engine: Engine) -> None:
    args = build_parser().parse_args(["chat"])
    lines = "\n".join(["岳父能用我的医保吗", "/bind", "1", "1", "1", "下一步", "取消", "苏州能跨省共济吗"])
    stdin, stdout = io.StringIO(lines + "\n"), io.StringIO()
    assert cmd_chat(args, stdin, stdout) == 0
    text = stdout.getvalue()
    assert "岳父" in text and "❌" in text
    assert "哪位家人" in text and "[1] 配偶" in text
    assert "同一个省" in text and "哪种方式" in text
    assert "第 2/" in text  # typing a button's label ("下一步") presses it
    assert "首批" in text


def test_kb_check_ok_and_failing(kb_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["kb", "check"]) == 0
    assert "OK" in capsys.readouterr().out
    (kb_copy / "faq" / "card.yaml").write_text("entries: [\n", encoding="utf-8")
    assert cli.main(["kb", "check", str(kb_copy)]) == 1
    assert "card.yaml:" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["ask", "你好"], ["chat"], ["match", "--jsonl"]])
def test_commands_refuse_a_broken_knowledge_base(kb_copy: Path, command: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (kb_copy / "relatives.yaml").write_text("near: [\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        cli.main([*command, "--knowledge", str(kb_copy)])
    assert exited.value.code == 1
    assert "relatives.yaml" in capsys.readouterr().err
