"""Issue 11, the rest: messages the bot used to miss (captions, posts sent as a channel), the
smaller slips seen in groups, and how the bot starts, stops and keeps its state when things go wrong."""

from __future__ import annotations

import html
import logging
import re
import time
from typing import TYPE_CHECKING, Any

import pytest
from telegram.ext import Application

from bot.engine import Engine, Reply
from bot.engine import messages as msg
from bot.telegram import texts
from bot.telegram.groups import chats as chats_module
from bot.telegram.inline import message_html
from bot.telegram.render import TEXT_LIMIT, visible_length
from tests.fakes.bot_api import FakeBotApi

from .conftest import quiet_moment, wait_until
from .test_tg_groups import (
    ID_NUMBER,
    PHONE,
    SUPERGROUP_ID,
    SURE,
    Group,
    quotes,
    turn_auto_answer_on,
)

if TYPE_CHECKING:
    from .conftest import Person

pytestmark = pytest.mark.asyncio

JsonDict = dict[str, Any]
PHOTO = [{"file_id": "AgAD", "file_unique_id": "AQAD", "width": 90, "height": 90}]
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
MEMBER_CHANNEL = {"id": -1005550001111, "type": "channel", "title": "小王的频道"}


@pytest.fixture
def users(api: FakeBotApi) -> dict[str, JsonDict]:
    """Group members: 小王 asks, 老李 chimes in, 张姐 is an admin where a test says so."""
    return {"asker": api.user(3001, "小王"), "other": api.user(3002, "老李"),
            "admin": api.user(3003, "张姐")}


# ----- captions and posts sent as a channel -----


async def test_a_caption_with_an_id_number_is_warned_about_and_deleted(
    bot: Application, api: FakeBotApi, users: dict[str, JsonDict], engine: Engine,
) -> None:
    """A photo captioned with an ID number goes like a text; /ask in a caption is answered."""
    group = Group(api, "supergroup")
    api.set_bot_admin(group.chat, can_delete_messages=True)
    before = len(group.sent())
    posted = await api.post(group.chat, users["asker"], photo=PHOTO,
                            caption=f"我的身份证 {ID_NUMBER} 帮我看看")
    await wait_until(lambda: len(group.sent()) > before, "the warning about the caption", api)
    assert group.sent()[-1]["text"] == texts.NUMBER_DELETED.format(name="小王", what="身份证号")
    assert group.current(posted) is None

    before = len(group.sent())
    asked = await api.post(group.chat, users["other"], photo=PHOTO, caption=f"/ask {SURE}",
                           caption_entities=[{"type": "bot_command", "offset": 0, "length": 4}])
    await wait_until(lambda: len(group.sent()) > before, "the answer to /ask in a caption", api)
    answer = group.sent()[-1]
    assert answer["text"] == engine.answer(SURE).text and quotes(answer, asked)


async def test_a_caption_in_private_is_read(bot: Application, api: FakeBotApi, person: Person,
                                            engine: Engine) -> None:
    """In private, a captioned photo's caption is a question; a bare photo still gets TEXT_ONLY."""
    before = len(person.sent())
    await api.post(person.chat, person.user, photo=PHOTO, caption=f"/ask {SURE}",
                   caption_entities=[{"type": "bot_command", "offset": 0, "length": 4}])
    (answer,) = await person.messages_after(before)
    assert answer["text"] == engine.answer(SURE).text
    before = len(person.sent())
    await api.post(person.chat, person.user, photo=PHOTO)
    (reply,) = await person.messages_after(before)
    assert reply["text"] == msg.TEXT_ONLY


async def test_a_number_posted_as_a_channel_is_screened(
    bot: Application, api: FakeBotApi, users: dict[str, JsonDict],
) -> None:
    """A member posting "as a channel" is screened like a person, and named by the channel."""
    group = Group(api, "supergroup")
    api.set_bot_admin(group.chat, can_delete_messages=True)
    before = len(group.sent())
    posted = await api.post(group.chat, CHANNEL_BOT, sender_chat=MEMBER_CHANNEL,
                            text=f"身份证 {ID_NUMBER}")
    await wait_until(lambda: len(group.sent()) > before, "the warning", api)
    assert group.sent()[-1]["text"] == texts.NUMBER_DELETED.format(
        name=MEMBER_CHANNEL["title"], what="身份证号")
    assert group.current(posted) is None
    # Without a number it is nobody's question: left alone.
    await api.post(group.chat, CHANNEL_BOT, sender_chat=MEMBER_CHANNEL, text=f"/ask {SURE}")
    await group.fetched({"message_id": posted["message_id"] + 1})
    await quiet_moment(api)
    assert len(group.sent()) == before + 1


async def test_an_anonymous_admin_is_not_named_group(
    bot: Application, api: FakeBotApi,
) -> None:
    """An anonymous admin's deleted number is told about as the admin's, not "Group"'s."""
    group = Group(api, "supergroup")
    api.set_bot_admin(group.chat, can_delete_messages=True)
    anonymous = api.user(1087968824, "Group", "GroupAnonymousBot", is_bot=True)
    before = len(group.sent())
    await api.post(group.chat, anonymous, sender_chat=group.chat, text=f"身份证 {ID_NUMBER}")
    await wait_until(lambda: len(group.sent()) > before, "the warning", api)
    assert group.sent()[-1]["text"] == texts.NUMBER_DELETED.format(
        name=texts.ANONYMOUS_ADMIN, what="身份证号")


# ----- smaller slips (issue 11, "Also seen") -----


async def test_a_cut_inline_answer_keeps_its_source_and_date() -> None:
    """An answer too long for one message is cut, but its footer (source, date) stays."""
    long = Reply("\n\n".join(f"第{i}段:" + "医保个人账户家庭共济说明。" * 30 for i in range(20)),
                 title="标题", footer="来源:国家医保局 · 2024-01-01", entry_id="x")
    shown = message_html(long, "shebao_bot")
    assert shown.count("<i>来源:国家医保局 · 2024-01-01</i>") == 1
    assert shown.endswith(html.escape(texts.INLINE_TRUNCATED.format(bot="shebao_bot")))
    assert visible_length(shown) <= TEXT_LIMIT


async def test_a_cooldown_under_a_minute_is_shown_in_seconds() -> None:
    """/settings says "20 秒" for a 20 s cooldown, not "0 分钟"."""
    assert chats_module.period(20) == "20 秒"
    assert chats_module.period(300) == "5 分钟"
    assert "0 分钟" not in texts.AUTO_ANSWER_EXPLAINED.format(period=chats_module.period(20))


async def test_an_edit_keeping_the_number_is_not_warned_about_again(
    bot: Application, api: FakeBotApi, users: dict[str, JsonDict],
) -> None:
    """Where the bot may not delete, each edit still holding the same number stays quiet; a new
    number in it is warned about."""
    group = Group(api, "supergroup")
    posted, (warning,) = await group.say(users["asker"], f"我的身份证 {ID_NUMBER}")
    assert warning["text"] == msg.NUMBER_WARNING.format(what="身份证号")
    mark = len(api.calls)
    await api.edit_text(posted, f"我的身份证 {ID_NUMBER},帮我看看")
    await wait_until(lambda: api.pending_updates == [], "the edit to be fetched", api)
    await quiet_moment(api)
    assert len(group.sent()) == 1 and not [c for c in api.calls[mark:] if c.method == "sendMessage"]
    await api.edit_text(posted, f"我的身份证 {ID_NUMBER},电话 {PHONE}")
    await wait_until(lambda: len(group.sent()) == 2, "the warning about the new number", api)


async def test_the_bot_promoted_deletes_at_once(
    bot: Application, api: FakeBotApi, users: dict[str, JsonDict],
) -> None:
    """my_chat_member (the bot made an admin) counts at once, not after the cached minute."""
    group = Group(api, "supergroup")
    posted, _ = await group.say(users["asker"], f"身份证 {ID_NUMBER}")
    assert group.current(posted) is not None  # not an admin yet (and that is cached)
    api.set_bot_admin(group.chat, can_delete_messages=True)
    member = {"status": "administrator", "user": api.bot_user, "can_be_edited": False,
              "is_anonymous": False, "can_manage_chat": True, "can_delete_messages": True,
              "can_manage_video_chats": False, "can_restrict_members": False,
              "can_promote_members": False, "can_change_info": False, "can_invite_users": False,
              "can_post_stories": False, "can_edit_stories": False, "can_delete_stories": False}
    await api.raw_update({"my_chat_member": {
        "chat": group.chat, "from": users["admin"], "date": int(time.time()),
        "old_chat_member": {"status": "member", "user": api.bot_user},
        "new_chat_member": member}})
    await wait_until(lambda: api.pending_updates == [], "my_chat_member to be fetched", api)
    posted, (notice,) = await group.say(users["other"], f"身份证 {ID_NUMBER}")
    assert notice["text"] == texts.NUMBER_DELETED.format(name="老李", what="身份证号")
    assert group.current(posted) is None


async def test_an_unknown_topic_button_leaves_the_answer(
    bot: Application, api: FakeBotApi, person: Person, users: dict[str, JsonDict], engine: Engine,
) -> None:
    """A t: button of a topic the base no longer has answers the press and changes nothing."""
    (answer,) = await person.say(SURE)
    pressed = await person.press(answer, "", data="t:no-such-topic", edits=0, force=True)
    assert pressed.answer["text"] == msg.BUTTON_EXPIRED
    assert pressed.message["text"] == answer["text"]
    group = Group(api, "supergroup")
    _, (menu,) = await group.say(users["asker"], "/faq")
    query = await api.press(menu, "t:no-such-topic", users["asker"], force=True)
    (reply,) = await wait_until(lambda: [c.params for c in api.calls_of("answerCallbackQuery")
                                         if c.params.get("callback_query_id") == query["id"]],
                                "the press to be answered", api)
    assert reply["text"] == msg.BUTTON_EXPIRED
    await quiet_moment(api)
    assert group.current(menu) == menu


async def test_ask_alone_in_private_gives_the_usage(bot: Application, person: Person) -> None:
    """/ask with no question in private: how to use it (not the group's advice)."""
    (reply,) = await person.say("/ask")
    assert reply["text"] == msg.ASK_USAGE


async def test_a_migrated_group_gets_fresh_answers(
    bot: Application, api: FakeBotApi, users: dict[str, JsonDict], engine: Engine,
) -> None:
    """After a basic group became a supergroup, its cooldown does not point at old messages:
    settings move, the next question gets an answer in the new chat."""
    old = Group(api, "group")
    await turn_auto_answer_on(old, users["admin"])
    await old.say(users["asker"], SURE)
    await api.raw_update({"message": {"message_id": 99, "date": int(time.time()), "chat": old.chat,
                                      "from": users["admin"], "migrate_to_chat_id": SUPERGROUP_ID}})
    await wait_until(lambda: getattr(bot.chat_data.get(SUPERGROUP_ID), "auto_answer", False),
                     "the settings to move", api)
    new = Group(api, "supergroup")
    _, (answer,) = await new.say(users["other"], SURE)
    assert answer["text"] == engine.answer(SURE).text


async def test_the_update_log_counts_time_queued(
    bot: Application, api: FakeBotApi, users: dict[str, JsonDict], caplog: pytest.LogCaptureFixture,
) -> None:
    """Each update's line says how long it waited behind its chat's earlier updates, within its
    latency."""
    caplog.set_level(logging.INFO, logger="bot.updates")
    group = Group(api, "supergroup")
    for i in range(3):
        await api.send_text(group.chat, users["asker"], f"/ask {SURE} {i}")
    await wait_until(lambda: len([r for r in caplog.records if r.name == "bot.updates"]) >= 3,
                     "three update log lines", api)
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.updates"]
    found = [re.search(r"latency_ms=([\d.]+) queued_ms=([\d.]+)", line) for line in lines]
    assert len(found) >= 3 and all(found)
    assert all(float(m.group(1)) >= float(m.group(2)) for m in found if m)
