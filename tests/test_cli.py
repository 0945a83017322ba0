"""The command line: ask, match --jsonl, chat over a pipe, kb check, and start-up errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.analytics import ANSWERED, CLI, FEEDBACK_DOWN, LoggingFeedbackSink, read_events
from bot.cli import build_parser, cmd_chat, cmd_match
from bot.conversation import Conversation, Show
from bot.conversation.terminal import TerminalChat
from bot.engine import messages as msg

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_ask_json_case_answer() -> None:
    out = _run("ask", "我外婆能用我的医保个账吗", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"id", "score", "text", "suggestions"}
    assert data["id"] == "sharing-relatives" and "外婆" in data["text"]


@pytest.mark.slow
def test_ask_plain_text_refusal() -> None:
    out = _run("ask", "养老金每个月能领多少")
    assert out.returncode == 0
    assert "12333" in out.stdout or "12393" in out.stdout


def test_match_jsonl_in_order(engine) -> None:  # noqa: ANN001 - fixture
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


def test_chat_reads_lines_and_runs_the_dialogue(tmp_path: Path) -> None:
    args = build_parser().parse_args(["chat", "--data-dir", str(tmp_path)])
    lines = "\n".join(["岳父能用我的医保吗", "/bind", "1", "1", "1", "下一步", "取消", "苏州能跨省共济吗"])
    stdin, stdout = io.StringIO(lines + "\n"), io.StringIO()
    assert cmd_chat(args, stdin, stdout) == 0
    text = stdout.getvalue()
    assert "岳父" in text and "❌" in text
    assert "哪位家人" in text and "[1] 配偶" in text
    assert "同一个省" in text and "哪种方式" in text
    assert "第 2/" in text  # typing a button's label ("下一步") presses it
    assert "首批" in text


@pytest.mark.slow
def test_chat_subprocess_exits_at_end_of_input(tmp_path: Path) -> None:
    out = _run("chat", "--data-dir", str(tmp_path), stdin="你好\n谢谢\n")
    assert out.returncode == 0
    assert "社保" in out.stdout and "不客气" in out.stdout


def test_chat_warns_about_an_id_number_and_records_feedback(tmp_path: Path) -> None:
    """The terminal screens like the private Telegram chat, and 👎 is recorded like any vote."""
    args = build_parser().parse_args(["chat", "--data-dir", str(tmp_path)])
    lines = ["我的身份证 11010519491231002X 外婆能用吗", "👎 没帮助", "/bind", "父母", "父母"]
    stdin, stdout = io.StringIO("\n".join(lines) + "\n"), io.StringIO()
    assert cmd_chat(args, stdin, stdout) == 0
    text = stdout.getvalue()
    assert msg.NUMBER_WARNING.format(what="身份证号") in text and "✅ 外婆" in text
    assert msg.FEEDBACK_THANKS in text
    # 父母 typed twice: the second is no button any more, so it is a question, not step 2's answer.
    assert text.count("同一个省参保吗") == 1 and msg.FLOW_RESUME_HINT in text
    assert "在哪个城市参保" not in text and "哪种方式" not in text
    events = read_events(tmp_path)
    assert [e.kind for e in events][:2] == [ANSWERED, FEEDBACK_DOWN]
    assert len(events) == 3 and events[2].question == "父母"  # the second 父母, asked
    assert events[1].entry_id == "sharing-relatives" and events[1].chat_type == CLI
    assert events[1].question is not None and "外婆" in events[1].question


def test_a_double_tap_in_the_terminal_acts_once(engine) -> None:  # noqa: ANN001 - fixture
    """The same dialogue button pressed twice: the second press is for a step already answered."""
    chat = TerminalChat(Conversation(engine, LoggingFeedbackSink()))
    chat.handle("/bind")
    parents = chat.labels["父母"]
    (step,) = chat.press(parents)
    assert "同一个省" in step.reply.body
    (again,) = chat.press(parents)
    assert again.show is Show.TOAST and again.reply.body == msg.FLOW_STEP_DONE
    assert chat.user.dialogue is not None and chat.user.dialogue.step == "cross"


@pytest.mark.slow
def test_kb_check_ok_and_failing(tmp_path: Path, kb_copy: Path) -> None:
    ok = _run("kb", "check")
    assert ok.returncode == 0 and "OK" in ok.stdout
    (kb_copy / "faq" / "card.yaml").write_text("entries: [\n", encoding="utf-8")
    bad = _run("kb", "check", str(kb_copy))
    assert bad.returncode == 1
    assert "card.yaml:" in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", [["ask", "你好"], ["chat"], ["match", "--jsonl"]])
def test_commands_refuse_a_broken_knowledge_base(kb_copy: Path, command: list[str]) -> None:
    (kb_copy / "relatives.yaml").write_text("near: [\n", encoding="utf-8")
    out = _run(*command, "--knowledge", str(kb_copy), stdin="你好\n")
    assert out.returncode == 1
    assert "relatives.yaml" in out.stderr
