"""An in-process fake of the Telegram Bot API over real HTTP, for end-to-end tests."""

from __future__ import annotations

import asyncio
import copy
import inspect
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from types import TracebackType
from typing import Any

from aiohttp import web

__all__ = [
    "DEFAULT_TOKEN",
    "DEFAULT_USERNAME",
    "BotApiError",
    "Call",
    "FakeBotApi",
]

JsonDict = dict[str, Any]
"""A JSON object as decoded by :mod:`json`."""

DEFAULT_TOKEN = "123456789:AAFakeTokenForShebaoBotTests_0123456789"
"""A syntactically valid token whose numeric prefix is the fake bot's user id."""

DEFAULT_USERNAME = "shebao_test_bot"
"""Username of the fake bot user returned by getMe."""

# Parameters whose values are always plain strings, even when they look like JSON
# (e.g. callback query ids are long digit strings, message texts may be "123" or "[x]").
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "query",
        "title",
        "description",
        "short_description",
        "name",
        "callback_query_id",
        "inline_query_id",
        "shipping_query_id",
        "pre_checkout_query_id",
        "inline_message_id",
        "business_connection_id",
        "url",
        "secret_token",
        "ip_address",
        "parse_mode",
        "caption_parse_mode",
        "action",
        "language_code",
        "next_offset",
        "switch_pm_text",
        "switch_pm_parameter",
        "custom_title",
        "emoji",
        "file_id",
        "sticker",
        "game_short_name",
        "error_message",
        "invite_link",
        "payload",
        "provider_token",
        "currency",
        "start_parameter",
        "question",
        "address",
        "foursquare_id",
        "google_place_id",
        "phone_number",
        "first_name",
        "last_name",
        "vcard",
        "message_effect_id",
    }
)

_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION_RE = re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{4,32}")
_BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")

_HTML_ENTITY_TYPES: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}

MAX_MESSAGE_LENGTH = 4096
"""Maximum message text length (after entity parsing) that Telegram accepts."""

MAX_CALLBACK_DATA_BYTES = 64
"""Maximum size of InlineKeyboardButton.callback_data in UTF-8 bytes."""


def utf16_len(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Call:
    """One request received by the fake, with its decoded parameters and outcome."""

    method: str
    params: JsonDict
    result: Any = None
    error: JsonDict | None = None
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        """Whether the fake answered this call successfully."""
        return self.error is None


class BotApiError(Exception):
    """An error the fake answers with, in the Bot API's error shape."""

    def __init__(
        self, error_code: int, description: str, parameters: JsonDict | None = None
    ) -> None:
        """Create an error with an HTTP/Bot API error code and description."""
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def to_dict(self) -> JsonDict:
        """Return the JSON body Telegram sends for this error."""
        body: JsonDict = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = dict(self.parameters)
        return body


def _bad_request(description: str) -> BotApiError:
    """Build a 400 error with Telegram's "Bad Request: " prefix."""
    return BotApiError(400, f"Bad Request: {description}")


def _decode_value(name: str, value: Any) -> Any:
    """Decode one form/query parameter: JSON-looking values become objects, strings stay."""
    if not isinstance(value, str) or name in _STRING_PARAMS:
        return value
    stripped = value.strip()
    if not stripped:
        return value
    if (
        stripped[0] in "{["
        or stripped in ("true", "false", "null")
        or re.fullmatch(r"-?\d+(\.\d+)?", stripped)
    ):
        try:
            return json.loads(stripped)
        except ValueError:
            return value
    return value


def _decode_json_body_value(name: str, value: Any) -> Any:
    """Decode a value of a JSON body: only JSON-encoded objects/arrays inside strings."""
    if isinstance(value, str) and name not in _STRING_PARAMS and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class _HtmlToEntities(HTMLParser):
    """Convert Telegram-flavoured HTML into plain text plus MessageEntity dicts."""

    def __init__(self, source: str) -> None:
        """Prepare a parser for ``source``."""
        super().__init__(convert_charrefs=True)
        self._source = source
        self._parts: list[str] = []
        self._length = 0
        self._stack: list[tuple[str, int, JsonDict]] = []
        self.entities: list[JsonDict] = []

    def _byte_offset(self) -> int:
        """Return the UTF-8 byte offset of the current parser position in the source."""
        line, column = self.getpos()
        lines = self._source.split("\n")
        prefix = "\n".join(lines[: line - 1])
        if line > 1:
            prefix += "\n"
        prefix += lines[line - 1][:column] if line - 1 < len(lines) else ""
        return len(prefix.encode("utf-8"))

    def _fail(self, message: str) -> None:
        """Raise Telegram's entity parsing error."""
        raise _bad_request(f"can't parse entities: {message} at byte offset {self._byte_offset()}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open an entity for a supported tag, reject others like Telegram does."""
        attributes = {key: value or "" for key, value in attrs}
        if tag not in _HTML_ENTITY_TYPES:
            self._fail(f'Unsupported start tag "{tag}"')
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            self._fail('Tag "span" must have class "tg-spoiler"')
        extra: JsonDict = {}
        if tag == "a":
            extra["url"] = attributes.get("href", "")
        elif tag == "tg-emoji":
            extra["custom_emoji_id"] = attributes.get("emoji-id", "")
        elif tag == "blockquote" and "expandable" in attributes:
            extra["expandable"] = True
        elif tag == "code" and self._stack and self._stack[-1][0] == "pre":
            language = attributes.get("class", "")
            if language.startswith("language-"):
                self._stack[-1][2]["language"] = language.removeprefix("language-")
        self._stack.append((tag, self._length, extra))

    def handle_endtag(self, tag: str) -> None:
        """Close the innermost entity, which must match ``tag``."""
        if not self._stack:
            self._fail(f'Unexpected end tag "{tag}"')
        open_tag, start, extra = self._stack.pop()
        if open_tag != tag:
            self._fail(f'Unmatched end tag, expected "</{open_tag}>", found "</{tag}>"')
        length = self._length - start
        if length == 0:
            return
        if tag == "code" and self._stack and self._stack[-1][0] == "pre":
            return
        entity_type = _HTML_ENTITY_TYPES[tag]
        if entity_type == "blockquote" and extra.pop("expandable", False):
            entity_type = "expandable_blockquote"
        if entity_type == "text_link" and not extra.get("url"):
            return
        self.entities.append({"type": entity_type, "offset": start, "length": length, **extra})

    def handle_data(self, data: str) -> None:
        """Append text, tracking the UTF-16 length."""
        self._parts.append(data)
        self._length += utf16_len(data)

    def finish(self) -> tuple[str, list[JsonDict]]:
        """Return the plain text and entities, failing on unclosed tags."""
        self.feed(self._source)
        self.close()
        if self._stack:
            self._fail(f'Can\'t find end tag corresponding to start tag "{self._stack[-1][0]}"')
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return "".join(self._parts), self.entities


def parse_html(text: str) -> tuple[str, list[JsonDict]]:
    """Parse Telegram HTML into (plain text, entities); raise BotApiError on invalid markup."""
    return _HtmlToEntities(text).finish()


def auto_entities(text: str) -> list[JsonDict]:
    """Return bot_command and mention entities Telegram's clients would attach to ``text``."""
    entities: list[JsonDict] = []
    taken: list[range] = []
    for match in _COMMAND_RE.finditer(text):
        entities.append(
            {
                "type": "bot_command",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group()),
            }
        )
        taken.append(range(match.start(), match.end()))
    for match in _MENTION_RE.finditer(text):
        if any(match.start() in span for span in taken):
            continue
        entities.append(
            {
                "type": "mention",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group()),
            }
        )
    entities.sort(key=lambda entity: entity["offset"])
    return entities


Handler = Callable[[JsonDict], Awaitable[Any]]
"""An implementation of one Bot API method: decoded params in, JSON result out."""

Responder = Callable[[JsonDict], Any]
"""A test-supplied override for a method: decoded params in, JSON result out."""


class FakeBotApi:
    """A fake Telegram Bot API server on 127.0.0.1 for python-telegram-bot end-to-end tests."""

    def __init__(
        self,
        token: str | None = DEFAULT_TOKEN,
        *,
        username: str = DEFAULT_USERNAME,
        first_name: str = "Shebao Test Bot",
        strict: bool = True,
        max_poll_timeout: float = 50.0,
    ) -> None:
        """Configure the fake; ``token=None`` accepts any token, ``strict`` mimics API checks."""
        self.token = token
        self.strict = strict
        self.max_poll_timeout = max_poll_timeout
        bot_id = 123456789
        if token and token.split(":", 1)[0].isdigit():
            bot_id = int(token.split(":", 1)[0])
        self._bot_user: JsonDict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self._calls: list[Call] = []
        self._calls_changed = asyncio.Condition()
        self._updates: list[JsonDict] = []
        self._update_history: list[JsonDict] = []
        self._updates_changed = asyncio.Condition()
        self._deliver_once: set[int] = set()
        self._next_update_id = 1
        self._query_ids = itertools.count(1)
        self._message_counters: dict[int, int] = {}
        self._messages: dict[tuple[int, int], JsonDict] = {}
        self._sent: list[JsonDict] = []
        self._users: dict[int, JsonDict] = {bot_id: self._public_bot_user()}
        self._chats: dict[int, JsonDict] = {}
        self._members: dict[tuple[int, int], JsonDict] = {}
        self._open_queries: set[str] = set()
        self._commands: dict[tuple[str, str], list[JsonDict]] = {}
        self._webhook: JsonDict = {"url": ""}
        self._failures: dict[str, list[BotApiError]] = {}
        self._responders: dict[str, Responder] = {}
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port: int | None = None
        self._handlers: dict[str, tuple[str, Handler]] = {}
        for name, handler in {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_query,
            "answerInlineQuery": self._answer_query,
            "setMyCommands": self._set_my_commands,
            "getChatMember": self._get_chat_member,
        }.items():
            self._handlers[name.lower()] = (name, handler)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start serving on 127.0.0.1 with an OS-assigned port."""
        if self._runner is not None:
            raise RuntimeError("FakeBotApi is already running")
        self._closing = False
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner, self._site, self._port = runner, site, site.port

    async def stop(self) -> None:
        """Wake pending long polls and shut the server down."""
        if self._runner is None:
            return
        self._closing = True
        async with self._updates_changed:
            self._updates_changed.notify_all()
        runner, self._runner, self._site = self._runner, None, None
        await runner.cleanup()

    async def __aenter__(self) -> FakeBotApi:
        """Start the server for an ``async with`` block."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the server at the end of an ``async with`` block."""
        await self.stop()

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._port is None:
            raise RuntimeError("FakeBotApi.start() has not been awaited")
        return self._port

    @property
    def base_url(self) -> str:
        """Value for ``ApplicationBuilder.base_url`` (PTB appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def bot_user(self) -> JsonDict:
        """The bot's User object as returned by getMe."""
        return copy.deepcopy(self._bot_user)

    @property
    def bot_id(self) -> int:
        """The bot's user id."""
        return int(self._bot_user["id"])

    @property
    def username(self) -> str:
        """The bot's username (without "@")."""
        return str(self._bot_user["username"])

    # ------------------------------------------------------------------ call log

    @property
    def calls(self) -> list[Call]:
        """All calls received so far, oldest first (a copy of the log)."""
        return list(self._calls)

    def calls_of(self, method: str) -> list[Call]:
        """Return the recorded calls of ``method`` (case-insensitive), oldest first."""
        wanted = method.lower()
        return [call for call in self._calls if call.method.lower() == wanted]

    def clear_calls(self) -> None:
        """Forget all recorded calls."""
        self._calls.clear()

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Wait until ``count`` matching calls are recorded and return all matching calls."""

        def matching() -> list[Call]:
            return [c for c in self.calls_of(method) if predicate is None or predicate(c)]

        try:
            async with asyncio.timeout(timeout):
                async with self._calls_changed:
                    await self._calls_changed.wait_for(lambda: len(matching()) >= count)
        except TimeoutError:
            seen = ", ".join(call.method for call in self._calls[-20:]) or "none"
            raise TimeoutError(
                f"expected {count} call(s) of {method} within {timeout}s, "
                f"got {len(matching())}; last calls: {seen}"
            ) from None
        return matching()

    async def _record(self, call: Call) -> None:
        """Append a call to the log and wake waiters."""
        async with self._calls_changed:
            self._calls.append(call)
            self._calls_changed.notify_all()

    # ------------------------------------------------------------------ test controls

    def fail_next(
        self,
        method: str,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        *,
        times: int = 1,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (default: 429, retry after 1 s)."""
        parameters: JsonDict = {}
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if retry_after is not None:
            parameters["retry_after"] = retry_after
        if migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = migrate_to_chat_id
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                400: "Bad Request: message to edit not found",
                401: "Unauthorized",
                403: "Forbidden: bot was blocked by the user",
                409: "Conflict: terminated by other getUpdates request",
            }.get(error_code, "Internal Server Error")
        queue = self._failures.setdefault(method.lower(), [])
        queue.extend(BotApiError(error_code, description, parameters or None) for _ in range(times))

    def fail_next_bad_request(
        self, method: str, description: str = "Bad Request: message to edit not found"
    ) -> None:
        """Make the next call of ``method`` fail with a 400 Bad Request."""
        self.fail_next(method, error_code=400, description=description)

    def respond(self, method: str, responder: Responder | None) -> None:
        """Override the result of ``method`` with ``responder(params)``; ``None`` removes it."""
        if responder is None:
            self._responders.pop(method.lower(), None)
        else:
            self._responders[method.lower()] = responder

    # ------------------------------------------------------------------ builders

    def user(
        self,
        id: int,  # noqa: A002 - mirrors the Bot API field name
        first_name: str,
        username: str | None = None,
        language_code: str | None = "zh-hans",
        *,
        last_name: str | None = None,
        is_bot: bool = False,
    ) -> JsonDict:
        """Build (and remember) a Bot API User dict."""
        user: JsonDict = {"id": id, "is_bot": is_bot, "first_name": first_name}
        if last_name is not None:
            user["last_name"] = last_name
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        self._users[id] = user
        return copy.deepcopy(user)

    def private_chat(self, user: Mapping[str, Any]) -> JsonDict:
        """Build (and remember) the private Chat dict between ``user`` and the bot."""
        chat: JsonDict = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if key in user:
                chat[key] = user[key]
        self._chats[chat["id"]] = chat
        return copy.deepcopy(chat)

    def group_chat(
        self,
        id: int,  # noqa: A002 - mirrors the Bot API field name
        title: str,
        type: str = "group",  # noqa: A002 - mirrors the Bot API field name
        *,
        username: str | None = None,
    ) -> JsonDict:
        """Build (and remember) a group or supergroup Chat dict; ``id`` must be negative."""
        if type not in ("group", "supergroup"):
            raise ValueError(f"group chat type must be 'group' or 'supergroup', not {type!r}")
        if id >= 0:
            raise ValueError("group chat ids are negative (supergroups start with -100)")
        chat: JsonDict = {"id": id, "type": type, "title": title}
        if username is not None:
            chat["username"] = username
        self._chats[id] = chat
        return copy.deepcopy(chat)

    def set_member(
        self,
        chat: Mapping[str, Any] | int,
        user: Mapping[str, Any] | int,
        status: str = "administrator",
        **fields: Any,
    ) -> None:
        """Set getChatMember's status (and extra ChatMember fields) for a user in a chat."""
        allowed = ("creator", "administrator", "member", "restricted", "left", "kicked")
        if status not in allowed:
            raise ValueError(f"status must be one of {allowed}, not {status!r}")
        chat_id = chat if isinstance(chat, int) else int(chat["id"])
        user_id = user if isinstance(user, int) else int(user["id"])
        self._members[(chat_id, user_id)] = {"status": status, **fields}

    def set_bot_admin(
        self, chat: Mapping[str, Any] | int, can_delete_messages: bool = True, **rights: bool
    ) -> None:
        """Make the bot an administrator of ``chat`` with the given rights."""
        self.set_member(
            chat, self.bot_id, "administrator", can_delete_messages=can_delete_messages, **rights
        )

    def member_status(self, chat_id: int, user_id: int) -> str:
        """Return the configured status of a user in a chat ("member" by default)."""
        return str(self._members.get((chat_id, user_id), {}).get("status", "member"))

    # ------------------------------------------------------------------ update injection

    async def _enqueue(self, payload: JsonDict, *, once: bool = False) -> JsonDict:
        """Queue one update, assigning the next update_id unless one is present."""
        update = dict(payload)
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        if isinstance(update["update_id"], int):
            self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        if once and isinstance(update.get("update_id"), int):
            self._deliver_once.add(update["update_id"])
        async with self._updates_changed:
            self._updates.append(update)
            self._update_history.append(copy.deepcopy(update))
            self._updates_changed.notify_all()
        return copy.deepcopy(update)

    def _store_message(self, message: JsonDict) -> None:
        """Remember the current state of a message by (chat id, message id)."""
        self._messages[(int(message["chat"]["id"]), int(message["message_id"]))] = message

    def _next_message_id(self, chat_id: int) -> int:
        """Return the next message id in ``chat_id``."""
        self._message_counters[chat_id] = self._message_counters.get(chat_id, 0) + 1
        return self._message_counters[chat_id]

    def _reply_copy(self, message: Mapping[str, Any]) -> JsonDict:
        """Return a message for reply_to_message (Telegram does not nest further replies)."""
        stored = self._messages.get((int(message["chat"]["id"]), int(message["message_id"])))
        reply = copy.deepcopy(dict(stored if stored is not None else message))
        reply.pop("reply_to_message", None)
        return reply

    async def send_text(
        self,
        chat: Mapping[str, Any],
        user: Mapping[str, Any],
        text: str,
        reply_to: Mapping[str, Any] | None = None,
        entities: list[JsonDict] | None = None,
    ) -> JsonDict:
        """Inject a text message from ``user`` in ``chat`` and return the Message dict."""
        message: JsonDict = {
            "message_id": self._next_message_id(int(chat["id"])),
            "from": copy.deepcopy(dict(user)),
            "chat": copy.deepcopy(dict(chat)),
            "date": int(time.time()),
            "text": text,
        }
        found = auto_entities(text) if entities is None else copy.deepcopy(entities)
        if found:
            message["entities"] = found
        if reply_to is not None:
            message["reply_to_message"] = self._reply_copy(reply_to)
        self._users.setdefault(int(user["id"]), copy.deepcopy(dict(user)))
        self._chats.setdefault(int(chat["id"]), copy.deepcopy(dict(chat)))
        self._store_message(copy.deepcopy(message))
        await self._enqueue({"message": message})
        return copy.deepcopy(message)

    async def post(self, chat: Mapping[str, Any], user: Mapping[str, Any], **fields: Any) -> JsonDict:
        """Inject a message of any kind (a captioned photo, one sent as a channel…) from ``user``
        in ``chat``: ``fields`` are its fields besides id, sender, chat and date. Stored like a
        text message, so that it can be deleted."""
        message: JsonDict = {
            "message_id": self._next_message_id(int(chat["id"])),
            "from": copy.deepcopy(dict(user)),
            "chat": copy.deepcopy(dict(chat)),
            "date": int(time.time()),
            **copy.deepcopy(fields),
        }
        self._chats.setdefault(int(chat["id"]), copy.deepcopy(dict(chat)))
        self._store_message(copy.deepcopy(message))
        await self._enqueue({"message": message})
        return copy.deepcopy(message)

    async def edit_text(self, message: Mapping[str, Any], new_text: str) -> JsonDict:
        """Inject an edited_message update for a user's message and return the new Message."""
        key = (int(message["chat"]["id"]), int(message["message_id"]))
        edited = copy.deepcopy(dict(self._messages.get(key, message)))
        edited["text"] = new_text
        edited["edit_date"] = int(time.time())
        edited.pop("entities", None)
        found = auto_entities(new_text)
        if found:
            edited["entities"] = found
        self._store_message(copy.deepcopy(edited))
        await self._enqueue({"edited_message": edited})
        return copy.deepcopy(edited)

    async def press(
        self,
        message: Mapping[str, Any],
        callback_data: str,
        user: Mapping[str, Any],
        chat: Mapping[str, Any] | None = None,
        *,
        force: bool = False,
    ) -> JsonDict:
        """Inject a callback_query for a button of a bot message; return the CallbackQuery."""
        chat_dict = dict(chat) if chat is not None else dict(message["chat"])
        key = (int(chat_dict["id"]), int(message["message_id"]))
        current = copy.deepcopy(dict(self._messages.get(key, message)))
        current.setdefault("chat", copy.deepcopy(chat_dict))
        if not force:
            if key not in self._messages:
                raise LookupError(f"message {key} does not exist (deleted?); pass force=True")
            buttons = [
                button.get("callback_data")
                for row in current.get("reply_markup", {}).get("inline_keyboard", [])
                for button in row
            ]
            if callback_data not in buttons:
                raise LookupError(
                    f"message {key} has no button with callback_data {callback_data!r} "
                    f"(has {buttons}); pass force=True to press anyway"
                )
        query_id = str(4_000_000_000_000_000_000 + next(self._query_ids))
        self._open_queries.add(query_id)
        query: JsonDict = {
            "id": query_id,
            "from": copy.deepcopy(dict(user)),
            "message": current,
            "chat_instance": str(-abs(int(chat_dict["id"])) * 7919 % 10**18),
            "data": callback_data,
        }
        await self._enqueue({"callback_query": query})
        return copy.deepcopy(query)

    async def inline_query(
        self,
        user: Mapping[str, Any],
        query: str,
        offset: str = "",
        chat_type: str | None = None,
    ) -> JsonDict:
        """Inject an inline_query update from ``user`` and return the InlineQuery dict."""
        query_id = str(5_000_000_000_000_000_000 + next(self._query_ids))
        self._open_queries.add(query_id)
        inline: JsonDict = {
            "id": query_id,
            "from": copy.deepcopy(dict(user)),
            "query": query,
            "offset": offset,
        }
        if chat_type is not None:
            inline["chat_type"] = chat_type
        await self._enqueue({"inline_query": inline})
        return copy.deepcopy(inline)

    async def raw_update(self, update: Mapping[str, Any], *, once: bool = False) -> JsonDict:
        """Inject an arbitrary (possibly malformed) update; ``once`` drops it after one delivery."""
        return await self._enqueue(copy.deepcopy(dict(update)), once=once)

    @property
    def pending_updates(self) -> list[JsonDict]:
        """Updates queued but not yet acknowledged via getUpdates' offset."""
        return copy.deepcopy(self._updates)

    @property
    def injected_updates(self) -> list[JsonDict]:
        """Every update injected so far, in order."""
        return copy.deepcopy(self._update_history)

    # ------------------------------------------------------------------ bot messages

    def sent_messages(self, chat_id: int | None = None) -> list[JsonDict]:
        """Return sendMessage results (as sent, before later edits) in order, optionally by chat."""
        return [
            copy.deepcopy(message)
            for message in self._sent
            if chat_id is None or message["chat"]["id"] == chat_id
        ]

    def last_message(self, chat_id: int) -> JsonDict:
        """Return the last sendMessage result in ``chat_id``; raise LookupError if none."""
        sent = self.sent_messages(chat_id)
        if not sent:
            raise LookupError(f"the bot sent no message to chat {chat_id}")
        return sent[-1]

    def message(self, chat_id: int, message_id: int) -> JsonDict | None:
        """Return the current state of a message (after edits), or None if unknown/deleted."""
        stored = self._messages.get((chat_id, message_id))
        return copy.deepcopy(stored) if stored is not None else None

    def commands(self, scope: JsonDict | None = None, language_code: str = "") -> list[JsonDict]:
        """Return the command list currently set for a scope and language."""
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    # ------------------------------------------------------------------ HTTP layer

    async def _read_params(self, request: web.Request) -> JsonDict:
        """Decode query string plus JSON or urlencoded body into a params dict."""
        params: JsonDict = {k: _decode_value(k, v) for k, v in request.query.items()}
        if request.method not in ("POST", "PUT") or not request.can_read_body:
            return params
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise _bad_request("request body must be a JSON object")
            params.update({k: _decode_json_body_value(k, v) for k, v in body.items()})
            return params
        form = await request.post()
        params.update({key: _decode_value(key, value) for key, value in form.items()
                       if isinstance(value, str)})
        return params

    async def _handle_api(self, request: web.Request) -> web.Response:
        """Dispatch one Bot API request and record it."""
        if self.token is not None and request.match_info["token"] != self.token:
            error = BotApiError(401, "Unauthorized")
            return web.json_response(error.to_dict(), status=error.error_code)
        raw_method = request.match_info["method"]
        canonical, handler = self._handlers.get(raw_method.lower(), (raw_method, None))
        try:
            params = await self._read_params(request)
        except BotApiError as error:
            await self._record(Call(canonical, {}, error=error.to_dict()))
            return web.json_response(error.to_dict(), status=error.error_code)
        try:
            result = await self._dispatch(canonical, handler, params)
        except BotApiError as error:
            await self._record(Call(canonical, params, error=error.to_dict()))
            return web.json_response(error.to_dict(), status=error.error_code)
        await self._record(Call(canonical, params, result=copy.deepcopy(result)))
        return web.json_response({"ok": True, "result": result})

    async def _dispatch(self, method: str, handler: Handler | None, params: JsonDict) -> Any:
        """Apply injected failures, test overrides, then the built-in implementation."""
        failures = self._failures.get(method.lower())
        if failures:
            raise failures.pop(0)
        responder = self._responders.get(method.lower())
        if responder is not None:
            result = responder(params)
            return await result if inspect.isawaitable(result) else result
        if handler is None:
            return True
        return await handler(params)

    # ------------------------------------------------------------------ helpers for methods

    def _public_bot_user(self) -> JsonDict:
        """Return the bot as it appears in Message.from (without getMe-only fields)."""
        keys = ("id", "is_bot", "first_name", "username")
        return {key: self._bot_user[key] for key in keys}

    def _chat_for(self, chat_id: Any) -> JsonDict:
        """Resolve a chat_id parameter (int or "@username") to a Chat dict."""
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for chat in self._chats.values():
                if chat.get("username", "").lower() == chat_id[1:].lower():
                    return chat
            raise _bad_request("chat not found")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise _bad_request("chat not found")
        if chat_id not in self._chats:
            if chat_id > 0:
                chat_type = "private"
            elif str(chat_id).startswith("-100"):
                chat_type = "supergroup"
            else:
                chat_type = "group"
            chat: JsonDict = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat["first_name"] = self._users.get(chat_id, {}).get(
                    "first_name", f"User{chat_id}"
                )
            else:
                chat["title"] = f"Chat {chat_id}"
            self._chats[chat_id] = chat
        return self._chats[chat_id]

    def _user_for(self, user_id: int) -> JsonDict:
        """Return a known user or a placeholder User dict."""
        return copy.deepcopy(
            self._users.get(
                user_id, {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
            )
        )

    def _render_text(self, params: JsonDict, key: str = "text") -> tuple[str, list[JsonDict]]:
        """Apply parse_mode/entities to a text parameter like Telegram does (HTML only)."""
        raw = params.get(key)
        if raw is None:
            raw = ""
        text = raw if isinstance(raw, str) else json.dumps(raw)
        entities = params.get("entities" if key == "text" else f"{key}_entities")
        parse_mode = str(params.get("parse_mode" if key == "text" else "caption_parse_mode") or "")
        if isinstance(entities, list):
            rendered: tuple[str, list[JsonDict]] = (text, entities)
        elif parse_mode.lower() == "html":
            rendered = parse_html(text)
        else:
            rendered = (text, [])
        if self.strict and key == "text":
            if not rendered[0].strip():
                raise _bad_request("message text is empty")
            if utf16_len(rendered[0]) > MAX_MESSAGE_LENGTH:
                raise _bad_request("message is too long")
        return rendered

    def _check_markup(self, markup: Any) -> JsonDict | None:
        """Validate reply_markup; return it if it is an inline keyboard Telegram echoes back."""
        if not isinstance(markup, dict):
            if markup is not None and self.strict:
                raise _bad_request("can't parse reply keyboard markup JSON object")
            return None
        keyboard = markup.get("inline_keyboard")
        if keyboard is None:
            return None
        if self.strict:
            for row in keyboard:
                for button in row:
                    data = button.get("callback_data")
                    if (
                        data is not None
                        and len(str(data).encode("utf-8")) > MAX_CALLBACK_DATA_BYTES
                    ):
                        raise _bad_request("BUTTON_DATA_INVALID")
                    if len(button) < 2:
                        raise _bad_request(
                            "can't parse inline keyboard button: "
                            "Text buttons are unallowed in the inline keyboard"
                        )
        return copy.deepcopy(markup)

    def _reply_target(self, chat_id: int, params: JsonDict) -> JsonDict | None:
        """Resolve reply_parameters / reply_to_message_id into a reply_to_message dict."""
        reply = params.get("reply_parameters")
        message_id: Any = None
        target_chat = chat_id
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            if isinstance(reply.get("chat_id"), int):
                target_chat = reply["chat_id"]
            allow_missing = bool(reply.get("allow_sending_without_reply"))
        else:
            message_id = params.get("reply_to_message_id")
            allow_missing = bool(params.get("allow_sending_without_reply"))
        if not isinstance(message_id, int):
            return None
        stored = self._messages.get((target_chat, message_id))
        if stored is None:
            if self.strict and not allow_missing:
                raise _bad_request("message to be replied not found")
            return None
        return self._reply_copy(stored)

    def _locate_editable(self, params: JsonDict) -> JsonDict | None:
        """Find the bot message an edit refers to; None for inline messages."""
        if "inline_message_id" in params:
            return None
        chat = self._chat_for(params.get("chat_id"))
        message = self._messages.get((int(chat["id"]), params.get("message_id", -1)))
        if message is None:
            if self.strict:
                raise _bad_request("message to edit not found")
            return None
        if self.strict and message.get("from", {}).get("id") != self.bot_id:
            raise _bad_request("message can't be edited")
        return message

    # ------------------------------------------------------------------ method implementations

    async def _get_me(self, params: JsonDict) -> JsonDict:
        """getMe."""
        return self.bot_user

    def _acknowledge(self, offset: Any) -> None:
        """Forget updates confirmed by getUpdates' ``offset``."""
        if not isinstance(offset, int) or isinstance(offset, bool):
            return
        if offset < 0:
            self._updates = self._updates[offset:]
        else:
            self._updates = [u for u in self._updates if _update_id(u) >= offset]

    def _deliverable(self, limit: int, allowed: Any) -> list[JsonDict]:
        """Return up to ``limit`` queued updates matching ``allowed_updates``."""
        ready = []
        for update in self._updates:
            if isinstance(allowed, list) and allowed:
                kinds = set(update) - {"update_id"}
                if kinds and not kinds & set(allowed):  # a kind-less update cannot be filtered
                    continue
            ready.append(update)
            if len(ready) >= limit:
                break
        return ready

    async def _get_updates(self, params: JsonDict) -> list[JsonDict]:
        """getUpdates with long polling that returns as soon as an update is queued."""
        if self._webhook.get("url"):
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        limit = params.get("limit", 100)
        limit = max(1, min(100, limit if isinstance(limit, int) else 100))
        timeout = params.get("timeout", 0)
        timeout = float(timeout) if isinstance(timeout, int | float) else 0.0
        wait = max(0.0, min(timeout, self.max_poll_timeout))
        allowed = params.get("allowed_updates")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        async with self._updates_changed:
            self._acknowledge(params.get("offset"))
            while True:
                ready = self._deliverable(limit, allowed)
                remaining = deadline - loop.time()
                if ready or self._closing or remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):
                        await self._updates_changed.wait()
                except TimeoutError:
                    ready = self._deliverable(limit, allowed)
                    break
            once = {_update_id(u) for u in ready} & self._deliver_once
            if once:
                self._updates = [u for u in self._updates if _update_id(u) not in once]
                self._deliver_once -= once
        return copy.deepcopy(ready)

    async def _delete_webhook(self, params: JsonDict) -> bool:
        """deleteWebhook (drop_pending_updates clears the queue)."""
        self._webhook = {"url": ""}
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        return True

    async def _set_webhook(self, params: JsonDict) -> bool:
        """setWebhook (remembered; getUpdates then answers 409 like Telegram)."""
        url = params.get("url", "")
        self._webhook = {"url": url}
        for key in ("max_connections", "allowed_updates", "ip_address"):
            if key in params:
                self._webhook[key] = params[key]
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        return True

    async def _send_message(self, params: JsonDict) -> JsonDict:
        """sendMessage: build, store and return a Message from the bot."""
        chat = self._chat_for(params.get("chat_id"))
        text, entities = self._render_text(params)
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(int(chat["id"]), params)
        message: JsonDict = {
            "message_id": self._next_message_id(int(chat["id"])),
            "from": self._public_bot_user(),
            "chat": copy.deepcopy(chat),
            "date": int(time.time()),
            "text": text,
        }
        if entities:
            message["entities"] = copy.deepcopy(entities)
        if isinstance(params.get("message_thread_id"), int):
            message["message_thread_id"] = params["message_thread_id"]
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if markup is not None:
            message["reply_markup"] = markup
        self._store_message(copy.deepcopy(message))
        self._sent.append(copy.deepcopy(message))
        return message

    async def _edit_message_text(self, params: JsonDict) -> JsonDict | bool:
        """editMessageText (no reply_markup removes the inline keyboard, as in Telegram)."""
        message = self._locate_editable(params)
        text, entities = self._render_text(params)
        markup = self._check_markup(params.get("reply_markup"))
        if message is None:
            return True
        if (
            self.strict
            and message.get("text") == text
            and message.get("entities", []) == entities
            and message.get("reply_markup") == markup
        ):
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message["text"] = text
        message["edit_date"] = int(time.time())
        message.pop("entities", None)
        if entities:
            message["entities"] = copy.deepcopy(entities)
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        return copy.deepcopy(message)

    async def _edit_message_reply_markup(self, params: JsonDict) -> JsonDict | bool:
        """editMessageReplyMarkup (no reply_markup removes the inline keyboard)."""
        message = self._locate_editable(params)
        markup = self._check_markup(params.get("reply_markup"))
        if message is None:
            return True
        if self.strict and message.get("reply_markup") == markup:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message["edit_date"] = int(time.time())
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        return copy.deepcopy(message)

    async def _delete_message(self, params: JsonDict) -> bool:
        """deleteMessage; in strict mode others' group messages need can_delete_messages."""
        chat = self._chat_for(params.get("chat_id"))
        key = (int(chat["id"]), params.get("message_id", -1))
        message = self._messages.get(key)
        if message is None:
            if self.strict:
                raise _bad_request("message to delete not found")
            return True
        from_bot = message.get("from", {}).get("id") == self.bot_id
        if self.strict and chat["type"] != "private" and not from_bot:
            rights = self._members.get((int(chat["id"]), self.bot_id), {})
            is_admin = rights.get("status") == "creator" or (
                rights.get("status") == "administrator" and rights.get("can_delete_messages")
            )
            if not is_admin:
                raise _bad_request("message can't be deleted")
        del self._messages[key]
        return True

    async def _answer_query(self, params: JsonDict) -> bool:
        """answerCallbackQuery / answerInlineQuery for ids issued by press()/inline_query()."""
        query_id = params.get("callback_query_id", params.get("inline_query_id"))
        if self.strict and str(query_id) not in self._open_queries:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        return True

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        """Key of the command list for a scope and language code."""
        scope = scope if isinstance(scope, dict) else {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    async def _set_my_commands(self, params: JsonDict) -> bool:
        """setMyCommands with Telegram's command name validation."""
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request('parameter "commands" is required')
        if self.strict:
            for command in commands:
                if not _BOT_COMMAND_NAME_RE.fullmatch(str(command.get("command", ""))):
                    raise _bad_request("BOT_COMMAND_INVALID")
                if not 1 <= len(str(command.get("description", ""))) <= 256:
                    raise _bad_request("command description must be non-empty")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = copy.deepcopy(commands)
        return True

    def _member_dict(self, chat_id: int, user_id: int) -> JsonDict:
        """Build a ChatMember dict with every field PTB requires for the status."""
        configured = dict(self._members.get((chat_id, user_id), {"status": "member"}))
        status = configured.pop("status")
        member: JsonDict = {"status": status, "user": self._user_for(user_id)}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            for right in (
                "can_manage_chat",
                "can_delete_messages",
                "can_manage_video_chats",
                "can_restrict_members",
                "can_promote_members",
                "can_change_info",
                "can_invite_users",
                "can_post_stories",
                "can_edit_stories",
                "can_delete_stories",
            ):
                member[right] = right == "can_manage_chat"
            member.update({"can_be_edited": False, "is_anonymous": False})
        elif status == "restricted":
            for right in (
                "can_change_info",
                "can_invite_users",
                "can_pin_messages",
                "can_send_messages",
                "can_send_polls",
                "can_send_other_messages",
                "can_add_web_page_previews",
                "can_manage_topics",
                "can_send_audios",
                "can_send_documents",
                "can_send_photos",
                "can_send_videos",
                "can_send_video_notes",
                "can_send_voice_notes",
                "can_edit_tag",
            ):
                member[right] = False
            member.update({"is_member": True, "until_date": 0})
        elif status == "kicked":
            member["until_date"] = 0
        member.update(configured)
        return member

    async def _get_chat_member(self, params: JsonDict) -> JsonDict:
        """getChatMember using the statuses configured with set_member/set_bot_admin."""
        chat = self._chat_for(params.get("chat_id"))
        user_id = params.get("user_id")
        if not isinstance(user_id, int):
            raise _bad_request("invalid user_id specified")
        return self._member_dict(int(chat["id"]), user_id)

def _update_id(update: Mapping[str, Any]) -> int:
    """Return an update's id, treating malformed ids as 0."""
    value = update.get("update_id")
    return value if isinstance(value, int) else 0
