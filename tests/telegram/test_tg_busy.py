"""A busy group: Telegram lets the bot post 20 messages a minute in a group. A burst of questions
must not hold up deleting a posted ID number or answering a button, and is answered in a way
people can follow: the same question once, naming who asked it, and one notice of the delay."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from bot.engine import Engine
from bot.engine.actions import Vote, encode
from bot.settings import Settings
from bot.telegram import texts
from tests.fakes.bot_api import FakeBotApi

from .conftest import STEP_TIMEOUT, wait_until
from .test_tg_groups import ID_NUMBER, SURE, VERDICT, Group, with_limiter

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

JsonDict = dict[str, Any]
QUESTIONS = (SURE, VERDICT, "社保卡能借书吗", "缴费年限不够怎么办")
BURST = 40  # /ask in one group at once, ten of each question
RATE = {"group_max_rate": 1, "group_time_period": 0.25}  # four messages a second per group


async def test_a_burst_does_not_hold_up_deletions_and_presses(
    api: FakeBotApi, settings: Settings, engine: Engine, start_bot: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """40 questions in a group limited to four messages a second: an ID number posted after them
    is deleted, and a 👍 pressed is answered, before the answers are all out; each question is
    answered once per turn, naming the others who asked it; the group is told once."""
    caplog.set_level(logging.INFO, logger="bot.telegram.groups.chats")
    with_limiter(monkeypatch, **RATE)
    group = Group(api, "supergroup")
    api.set_bot_admin(group.chat, can_delete_messages=True)
    people = [api.user(4001 + i, name) for i, name in enumerate(("小王", "老李", "张姐", "阿强"))]
    async with start_bot(settings, engine):
        asked = [await api.send_text(group.chat, people[i % 4], f"/ask {QUESTIONS[i % 4]}")
                 for i in range(BURST)]
        first = await wait_until(lambda: [m for m in group.sent() if m.get("reply_markup")],
                                 "the first answer", api)
        posted = await api.send_text(group.chat, people[1], f"我的身份证 {ID_NUMBER}")
        query = await api.press(first[0], encode(Vote(True, engine.answer(SURE).entry_id or "")),
                                people[0])
        await wait_until(lambda: group.current(posted) is None, "the number to be deleted", api)
        await wait_until(lambda: [c for c in api.calls_of("answerCallbackQuery")
                                  if c.params["callback_query_id"] == query["id"]],
                         "the press to be answered", api)
        urgent_done = len(api.calls)

        def all_answered() -> bool:
            coalesced = caplog.text.count("was answered with an earlier one")
            return len(answers()) + coalesced >= BURST

        def answers() -> list[JsonDict]:
            return [m for m in group.sent() if m.get("reply_to_message", {}).get("message_id")
                    in {a["message_id"] for a in asked}]

        await wait_until(all_answered, "every question answered", api, timeout=4 * STEP_TIMEOUT)
    later = [c for c in api.calls[urgent_done:] if c.method == "sendMessage"
             and c.params.get("reply_parameters", {}).get("message_id") in
             {a["message_id"] for a in asked}]
    assert later, "the backlog had drained before the deletion and the press: no test"
    assert len(answers()) <= 2 * len(QUESTIONS)  # the same question answered together
    assert {a["reply_to_message"]["text"].removeprefix("/ask ") for a in answers()} == set(QUESTIONS)
    notices = [m for m in group.sent() if m["text"] == texts.BUSY_NOTICE]
    assert len(notices) == 1
    together = [a for a in answers() if "也问了同样的问题" in a["text"]]
    assert together and all(engine.answer(a["reply_to_message"]["text"].removeprefix("/ask ")).body
                            in a["text"] for a in together)
