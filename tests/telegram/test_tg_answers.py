"""End to end over HTTP: commands, topics, free questions, buttons, feedback, edits and warnings."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from telegram.ext import Application

from bot.engine import Engine
from bot.engine import messages as msg
from bot.settings import Settings
from bot.telegram import texts
from bot.telegram.render import visible_length
from tests.fakes.bot_api import FakeBotApi

from .conftest import wait_until

if TYPE_CHECKING:
    from .conftest import Person, Recorded

pytestmark = pytest.mark.asyncio

ID_NUMBER = "110101199003074514"  # valid GB 11643 check digit (made up, not a real person)
PHONE = "13800138000"


def topic_titles(engine: Engine) -> list[str]:
    """The topics /start offers."""
    return [c.title for c in engine.kb.categories if c.entry_ids]


async def test_start_topics_and_question_buttons(bot: Application, person: Person,
                                                 engine: Engine) -> None:
    """/start greets with topic buttons; a topic edits the menu; a question shows its answer."""
    (greeting,) = await person.say("/start")
    assert greeting["text"].startswith(msg.GREETING.splitlines()[0])
    assert person.labels(greeting) == topic_titles(engine)
    for title in ("家庭共济", "绑定步骤", "社保卡", "灵活就业", "五险与年限"):
        assert title in person.labels(greeting)

    topic = await person.press(greeting, "家庭共济")
    assert topic.sent == []  # the menu changed in place
    assert topic.message["text"] == msg.TOPIC_PROMPT.format(title="家庭共济")
    sharing = next(c for c in engine.kb.categories if c.id == "sharing")
    assert [b["callback_data"] for b in person.buttons(topic.message)][:-1] == [
        f"q:{e}" for e in sharing.entry_ids
    ]

    shown = await person.press(topic.message, engine.kb.entries[sharing.entry_ids[0]].question[:10],
                               edits=0, sends=1)
    (answer,) = shown.sent
    entry = engine.kb.entries[sharing.entry_ids[0]]
    assert answer["text"] == engine.entry_reply(entry.id).text
    kinds = {e["type"] for e in answer["entities"]}
    assert {"bold", "italic"} <= kinds  # the title in bold, the source line in italics
    assert person.data_of(answer, msg.FEEDBACK_UP) == f"fb:+:{entry.id}"

    back = await person.press(topic.message, msg.TOPICS_BUTTON)
    assert back.message["text"] == msg.TOPICS_PROMPT


async def test_help_topics_cancel_and_unknown_commands(bot: Application, person: Person) -> None:
    """/help, /topics and /cancel do what they say; an unknown command gets a pointer to /help."""
    (help_,) = await person.say("/help")
    assert help_["text"] == msg.HELP
    (topics,) = await person.say("/topics")
    assert topics["text"] == msg.TOPICS_PROMPT
    (cancel,) = await person.say("/cancel")
    assert cancel["text"] == msg.NOTHING_TO_CANCEL
    (unknown,) = await person.say("/frobnicate")
    assert unknown["text"] == msg.UNKNOWN_COMMAND


async def test_free_question_related_and_feedback(bot: Application, person: Person,
                                                  engine: Engine, feedback: Recorded) -> None:
    """A question gets the matcher's answer with related and 👍/👎 buttons; votes are recorded."""
    question = "外婆能用我的医保吗"
    expected = engine.answer(question)
    (answer,) = await person.say(question)
    assert answer["text"] == expected.text
    assert person.labels(answer) == [b.label for row in expected.buttons for b in row]

    related = expected.buttons[0][0]
    assert related.action.startswith("q:")
    shown = await person.press(answer, related.label, edits=0, sends=1)
    (related_answer,) = shown.sent
    assert related_answer["text"] == engine.entry_reply(related.action[2:]).text

    up = person.data_of(answer, msg.FEEDBACK_UP)
    vote = await person.press(answer, msg.FEEDBACK_UP, edits=0)
    assert vote.answer["text"] == msg.FEEDBACK_THANKS
    down = await person.press(related_answer, msg.FEEDBACK_DOWN, edits=0)
    assert down.answer["text"] == msg.FEEDBACK_THANKS
    assert feedback.items == [
        ("feedback_up", expected.entry_id, person.id, "private", question),
        ("feedback_down", related.action[2:], person.id, "private", ""),
    ]
    # The vote row goes once voted (the related questions stay); pressed again all the same
    # (an old client, a double tap), the vote is not recorded twice.
    await wait_until(lambda: not [d for d in data(person.current(answer)) if d.startswith("fb:")],
                     "the vote buttons to go", person.api)
    assert data(person.current(answer)) == [b.action for row in expected.buttons for b in row
                                           if not b.action.startswith("fb:")]
    again = await person.press(answer, "", data=up, edits=0, force=True)
    assert again.answer["text"] == msg.FEEDBACK_ALREADY
    down_too = await person.press(answer, "", data=up.replace("fb:+", "fb:-"), edits=0, force=True)
    assert down_too.answer["text"] == msg.FEEDBACK_ALREADY
    assert len(feedback.items) == 2


def data(message: dict[str, Any]) -> list[str]:
    """The callback data of a message's buttons."""
    return [str(b.get("callback_data", "")) for row in message.get("reply_markup", {}).get(
        "inline_keyboard", []) for b in row]


async def test_did_you_mean_and_none_of_these(bot: Application, person: Person, engine: Engine,
                                              feedback: Recorded) -> None:
    """"Did you mean" offers suggestions and 都不是, which says where to ask instead."""
    question = next(q for q in ("共济", "绑定", "家人", "钱", "卡") if engine.answer(q).kind == "suggest")
    expected = engine.answer(question)
    (suggest,) = await person.say(question)
    assert suggest["text"] == msg.DID_YOU_MEAN
    assert [b["callback_data"] for b in person.buttons(suggest)] == [
        *(f"q:{s}" for s in expected.suggestions), "none"
    ]
    pressed = await person.press(suggest, msg.NONE_OF_THESE_BUTTON, edits=0, sends=1)
    assert pressed.sent[0]["text"] == msg.NONE_OF_THESE
    assert "12393" in pressed.sent[0]["text"]
    assert feedback.items == [("none_of_these", None, person.id, "private", question)]
    again = await person.press(suggest, msg.NONE_OF_THESE_BUTTON, edits=0)  # again
    assert again.answer["text"] == msg.FEEDBACK_ALREADY
    await person.quiet()  # the pointer is sent once
    assert feedback.items == [("none_of_these", None, person.id, "private", question)]  # noted once


async def test_no_answer_points_to_the_hotlines(bot: Application, person: Person,
                                                engine: Engine) -> None:
    """A question the knowledge base cannot answer is told so, with 12393 / 12333."""
    question = next(q for q in ("abc", "嗯嗯嗯", "xyz", "啊这", "社保xyz")
                    if engine.answer(q).body == msg.NO_ANSWER)
    (reply,) = await person.say(question)
    assert reply["text"] == msg.NO_ANSWER
    assert "12393" in reply["text"] and "12333" in reply["text"]
    (outside,) = await person.say("明天厦门天气怎么样")
    assert outside["text"] == engine.answer("明天厦门天气怎么样").text


async def test_edited_question_edits_the_reply(bot: Application, person: Person,
                                               engine: Engine, api: FakeBotApi) -> None:
    """Editing a question edits the bot's reply to answer the new wording."""
    (first,) = await person.say("社保卡能坐地铁吗")
    asked = person.last_sent
    await person.edit(asked, "外婆能用我的医保吗")
    now = person.current(first)
    assert now["text"] == engine.answer("外婆能用我的医保吗").text
    assert len(person.sent()) == 1  # edited, not sent again
    (call,) = api.calls_of("editMessageText")
    assert call.params["message_id"] == first["message_id"]


async def test_number_warning_and_redacted_logs(bot: Application, person: Person, engine: Engine,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """A posted ID number gets a warning (and the question its answer); logs never show it."""
    caplog.set_level(logging.DEBUG)
    warning, answer = await person.say(f"我的身份证号{ID_NUMBER},外婆能用我的医保吗", replies=2)
    assert warning["text"] == msg.NUMBER_WARNING.format(what="身份证号")
    assert warning["reply_to_message"]["message_id"] == person.last_sent["message_id"]
    assert answer["text"] == engine.answer("我的身份证号 ,外婆能用我的医保吗").text

    (only,) = await person.say(f"{PHONE}")
    assert only["text"] == msg.NUMBER_WARNING.format(what="手机号")
    (password,) = await person.say("密码是abc123")
    assert password["text"] == msg.NUMBER_WARNING.format(what="密码")
    await person.quiet()

    logged = caplog.text
    assert "[身份证号已隐藏]" in logged
    assert ID_NUMBER not in logged and PHONE not in logged and "abc123" not in logged


async def test_answer_longer_than_telegram_limit_is_split(
    api: FakeBotApi, settings: Settings, kb_copy: Path, start_bot: Any, person: Person
) -> None:
    """An answer over 4,096 characters arrives in clean chunks, buttons under the last."""
    faq = kb_copy / "faq" / "card.yaml"
    text = faq.read_text(encoding="utf-8")
    entry_id = text.split("- id:", 1)[1].split("\n", 1)[0].strip()
    paragraphs = [f"第{i}段:社保卡 <b>不是</b> 标签 & 符号 “引号” 😀" + "说明文字。" * 60 for i in range(12)]
    one_long_line = "没有换行的超长一行," * 500
    block = "".join(f"      {p}\n\n" for p in [*paragraphs, one_long_line])
    faq.write_text(text.replace("    answer: |\n", "    answer: |\n" + block, 1), encoding="utf-8")
    engine = Engine.from_folder(kb_copy)
    assert len(engine.kb.entries[entry_id].answer) > 2 * 4096

    async with start_bot(settings, engine):
        (greeting,) = await person.say("/start")
        topic = await person.press(greeting, "社保卡")
        expected = engine.entry_reply(entry_id)
        shown = await person.press(topic.message, "", data=f"q:{entry_id}", edits=0, sends=3)
        await person.quiet()
        chunks = person.sent()[1:]

    assert len(chunks) >= 3
    assert all(c.ok for c in api.calls)  # Telegram would have accepted every one
    assert all(0 < visible_length(c["text"]) <= 4096 for c in chunks)
    assert all("reply_markup" not in c for c in chunks[:-1])
    assert person.labels(chunks[-1]) == [b.label for row in expected.buttons for b in row]
    assert "<b>不是</b>" in chunks[0]["text"]  # escaped, shown literally
    assert "".join(c["text"] for c in chunks).replace("\n", "") == expected.text.replace("\n", "")
    assert shown.sent[0] == chunks[0]


async def test_command_menus_for_three_scopes(bot: Application, api: FakeBotApi) -> None:
    """setMyCommands is called for private chats, groups and group admins, in Chinese."""
    menus = {
        "all_private_chats": texts.PRIVATE_COMMANDS,
        "all_group_chats": texts.GROUP_COMMANDS,
        "all_chat_administrators": texts.ADMIN_COMMANDS,
    }
    assert len(api.calls_of("setMyCommands")) == len(menus)
    for scope, commands in menus.items():
        assert api.commands({"type": scope}) == [
            {"command": c, "description": d} for c, d in commands
        ]
    assert {"start", "bind", "cancel"} <= {c for c, _ in texts.PRIVATE_COMMANDS}


async def test_groups_get_warnings_and_a_link_to_private(bot: Application, api: FakeBotApi,
                                                        person: Person) -> None:
    """In a group: plain talk is left alone, a posted number is warned about, /bind links away."""
    member = api.user(3001, "群友")
    group = api.group_chat(-100500, "社保交流群", type="supergroup")
    before = len(api.sent_messages(group["id"]))
    await api.send_text(group, member, "大家好")
    posted = await api.send_text(group, member, f"我手机 {PHONE} 谁帮我看看")
    await api.send_text(group, member, "/bind")
    await api.wait_for("sendMessage", count=before + 2)
    warning, link = api.sent_messages(group["id"])[before:]
    assert warning["text"] == msg.NUMBER_WARNING.format(what="手机号")
    assert warning["reply_to_message"]["message_id"] == posted["message_id"]
    assert link["text"] == msg.GROUP_BIND
    (button,) = person.buttons(link)
    assert button["url"].endswith(f"{api.username}?start=bind")


async def test_odd_updates_are_logged_and_skipped(bot: Application, person: Person,
                                                  api: FakeBotApi,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Empty, chat-less, user-less, channel and malformed updates get no reply and no crash."""
    caplog.set_level(logging.INFO)
    channel = {"id": -100777, "type": "channel", "title": "频道"}
    now = int(time.time())
    odd = [
        {},
        {"channel_post": {"message_id": 1, "date": now, "chat": channel, "text": "外婆能用吗"}},
        {"message": {"message_id": 90, "date": now, "chat": person.chat, "text": "没有发送者"}},
        {"message": {"no": "chat"}},  # cannot even be parsed
        {"poll": {"id": "1", "question": "?", "options": [], "total_voter_count": 0,
                  "is_closed": True, "is_anonymous": True, "type": "regular",
                  "allows_multiple_answers": False}},
    ]
    for update in odd:
        await person.raw(update)
    (location,) = await person.raw({"message": {"message_id": 91, "date": now, "chat": person.chat,
                                                "from": person.user,
                                                "location": {"latitude": 24.5, "longitude": 118.1}}},
                                   replies=1)
    assert location["text"] == msg.TEXT_ONLY
    (still,) = await person.say("/help")  # the bot is still there
    assert still["text"] == msg.HELP
    assert api.sent_messages(channel["id"]) == []
    assert "skipping update" in caplog.text


async def test_unknown_and_stale_buttons_are_answered(bot: Application, person: Person) -> None:
    """Every callback query is answered, even for buttons the bot no longer knows."""
    (greeting,) = await person.say("/start")
    for data, toast in (("q:no-such-entry", msg.BUTTON_EXPIRED), ("zzz", msg.BUTTON_EXPIRED),
                        ("fb:?:x", msg.BUTTON_EXPIRED), ("d:abc123:0", msg.FLOW_ENDED)):
        pressed = await person.press(greeting, "", data=data, edits=0, force=True)
        assert pressed.answer["text"] == toast
    await person.quiet()


async def test_error_handler_tells_the_user(bot: Application, person: Person, api: FakeBotApi,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """A failing handler is logged with its update and the user hears that something went wrong."""
    api.fail_next("sendMessage", error_code=400, description="Bad Request: something odd")
    (reply,) = await person.say(f"我的卡号是 6222020200001234562 {PHONE}")
    assert reply["text"] == msg.ERROR
    assert "error while handling update" in caplog.text
    assert PHONE not in caplog.text and "6222020200001234562" not in caplog.text
