"""The Telegram surface: updates into conversation-core calls, replies into messages."""

from ..analytics import FeedbackSink, LoggingFeedbackSink
from .app import build_application, run

__all__ = ["FeedbackSink", "LoggingFeedbackSink", "build_application", "run"]
