"""The Telegram adapter: turns updates into engine calls and engine replies into messages."""

from .app import build_application, run
from .feedback import FeedbackSink, LoggingFeedbackSink

__all__ = ["FeedbackSink", "LoggingFeedbackSink", "build_application", "run"]
