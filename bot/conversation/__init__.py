"""One conversation core that every chat surface (terminal, Telegram) drives."""

from .core import Conversation, EngineRef, Out, Pressed, Show, UserState, Who, screen

__all__ = ["Conversation", "EngineRef", "Out", "Pressed", "Show", "UserState", "Who", "screen"]
