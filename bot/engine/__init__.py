"""The platform-independent engine: knowledge base, matcher, case verdicts and dialogues."""

from .dialogue import Dialogues, DialogueState
from .engine import Engine
from .knowledge import KnowledgeBase, KnowledgeError
from .matcher import Match, Thresholds
from .reply import Button, Reply, ReplyKind

__all__ = [
    "Button",
    "DialogueState",
    "Dialogues",
    "Engine",
    "KnowledgeBase",
    "KnowledgeError",
    "Match",
    "Reply",
    "ReplyKind",
    "Thresholds",
]
