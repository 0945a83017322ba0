"""Issue 11, the rest: messages the bot used to miss (captions, posts sent as a channel), the
smaller slips seen in groups, and how the bot starts, stops and keeps its state when things go wrong."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from telegram.ext import Application

from bot.engine import Engine
from bot.engine import messages as msg
from bot.telegram import texts
from tests.fakes.bot_api import FakeBotApi

from .conftest import QUIET_PERIOD, wait_until
from .test_tg_groups import ID_NUMBER, SURE, Group, quotes, users  # noqa: F401 - fixture

if TYPE_CHECKING:
    from .conftest import Person

pytestmark = pytest.mark.asyncio

JsonDict = dict[str, Any]
PHOTO = [{"file_id": "AgAD", "file_unique_id": "AQAD", "width": 90, "height": 90}]
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
MEMBER_CHANNEL = {"id": -1005550001111, "type": "channel", "title": "小王的频道"}


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
    await asyncio.sleep(QUIET_PERIOD)
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
