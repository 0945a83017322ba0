"""End to end over HTTP: the guided binding dialogue, its exits, timeouts and a restart."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

import pytest
from telegram.ext import Application

from bot.engine import Engine
from bot.engine import messages as msg
from bot.settings import Settings
from tests.fakes.bot_api import FakeBotApi

if TYPE_CHECKING:
    from .conftest import Person

pytestmark = pytest.mark.asyncio

JsonDict = dict[str, Any]
SHORT_TIMEOUT = 1.0  # seconds: the dialogue timeout in the timeout tests


def flow(engine: Engine) -> dict[str, Any]:
    """The binding flow as described in knowledge/flows/bind.yaml."""
    return engine.kb.flows["bind"]


def methods(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    """Each binding method: its button label and its walk-through step."""
    steps = flow(engine)["steps"]
    return [(str(o["label"]), steps[o["next"]]) for o in steps["method"]["options"]]


def prompt(engine: Engine, step: str) -> str:
    """The prompt of one step."""
    return str(flow(engine)["steps"][step]["prompt"])


async def begin(person: Person, engine: Engine) -> JsonDict:
    """/bind and check the first step."""
    (first,) = await person.say("/bind")
    assert prompt(engine, "relation") in first["text"]
    assert "父母" in person.labels(first) and msg.FLOW_CANCEL in person.labels(first)
    return first


async def walk(person: Person, message: JsonDict, method: dict[str, Any]) -> JsonDict:
    """Press 下一步 through a method's walk-through, checking each page; returns the summary."""
    items = method["items"]
    for page, item in enumerate(items, start=1):
        now = person.current(message)
        assert f"第 {page}/{len(items)} 步" in now["text"]
        assert " ".join(item.split()) in " ".join(now["text"].split())
        if page == 1:
            for line in method.get("checklist") or []:
                assert line in now["text"]
        await person.press(message, msg.FLOW_NEXT)
    return person.current(message)


@pytest.mark.parametrize("index", range(5))
async def test_eligible_relative_through_each_method(bot: Application, person: Person,
                                                     engine: Engine, index: int) -> None:
    """父母 → same province → one of the methods → steps one at a time → the summary."""
    label, method = methods(engine)[index]
    first = await begin(person, engine)

    chosen = await person.press(first, "父母")
    assert "✅ 父母" in chosen.message["text"]
    assert prompt(engine, "cross") in chosen.message["text"]
    same = await person.press(first, "在同一个省")
    assert prompt(engine, "method") in same.message["text"]
    assert person.labels(same.message)[:len(methods(engine))] == [m for m, _ in methods(engine)]

    await person.press(first, label)
    assert method["title"] in person.current(first)["text"]
    await person.press(first, msg.FLOW_NEXT)
    back = await person.press(first, msg.FLOW_BACK)  # 上一步 returns to page 1
    assert f"第 1/{len(method['items'])} 步" in back.message["text"]

    summary = await walk(person, first, method)
    assert "小结" in summary["text"]
    assert "家人:父母" in summary["text"] and f"绑定方式:{label}" in summary["text"]
    assert not any(b.startswith("d:") for b in map(str, _callback_data(summary)))
    assert len(person.sent()) == 1  # one message, edited in place all along
    await person.quiet()


def _callback_data(message: JsonDict) -> list[str]:
    return [str(b.get("callback_data")) for row in message.get("reply_markup", {})
            .get("inline_keyboard", []) for b in row]


async def test_ineligible_relative_ends_politely(bot: Application, person: Person,
                                                 engine: Engine) -> None:
    """In-laws are not near relatives: the verdict, what to do instead, and the dialogue ends."""
    first = await begin(person, engine)
    ended = await person.press(first, "岳父母/公婆")
    assert "❌" in ended.message["text"]
    assert flow(engine)["not_eligible"].strip().splitlines()[0] in ended.message["text"]
    assert all(d.startswith("q:") for d in _callback_data(ended.message))
    stale = await person.press(first, "", data=_callback_data(first)[0], edits=0, force=True)
    assert stale.answer["text"] == msg.FLOW_ENDED


async def test_other_relation_typed(bot: Application, person: Person, engine: Engine) -> None:
    """其他 asks for the relation in words; a typed 嫂子 is judged (not eligible), 外婆 is."""
    first = await begin(person, engine)
    await person.press(first, "其他")
    (verdict,) = await person.say("嫂子")
    assert "❌" in verdict["text"]
    assert "reply_markup" not in person.current(first)  # the old step lost its buttons

    second = await begin(person, engine)
    await person.press(second, "其他")
    (ok,) = await person.say("外婆")
    assert "✅" in ok["text"] and prompt(engine, "cross") in ok["text"]


async def test_cross_province_with_typed_cities(bot: Application, person: Person,
                                                engine: Engine) -> None:
    """在外省 asks where each of them is insured; two provinces lead to the 医保钱包."""
    first = await begin(person, engine)
    await person.press(first, "子女")
    asked = await person.press(first, "在外省")
    assert prompt(engine, "region") in asked.message["text"]
    (next_step,) = await person.say("苏州")
    assert "苏州" in next_step["text"] and prompt(engine, "relative-region") in next_step["text"]
    assert "reply_markup" not in person.current(first)
    (wallet,) = await person.say("杭州")
    assert "医保钱包" in wallet["text"] and "浙江省" in wallet["text"]
    summary = await walk(person, wallet, flow(engine)["steps"]["wallet"])
    assert "你的参保地:苏州" in summary["text"] and "家人的参保地:杭州" in summary["text"]


async def test_cross_province_skip(bot: Application, person: Person, engine: Engine) -> None:
    """跳过 both cities and go on to the cross-province route, the 医保钱包."""
    first = await begin(person, engine)
    await person.press(first, "配偶")
    await person.press(first, "在外省")
    skipped = await person.press(first, msg.FLOW_SKIP)
    assert prompt(engine, "relative-region") in skipped.message["text"]
    both = await person.press(first, msg.FLOW_SKIP)
    assert flow(engine)["steps"]["wallet"]["title"] in both.message["text"]


async def test_cancel_by_command_button_and_word(bot: Application, person: Person,
                                                 engine: Engine) -> None:
    """/cancel, the 取消 button and typing 取消 all leave the dialogue."""
    first = await begin(person, engine)
    (cancelled,) = await person.say("/cancel")
    assert cancelled["text"] == msg.FLOW_CANCELLED
    assert "reply_markup" not in person.current(first)
    (nothing,) = await person.say("/cancel")
    assert nothing["text"] == msg.NOTHING_TO_CANCEL

    second = await begin(person, engine)
    pressed = await person.press(second, msg.FLOW_CANCEL)
    assert pressed.message["text"] == msg.FLOW_CANCELLED

    await begin(person, engine)
    (typed,) = await person.say("取消")
    assert typed["text"] == msg.FLOW_CANCELLED


async def test_free_question_mid_dialogue_keeps_the_place(bot: Application, person: Person,
                                                          engine: Engine) -> None:
    """A question mid-dialogue is answered, with a way back; the dialogue goes on from there."""
    first = await begin(person, engine)
    await person.press(first, "父母")
    (answer,) = await person.say("社保卡能坐地铁吗")
    expected = engine.answer("社保卡能坐地铁吗")
    assert answer["text"] == "\n\n".join(
        [expected.title, expected.body, msg.FLOW_RESUME_HINT, expected.footer])
    assert person.labels(answer)[-1] == msg.FLOW_RESUME_BUTTON

    back = await person.press(answer, msg.FLOW_RESUME_BUTTON, edits=0, sends=1)
    (step,) = back.sent
    assert prompt(engine, "cross") in step["text"]
    assert "reply_markup" not in person.current(first)
    same = await person.press(step, "在同一个省")
    assert prompt(engine, "method") in same.message["text"]

    (again,) = await person.say("继续")  # typed, the same as the button
    assert prompt(engine, "method") in again["text"]


async def test_a_question_naming_a_relative_mid_dialogue_is_matched_once(
    bot: Application, person: Person, engine: Engine, matcher_calls: list[str]
) -> None:
    """Not an answer to the step, so answered as a question: the matcher runs once for it."""
    await begin(person, engine)
    question = "我妈住院报销比例是多少"
    (answer,) = await person.say(question)
    assert msg.FLOW_RESUME_BUTTON in person.labels(answer)
    assert matcher_calls.count(question) == 1


async def test_stale_buttons_get_a_polite_notice(bot: Application, person: Person,
                                                 engine: Engine) -> None:
    """A button from an older dialogue, during or after a newer one, says the dialogue ended."""
    first = await begin(person, engine)
    old = _callback_data(first)
    second = await begin(person, engine)  # /bind again: a new dialogue
    during = await person.press(first, "", data=old[1], edits=0, force=True)
    assert during.answer["text"] == msg.FLOW_ENDED
    assert person.current(second)["text"] == second["text"]  # the new dialogue is untouched
    assert person.labels(person.current(second)) == person.labels(second)
    await person.press(second, msg.FLOW_CANCEL)
    after = await person.press(second, "", data=_callback_data(second)[0], edits=0, force=True)
    assert after.answer["text"] == msg.FLOW_ENDED
    await person.quiet()


async def test_dialogue_from_deep_link_and_answer_button(bot: Application, person: Person,
                                                         engine: Engine) -> None:
    """/start bind and the 一步步带我绑定 button under a binding answer start the dialogue."""
    (first,) = await person.say("/start bind")
    assert prompt(engine, "relation") in first["text"]
    (answer,) = await person.say("怎么绑定家庭共济")
    pressed = await person.press(answer, msg.BIND_BUTTON, edits=0, sends=1)
    assert prompt(engine, "relation") in pressed.sent[0]["text"]
    assert "reply_markup" not in person.current(first)  # the earlier dialogue was replaced


async def test_restart_mid_dialogue_resumes(api: FakeBotApi, settings: Settings, engine: Engine,
                                            start_bot: Any, person: Person) -> None:
    """Stop the bot mid-dialogue, start a new one on the same data dir, and carry on pressing."""
    async with start_bot(settings, engine):
        first = await begin(person, engine)
        await person.press(first, "兄弟姐妹")
    assert settings.persistence_path.is_file()

    async with start_bot(settings, engine):
        asked = await person.press(first, "在外省")
        assert prompt(engine, "region") in asked.message["text"]
        (place,) = await person.say("成都")
        assert prompt(engine, "relative-region") in place["text"]
        (step,) = await person.say("广安")  # the same province: the ways within a province
        assert prompt(engine, "method") in step["text"] and "四川省" in step["text"]
        label, method = methods(engine)[0]
        await person.press(step, label)
        summary = await walk(person, step, method)
    assert "家人:兄弟姐妹" in summary["text"]


async def test_idle_dialogue_times_out(api: FakeBotApi, settings: Settings, engine: Engine,
                                       start_bot: Any, person: Person) -> None:
    """After DIALOGUE_TIMEOUT seconds without a step the dialogue ends with a message."""
    quick = dataclasses.replace(settings, dialogue_timeout=SHORT_TIMEOUT)
    async with start_bot(quick, engine):
        first = await begin(person, engine)
        await person.press(first, "父母")
        (timeout,) = await person.messages_after(1)  # the first was the dialogue itself
        assert timeout["text"] == msg.FLOW_TIMEOUT
        assert "reply_markup" not in person.current(first)
        late = await person.press(first, "", data=_callback_data(first)[0], edits=0, force=True)
        assert late.answer["text"] == msg.FLOW_ENDED
        (plain,) = await person.say("社保卡能坐地铁吗")  # no resume button: no dialogue
        assert msg.FLOW_RESUME_BUTTON not in person.labels(plain)


async def test_number_typed_as_dialogue_input_is_warned_not_used(bot: Application, person: Person,
                                                                 engine: Engine) -> None:
    """A phone number typed at the city prompt gets the warning and the step stays."""
    first = await begin(person, engine)
    await person.press(first, "父母")
    await person.press(first, "在外省")
    (warning,) = await person.say("13800138000")
    assert warning["text"] == msg.NUMBER_WARNING.format(what="手机号")
    await person.quiet()
    (step,) = await person.say("苏州")
    assert prompt(engine, "relative-region") in step["text"]


async def test_a_double_tap_acts_once(bot: Application, person: Person, engine: Engine) -> None:
    """父母 pressed twice: the second press is for a step already answered and changes nothing."""
    first = await begin(person, engine)
    data = person.data_of(first, "父母")
    await person.press(first, "父母")
    again = await person.press(first, "", data=data, edits=0, force=True)
    assert again.answer["text"] == msg.FLOW_STEP_DONE
    now = person.current(first)
    assert prompt(engine, "cross") in now["text"] and "在外省" not in "".join(
        line for line in now["text"].splitlines() if line.startswith("•"))
    same = await person.press(first, "在同一个省")
    assert prompt(engine, "method") in same.message["text"]


async def test_dialogue_idle_across_a_restart_times_out_on_the_next_press(
    api: FakeBotApi, settings: Settings, engine: Engine, start_bot: Any, person: Person
) -> None:
    """Timeout jobs do not survive a restart, so the next press checks the idle time itself."""
    quick = dataclasses.replace(settings, dialogue_timeout=SHORT_TIMEOUT)
    async with start_bot(quick, engine):
        first = await begin(person, engine)
    await asyncio.sleep(SHORT_TIMEOUT + 0.1)
    async with start_bot(quick, engine):
        late = await person.press(first, "父母", edits=0, sends=1)
        assert late.sent[0]["text"] == msg.FLOW_TIMEOUT
        (plain,) = await person.say("社保卡能坐地铁吗")
        assert msg.FLOW_RESUME_BUTTON not in person.labels(plain)
