"""getChatMember answers, kept briefly: who is an admin, and what the bot itself may do."""

from __future__ import annotations

import logging
import time

from telegram import (
    Bot,
    ChatMember,
)
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

logger = logging.getLogger(__name__)

MEMBER_CACHE_SECONDS = 60.0  # how long a getChatMember answer (admin or not) is trusted
MEMBER_CACHE_SIZE = 1000  # expired answers are dropped once the cache holds this many


class MemberCache:
    """getChatMember answers, kept briefly: who is an admin, and what the bot itself may do."""

    def __init__(self, ttl: float = MEMBER_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._seen: dict[tuple[int, int], tuple[float, ChatMember | None]] = {}

    async def get(self, bot: Bot, chat_id: int, user_id: int) -> ChatMember | None:
        """The user's membership in the chat, from the cache or Telegram; None if unknown."""
        now = time.monotonic()
        cached = self._seen.get((chat_id, user_id))
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            member: ChatMember | None = await bot.get_chat_member(chat_id, user_id)
        except TelegramError as exc:
            logger.warning("getChatMember %s in %s failed: %s", user_id, chat_id, exc)
            member = None
        if len(self._seen) >= MEMBER_CACHE_SIZE:
            self._seen = {k: v for k, v in self._seen.items() if v[0] > now}
        self._seen[(chat_id, user_id)] = (now + self.ttl, member)
        return member

    def remember(self, chat_id: int, user_id: int, member: ChatMember) -> None:
        """Keep a membership Telegram just told about (my_chat_member: the bot added, promoted)."""
        self._seen[(chat_id, user_id)] = (time.monotonic() + self.ttl, member)

    def forget(self, chat_id: int, user_id: int) -> None:
        """Drop one answer, e.g. after Telegram refused what it allowed."""
        self._seen.pop((chat_id, user_id), None)

    async def is_admin(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        """Whether the user owns or administers the chat."""
        member = await self.get(bot, chat_id, user_id)
        return member is not None and member.status in (
            ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR
        )

    async def can_delete(self, bot: Bot, chat_id: int) -> bool:
        """Whether the bot may delete other people's messages in the chat."""
        member = await self.get(bot, chat_id, bot.id)
        if member is None:
            return False
        if member.status == ChatMemberStatus.OWNER:
            return True
        return member.status == ChatMemberStatus.ADMINISTRATOR and bool(
            getattr(member, "can_delete_messages", False)
        )
