"""Wires the Telegram bot in one place: builder, persistence, handlers in order, menus, polling."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from telegram import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    PicklePersistence,
    TypeHandler,
    filters,
)

from ..engine import Dialogues, Engine, KnowledgeError
from ..engine.sensitive import install_log_redaction
from ..settings import Settings, SettingsError
from . import texts
from .dialogue import BindDialogue
from .errors import on_error
from .feedback import FeedbackSink, LoggingFeedbackSink
from .handlers import GROUPS, NEW_MESSAGES, PRIVATE, Answers, screen

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_BAD_KNOWLEDGE, EXIT_BAD_SETTINGS = 0, 1, 2
RATE_LIMIT_RETRIES = 3  # AIORateLimiter resends after a 429 this many times
SCREEN_GROUP = -1  # runs before every other handler
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = ("httpx", "apscheduler")  # httpx logs each request URL, token included
COMMAND_MENUS = (
    (BotCommandScopeAllPrivateChats(), texts.PRIVATE_COMMANDS),
    (BotCommandScopeAllGroupChats(), texts.GROUP_COMMANDS),
    (BotCommandScopeAllChatAdministrators(), texts.ADMIN_COMMANDS),
)


async def set_command_menus(application: Application) -> None:
    """post_init: the command menus, with Chinese descriptions, for each kind of chat."""
    for scope, commands in COMMAND_MENUS:
        await application.bot.set_my_commands([BotCommand(c, d) for c, d in commands], scope=scope)


def build_application(
    settings: Settings, engine: Engine, feedback: FeedbackSink | None = None
) -> Application:
    """The Application with every handler registered, ready for run_polling()."""
    install_log_redaction()
    if not settings.telegram_bot_token:
        raise ValueError("build_application needs settings.telegram_bot_token")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    builder = (
        Application.builder()
        .token(settings.telegram_bot_token)
        .defaults(Defaults(parse_mode=ParseMode.HTML,
                           link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
        .persistence(PicklePersistence(filepath=settings.persistence_path))
        .post_init(set_command_menus)
    )
    if settings.telegram_base_url:
        builder = builder.base_url(settings.telegram_base_url)
    if settings.telegram_base_file_url:
        builder = builder.base_file_url(settings.telegram_base_file_url)
    app = builder.build()

    answers = Answers(engine, feedback or LoggingFeedbackSink())
    bind = BindDialogue(Dialogues(engine), answers, settings.dialogue_timeout)

    # Group -1: drop channel posts, updates without a user or chat, and kinds we do not handle.
    app.add_handler(TypeHandler(Update, screen), group=SCREEN_GROUP)

    # Note: order matters! Within group 0 the first handler that accepts an update takes it.
    # 1. The dialogue first: while it runs it takes its own buttons and typed answers; what it
    #    does not take (/help, an answer's buttons…) falls through to the handlers below.
    app.add_handler(bind.conversation())
    # 2. Commands (/start with the "bind" payload and /bind were taken by the dialogue).
    app.add_handler(CommandHandler("start", answers.start, filters=NEW_MESSAGES))
    app.add_handler(CommandHandler("help", answers.help, filters=NEW_MESSAGES))
    app.add_handler(CommandHandler(("topics", "faq"), answers.topics, filters=NEW_MESSAGES))
    app.add_handler(CommandHandler("cancel", answers.cancel, filters=NEW_MESSAGES))
    app.add_handler(MessageHandler(NEW_MESSAGES & PRIVATE & filters.COMMAND, answers.unknown_command))
    # 3. Buttons, by the action the engine put on them; the last one answers any other query.
    app.add_handler(CallbackQueryHandler(answers.show_entry, pattern=r"^q:"))
    app.add_handler(CallbackQueryHandler(answers.show_topic, pattern=r"^(t:|topics$)"))
    app.add_handler(CallbackQueryHandler(answers.none_of_these, pattern=r"^none$"))
    app.add_handler(CallbackQueryHandler(answers.vote, pattern=r"^fb:"))
    app.add_handler(CallbackQueryHandler(answers.stale_dialogue_button, pattern=r"^d:"))
    app.add_handler(CallbackQueryHandler(answers.unknown_button))
    # 4. Text: questions in private chats; in groups only the warning about posted numbers.
    text = filters.TEXT & ~filters.COMMAND
    app.add_handler(MessageHandler(NEW_MESSAGES & PRIVATE & text, answers.question))
    app.add_handler(MessageHandler(NEW_MESSAGES & GROUPS & text, answers.group_text))
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE & PRIVATE & text, answers.edited))
    app.add_handler(MessageHandler(NEW_MESSAGES & PRIVATE & ~filters.TEXT, answers.not_text))

    app.add_error_handler(on_error)
    return app


def configure_logging(level: str) -> None:
    """Log to stderr at `level`, with sensitive numbers redacted and request URLs kept quiet."""
    logging.basicConfig(format=LOG_FORMAT, level=level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    install_log_redaction()


def run(knowledge_dir: Path | str | None = None) -> int:
    """`python -m bot run`: check settings and knowledge, then long-poll until stopped."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(texts.SETTINGS_INVALID.format(problem=exc), file=sys.stderr)
        return EXIT_BAD_SETTINGS
    if not settings.telegram_bot_token:
        print(texts.TOKEN_MISSING, file=sys.stderr)
        return EXIT_BAD_SETTINGS
    configure_logging(settings.log_level)
    try:
        engine = Engine.from_folder(knowledge_dir)
    except KnowledgeError as exc:
        print(texts.KNOWLEDGE_INVALID.format(problems=exc), file=sys.stderr)
        return EXIT_BAD_KNOWLEDGE
    app = build_application(settings, engine)
    logger.info("starting long polling (data in %s)", settings.data_dir)
    app.run_polling(allowed_updates=Update.ALL_TYPES)
    return EXIT_OK
