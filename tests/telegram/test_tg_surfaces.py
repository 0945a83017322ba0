"""Same input, same reply: one script of turns through the terminal and through Telegram."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from telegram.ext import Application

from bot.conversation import Conversation, Pressed, Show
from bot.conversation.terminal import TerminalChat
from bot.engine import Engine
from bot.engine.normalize import compact
from tests.fakes.bot_api import FakeBotApi

from .conftest import Recorded, quiet_moment, settled, wait_until

if TYPE_CHECKING:
    from .conftest import Person

pytestmark = pytest.mark.asyncio

JsonDict = dict[str, Any]
Seen = list[tuple[str, str, tuple[str, ...]]]  # (toast | message, text, button labels)

# ("say", text) types a message; ("tap", label) presses the newest button with that label;
# ("again", "") presses the button pressed last once more (a double tap).
SCRIPT = [
    ("say", "你好"),
    ("say", "我的身份证 11010519491231002X 外婆能用吗"),
    ("say", "/bind"),
    ("tap", "父母"),
    ("again", ""),
    ("tap", "在外省(跨省)"),
    ("say", "苏州"),
    ("say", "社保卡能坐地铁吗"),
    ("tap", "↩️ 回到绑定流程"),
    ("say", "杭州"),
    ("tap", "下一步 ➡️"),
    ("again", ""),
    ("tap", "⬅️ 上一步"),
    ("say", "取消"),
    ("say", "/cancel"),
    ("say", "共济"),
    ("tap", "都不是"),
    ("say", "岳父能用我的医保吗"),
    ("tap", "👎 没帮助"),
    ("again", ""),
    ("say", "/topics"),
    ("say", "/nothing"),
]


def terminal_turns(engine: Engine, feedback: Recorded) -> list[Seen]:
    """What the terminal shows for each turn of the script."""
    chat = TerminalChat(Conversation(engine, feedback))
    last: Pressed | None = None
    seen: list[Seen] = []
    for op, arg in SCRIPT:
        if op == "say":
            outs = chat.handle(arg)
        else:
            if op == "tap":
                last = chat.labels[compact(arg)]
            assert last is not None
            outs = chat.press(last)
        toasts = [("toast", o.reply.body, ()) for o in outs if o.show is Show.TOAST]
        shown = [("message", o.reply.text, tuple(b.label for b in o.reply.flat_buttons()))
                 for o in outs if o.show not in (Show.TOAST, Show.DROP_VOTES)]
        seen.append(toasts + shown)
    return seen


async def telegram_turns(api: FakeBotApi, person: Person) -> list[Seen]:
    """What the private Telegram chat shows for each turn of the script."""
    last: tuple[JsonDict, str] | None = None
    seen: list[Seen] = []
    for op, arg in SCRIPT:
        mark = len(api.calls)
        if op == "say":
            await api.send_text(person.chat, person.user, arg)
            await wait_until(lambda m=mark: any(c.method in ("sendMessage", "editMessageText")  # type: ignore[misc]
                                                for c in api.calls[m:]), f"a reply to {arg!r}", api)
        else:
            if op == "tap":
                message = next(m for m in reversed(person.sent())
                               if arg in person.labels(person.current(m)))
                last = (person.current(message), person.data_of(person.current(message), arg))
            assert last is not None
            await api.press(last[0], last[1], person.user, force=True)
            await wait_until(lambda m=mark: any(c.method == "answerCallbackQuery"  # type: ignore[misc]
                                                for c in api.calls[m:]), f"pressing {arg!r}", api)
        await settled(api)  # the turn's update handled: a call after it would show in the next turn
        calls = api.calls[mark:]
        toasts: Seen = [("toast", str(c.params["text"]), ()) for c in calls
                        if c.method == "answerCallbackQuery" and c.params.get("text")]
        shown: Seen = []
        for call in calls:
            if call.method == "sendMessage" or (call.method == "editMessageText"):
                ids = {int(m["message_id"]) for m in person.sent()}
                message_id = call.result.get("message_id") if isinstance(call.result, dict) else None
                message = person.current({"message_id": message_id}) if message_id in ids else None
                if message is not None:
                    shown.append(("message", message["text"], tuple(person.labels(message))))
        seen.append(toasts + shown)
    count = len(api.calls)
    await quiet_moment(api)
    assert len(api.calls) == count, "the bot made calls after the last turn"
    return seen


async def test_one_script_gives_the_same_replies_in_the_terminal_and_in_telegram(
    bot: Application, api: FakeBotApi, person: Person, engine: Engine, feedback: Recorded
) -> None:
    """Warnings, small talk, questions, the dialogue with a double tap, a stale step, 都不是 and
    votes: turn by turn the same text and buttons, and the same feedback recorded."""
    in_terminal = Recorded()
    expected = terminal_turns(engine, in_terminal)
    got = await telegram_turns(api, person)
    for turn, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"turn {turn} {SCRIPT[turn]}"
    assert [(k, e, q) for k, e, _, _, q in feedback.items] == [
        (k, e, q) for k, e, _, _, q in in_terminal.items]
    assert [k for k, *_ in in_terminal.items] == ["none_of_these", "feedback_down"]
