"""Prove FakeBotApi works with the real python-telegram-bot stack over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from .bot_api import DEFAULT_TOKEN, FakeBotApi

pytestmark = pytest.mark.asyncio

STEP_TIMEOUT = 4.0
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("查询社保", callback_data="ask:shebao")]])


def build_app(api: FakeBotApi, rate_limiter: AIORateLimiter | None = None) -> Application:
    """Build a PTB Application that talks to the fake instead of api.telegram.org."""
    builder = (
        Application.builder()
        .token(DEFAULT_TOKEN)
        .base_url(api.base_url)
    )
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)
    return builder.build()


@asynccontextmanager
async def polling(app: Application) -> AsyncIterator[Application]:
    """Run ``app`` with long polling against the fake and stop it cleanly, with timeouts."""
    async with app:
        async with asyncio.timeout(STEP_TIMEOUT):
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            async with asyncio.timeout(STEP_TIMEOUT):
                if app.updater.running:
                    await app.updater.stop()
                if app.running:
                    await app.stop()


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply to /start with an inline keyboard."""
    assert update.effective_message is not None
    await update.effective_message.reply_text("你好！请选择：", reply_markup=KEYBOARD)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the callback query and edit the message it belongs to."""
    query = update.callback_query
    assert query is not None
    await query.answer("收到")
    await query.edit_message_text(f"你选择了 {query.data}")


@pytest.mark.asyncio
async def test_start_then_press_button(api: FakeBotApi) -> None:
    """The /start reply carries the keyboard; pressing it answers and edits the message."""
    app = build_app(api)
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(button))
    alice = api.user(1001, "Alice", username="alice")
    chat = api.private_chat(alice)

    async with polling(app):
        assert api.calls_of("getMe") and api.calls_of("deleteWebhook")
        await api.send_text(chat, alice, "/start")
        (sent,) = await api.wait_for("sendMessage", timeout=STEP_TIMEOUT)
        assert sent.params["chat_id"] == alice["id"]
        assert sent.params["text"] == "你好！请选择："
        assert sent.params["reply_markup"] == KEYBOARD.to_dict()
        bot_message = api.last_message(alice["id"])
        assert bot_message["reply_markup"] == KEYBOARD.to_dict()
        assert bot_message["from"]["username"] == api.username

        query = await api.press(bot_message, "ask:shebao", alice)
        (answer,) = await api.wait_for("answerCallbackQuery", timeout=STEP_TIMEOUT)
        assert answer.params == {"callback_query_id": query["id"], "text": "收到"}
        (edit,) = await api.wait_for("editMessageText", timeout=STEP_TIMEOUT)
        assert edit.params["message_id"] == bot_message["message_id"]
        assert edit.params["text"] == "你选择了 ask:shebao"
        current = api.message(alice["id"], bot_message["message_id"])
        assert current is not None and current["text"] == "你选择了 ask:shebao"
        assert "reply_markup" not in current  # editMessageText without markup drops it
        with pytest.raises(LookupError):
            await api.press(current, "ask:shebao", alice)

    assert all(call.ok for call in api.calls)
    assert api.pending_updates == []


@pytest.mark.asyncio
async def test_retry_after_is_retried_by_rate_limiter(api: FakeBotApi) -> None:
    """A 429 with retry_after makes AIORateLimiter wait and resend the message."""
    app = build_app(api, AIORateLimiter(max_retries=2))
    app.add_handler(CommandHandler("start", start))
    bob = api.user(1002, "Bob")
    api.fail_next("sendMessage")

    async with polling(app):
        await api.send_text(api.private_chat(bob), bob, "/start")
        first, second = await api.wait_for("sendMessage", count=2, timeout=STEP_TIMEOUT)

    assert first.error == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }
    assert second.ok and second.params == first.params
    assert second.at - first.at >= 1.0
    assert len(api.sent_messages(bob["id"])) == 1


@pytest.mark.asyncio
async def test_injected_bad_request_surfaces_as_ptb_error(api: FakeBotApi) -> None:
    """fail_next with 400 becomes telegram.error.BadRequest with Telegram's description."""
    app = build_app(api)
    carol = api.user(1003, "Carol")
    api.private_chat(carol)
    async with app:
        message = await app.bot.send_message(carol["id"], "hi")
        api.fail_next_bad_request("editMessageText")
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await message.edit_text("edited")
        edited = await message.edit_text("edited")
        assert edited.text == "edited" and edited.edit_date is not None
        with pytest.raises(BadRequest, match="Message is not modified"):
            await edited.edit_text("edited")


@pytest.mark.asyncio
async def test_set_my_commands_scope_is_decoded(api: FakeBotApi) -> None:
    """JSON-encoded commands and scope arrive as lists/dicts, kept per scope and language."""
    app = build_app(api)
    group = api.group_chat(-100200300, "社保群", type="supergroup")
    commands = [BotCommand("start", "开始"), BotCommand("help", "帮助")]
    async with app:
        scope = BotCommandScopeChat(group["id"])
        assert await app.bot.set_my_commands(commands, scope=scope, language_code="zh")
        (call,) = api.calls_of("setMyCommands")
        assert call.params == {
            "commands": [
                {"command": "start", "description": "开始"},
                {"command": "help", "description": "帮助"},
            ],
            "scope": {"type": "chat", "chat_id": group["id"]},
            "language_code": "zh",
        }
        assert api.commands(call.params["scope"], "zh") == call.params["commands"]
        assert api.commands() == []
        with pytest.raises(BadRequest, match="Bot_command_invalid"):
            await app.bot.set_my_commands([BotCommand("Start", "大写无效")])


@pytest.mark.asyncio
async def test_group_admin_checks_and_deletion(api: FakeBotApi) -> None:
    """getChatMember reflects configured statuses; deleting needs can_delete_messages."""
    app = build_app(api)
    group = api.group_chat(-100111, "家庭共济", type="supergroup")
    owner, admin, member = api.user(1, "Owner"), api.user(2, "Admin"), api.user(3, "Member")
    api.set_member(group, owner, "creator")
    api.set_member(group, admin, "administrator", can_delete_messages=True)
    async with app:
        bot = app.bot
        got = await bot.get_chat_member(group["id"], member["id"])
        assert got.status == ChatMemberStatus.MEMBER and got.user.first_name == "Member"
        got = await bot.get_chat_member(group["id"], admin["id"])
        assert got.status == ChatMemberStatus.ADMINISTRATOR and got.can_delete_messages

        spam = await api.send_text(group, member, "广告")
        with pytest.raises(BadRequest, match="can't be deleted"):
            await bot.delete_message(group["id"], spam["message_id"])
        api.set_bot_admin(group)
        me = await bot.get_chat_member(group["id"], bot.id)
        assert me.status == ChatMemberStatus.ADMINISTRATOR and me.can_delete_messages
        assert await bot.delete_message(group["id"], spam["message_id"])
        assert api.message(group["id"], spam["message_id"]) is None


@pytest.mark.asyncio
async def test_entities_edits_replies_and_inline_queries(api: FakeBotApi) -> None:
    """Injected updates parse in PTB: commands, mentions, edits, replies and inline queries."""
    app = build_app(api)
    seen: list[Update] = []

    async def remember(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)

    async def inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.inline_query is not None
        await update.inline_query.answer(
            [InlineQueryResultArticle("1", "医保", InputTextMessageContent("医保个人账户"))]
        )

    app.add_handler(CommandHandler("help", remember))
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, remember))
    app.add_handler(InlineQueryHandler(inline))
    dave = api.user(1004, "Dave", username="dave")
    group = api.group_chat(-42, "测试群")

    async with polling(app):
        text = f"/help@{api.username} 请问 @someone"
        sent = await api.send_text(group, dave, text)
        assert [e["type"] for e in sent["entities"]] == ["bot_command", "mention"]
        await api.edit_text(sent, "改过的问题")
        query = await api.inline_query(dave, "医保")
        (answer,) = await api.wait_for("answerInlineQuery", timeout=STEP_TIMEOUT)
        async with asyncio.timeout(STEP_TIMEOUT):
            while len(seen) < 2:
                await asyncio.sleep(0.01)

    assert answer.params["inline_query_id"] == query["id"]
    assert answer.params["results"][0]["input_message_content"] == {"message_text": "医保个人账户"}
    assert seen[0].effective_message is not None
    assert seen[0].effective_message.text == text
    assert seen[1].edited_message is not None and seen[1].edited_message.text == "改过的问题"

    async with app:
        reply = await app.bot.send_message(
            group["id"],
            "<b>答复</b> &amp; 说明",
            parse_mode=ParseMode.HTML,
            reply_to_message_id=sent["message_id"],
        )
        assert reply.text == "答复 & 说明"
        assert reply.entities[0].type == "bold" and reply.entities[0].length == 2
        assert reply.reply_to_message is not None
        assert reply.reply_to_message.message_id == sent["message_id"]
        with pytest.raises(BadRequest, match="(?i)unsupported start tag"):
            await app.bot.send_message(group["id"], "a <br> b", parse_mode=ParseMode.HTML)


@pytest.mark.asyncio
async def test_long_poll_returns_early_and_honours_offset(api: FakeBotApi) -> None:
    """getUpdates waits at most `timeout`, returns as soon as an update arrives."""
    url = f"{api.base_url}{DEFAULT_TOKEN}/getUpdates"
    async with httpx.AsyncClient(timeout=STEP_TIMEOUT, trust_env=False) as client:
        started = time.monotonic()
        empty = (await client.post(url, json={"timeout": 0.3})).json()
        assert empty == {"ok": True, "result": []}
        assert 0.25 <= time.monotonic() - started < 2

        eve = api.user(1005, "Eve")
        poll = asyncio.create_task(client.post(url, data={"timeout": "3"}))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await api.send_text(api.private_chat(eve), eve, "hello")
        first = (await poll).json()["result"]
        assert time.monotonic() - started < 1
        assert [u["message"]["text"] for u in first] == ["hello"]

        again = (await client.get(url, params={"offset": first[0]["update_id"]})).json()
        assert again["result"] == first
        acked = (await client.get(url, params={"offset": first[0]["update_id"] + 1})).json()
        assert acked["result"] == [] and api.pending_updates == []

        await api.raw_update({"message": {"no": "chat"}}, once=True)
        assert len((await client.get(url)).json()["result"]) == 1
        assert (await client.get(url)).json()["result"] == []

        unknown = (await client.post(f"{api.base_url}{DEFAULT_TOKEN}/newMethod", json={})).json()
        assert unknown == {"ok": True, "result": True}
        wrong = await client.post(f"{api.base_url}1:bad/getMe")
        assert wrong.status_code == 401

    with pytest.raises(TimeoutError, match="sendMessage"):
        await api.wait_for("sendMessage", timeout=0.1)
    assert api.calls_of("newMethod")[0].params == {}
    api.clear_calls()
    assert api.calls == []


@pytest.mark.asyncio
async def test_stop_releases_pending_long_poll(api: FakeBotApi) -> None:
    """stop() answers a waiting getUpdates at once instead of waiting for its timeout."""
    url = f"{api.base_url}{DEFAULT_TOKEN}/getUpdates"
    async with httpx.AsyncClient(timeout=STEP_TIMEOUT, trust_env=False) as client:
        poll = asyncio.create_task(client.post(url, json={"timeout": 30}))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await api.stop()
        assert (await asyncio.wait_for(poll, STEP_TIMEOUT)).json() == {"ok": True, "result": []}
        assert time.monotonic() - started < 1
