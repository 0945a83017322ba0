"""The platform-independent engine: knowledge base, matcher, case verdicts and dialogues."""

from .dialogue import Dialogues, DialogueState
from .engine import Engine
from .knowledge import KnowledgeBase, KnowledgeError
from .matcher import Match
from .policy import Outcome, Policy
from .reply import Button, Reply, ReplyKind

__all__ = [
    "Button",
    "DialogueState",
    "Dialogues",
    "Engine",
    "KnowledgeBase",
    "KnowledgeError",
    "Match",
    "Outcome",
    "Reply",
    "Policy",
    "ReplyKind",
]
