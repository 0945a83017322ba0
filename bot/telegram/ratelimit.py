"""Telegram's limits, kept without making urgent calls wait: AIORateLimiter, except that calls
which post nothing into a group do not queue behind that group's messages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.ext import AIORateLimiter

# Telegram's 20-a-minute limit per group is about messages posted into it. These calls post
# nothing, and must not wait behind queued answers: deleting a posted ID number, answering a
# button press (PTB's limiter never holds that one: it names no chat), checking who is an admin.
NOT_GROUP_MESSAGES = frozenset({
    "deleteMessage", "deleteMessages", "getChatMember", "getChatAdministrators", "getChat",
    "answerCallbackQuery", "getMe",
})

JSONDict = dict[str, Any]


class GroupRateLimiter(AIORateLimiter):
    """AIORateLimiter for messages; calls in NOT_GROUP_MESSAGES pass without queuing."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        """Limit as AIORateLimiter does; a call that posts nothing is not counted against its
        chat (`data` only decides the limiter here; the request is sent as given in `args`)."""
        if endpoint in NOT_GROUP_MESSAGES:
            data = {k: v for k, v in data.items() if k != "chat_id"}
        return await super().process_request(callback, args, kwargs, endpoint, data,
                                              rate_limit_args)
