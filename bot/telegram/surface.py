"""What the private-chat and group surfaces share: the conversation core, who is talking, and
the typed data PTB keeps for the user and the chat."""

from __future__ import annotations

from telegram import Update

from ..conversation import Conversation, Who
from ..engine import Engine
from .memory import ChatData, Context, UserData


class Surface:
    """A Telegram surface of the conversation core."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation

    @property
    def engine(self) -> Engine:
        """The engine in service (a reload swaps it between two updates)."""
        return self.conversation.engine

    @staticmethod
    def who(update: Update) -> Who:
        """The user and the chat type, as analytics records them."""
        user, chat = update.effective_user, update.effective_chat
        return Who(user.id if user else None, chat.type if chat else None)

    @staticmethod
    def chat_data(context: Context) -> ChatData:
        """The chat's memory (a throwaway one where PTB keeps none)."""
        return context.chat_data if context.chat_data is not None else ChatData()

    @staticmethod
    def user_data(context: Context) -> UserData:
        """The user's data (a throwaway one where PTB keeps none)."""
        return context.user_data if context.user_data is not None else UserData()
