"""Group chats, one concern a module: rules (pure), members (getChatMember cache), memory
(chat_data), chats (messages and commands) and buttons."""

from .buttons import GroupButtons, GroupPresses
from .chats import GroupChats
from .memory import SETTINGS_KEY, auto_answer_on
from .rules import MIGRATION, SENSITIVE, confident, looks_like_question, message_link

__all__ = [
    "MIGRATION",
    "SENSITIVE",
    "SETTINGS_KEY",
    "GroupButtons",
    "GroupChats",
    "GroupPresses",
    "auto_answer_on",
    "confident",
    "looks_like_question",
    "message_link",
]
