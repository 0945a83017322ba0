"""Group chats, one concern a module: rules (pure), members (getChatMember cache), chats
(messages and commands) and buttons; what a group remembers is in ..memory.ChatData."""

from .buttons import GroupButtons, GroupPresses
from .chats import GroupChats
from .rules import (
    AS_CHANNEL,
    CAPTION_ASK,
    MIGRATION,
    SENSITIVE,
    confident,
    looks_like_question,
    message_link,
)

__all__ = [
    "AS_CHANNEL",
    "CAPTION_ASK",
    "MIGRATION",
    "SENSITIVE",
    "GroupButtons",
    "GroupChats",
    "GroupPresses",
    "confident",
    "looks_like_question",
    "message_link",
]
