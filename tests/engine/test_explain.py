"""`bot explain`: how a question was read, its candidates with their score parts, and the rule."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot import cli
from bot.engine import Engine
from bot.engine.explain import explain, table


def test_a_question_is_explained_step_by_step(engine: Engine) -> None:
    e = explain(engine, "设保卡丢了咋整")
    assert ("设", "社") in e.typo_repairs
    assert ("咋整", "怎么") in e.synonyms
    assert "社保卡" in e.words and "#how" in e.features
    assert e.evidence and "domain" in e.cues
    top = e.candidates[0]
    assert top.key == "card-lost" and e.entry == "card-lost"
    assert 0 <= top.score <= 1 and 0 <= top.learned <= 1
    assert {"variant", "coverage", "bm25", "anchored"} <= set(top.details)
    assert e.rule in ("exact", "sure", "clear-lead") and e.outcome == "answer"
    text = e.text()
    assert "card-lost" in text and "设→社" in text and e.rule in text


@pytest.mark.parametrize(
    ("question", "rule"),
    [("你好", "small-talk"), ("把我的医保卡给孙子去药店刷", "route → card-lend"),
     ("外婆能用我的医保个账吗", "verdict under sharing-relatives"), ("去韩国旅游要办签证吗", "not-ours")],
)
def test_the_deciding_rule_is_named(engine: Engine, question: str, rule: str) -> None:
    assert rule in explain(engine, question).rule


def test_the_explanation_agrees_with_the_answer(engine: Engine) -> None:
    for question in ("社保卡怎么激活", "共济", "公积金怎么提取", "苏州能跨省共济吗"):
        reply = engine.answer(question)
        e = explain(engine, question)
        assert (e.reply_kind, e.entry) == (reply.kind, reply.entry_id), question


def test_a_file_becomes_a_table(engine: Engine) -> None:
    rows = table([explain(engine, q) for q in ("社保卡丢了", "你好")]).splitlines()
    assert len(rows) == 4 and "card-lost" in rows[2] and "small-talk" in rows[3]


def test_the_command_prints_text_json_and_tables(tmp_path: Path, engine: Engine,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_engine", lambda args: engine)  # the session's engine, not a new one
    out = io.StringIO()
    args = cli.build_parser().parse_args(["explain", "--json", "社保卡丢了"])
    assert cli.cmd_explain(args, stdout=out) == 0
    data = json.loads(out.getvalue())
    assert data["entry"] == "card-lost" and data["candidates"][0]["key"] == "card-lost"
    questions = tmp_path / "q.txt"
    questions.write_text("社保卡丢了\n\n你好\n", encoding="utf-8")
    out = io.StringIO()
    args = cli.build_parser().parse_args(["explain", "--file", str(questions)])
    assert cli.cmd_explain(args, stdout=out) == 0
    assert out.getvalue().count("\n") == 4
    args = cli.build_parser().parse_args(["explain"])
    assert cli.cmd_explain(args, stdout=io.StringIO()) == 2
