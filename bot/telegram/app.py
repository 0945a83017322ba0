"""Wires the Telegram bot in one place: builder, persistence, handlers in order, menus, running."""

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
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from ..analytics import Analytics, AnalyticsFeedbackSink
from ..engine import Engine, KnowledgeError
from ..engine.cache import load_engine
from ..engine.sensitive import install_log_redaction
from ..settings import Settings, SettingsError
from . import groups, texts
from .dialogue import BindDialogue
from .errors import on_error
from .feedback import FeedbackSink, LoggingFeedbackSink
from .handlers import GROUPS, NEW_MESSAGES, PRIVATE, Answers, screen
from .inline import InlineAnswers
from .ops import (
    EngineRef,
    Ops,
    OpsApplication,
    PerChatUpdateProcessor,
    StatePersistence,
    UpdatesRequest,
    run_until_signalled,
)

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_BAD_KNOWLEDGE, EXIT_BAD_SETTINGS, EXIT_STARTUP_FAILED = 0, 1, 2, 3
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
    settings: Settings, engine: Engine | EngineRef, feedback: FeedbackSink | None = None,
    analytics: Analytics | None = None,
) -> OpsApplication:
    """The Application with every handler registered, ready for ops.serve() (or run_polling()).

    With `analytics`, questions, "did you mean" choices and feedback are recorded in it (and it
    is closed on shutdown); `feedback` overrides where 👍/👎/都不是 go.
    """
    install_log_redaction()
    if not settings.telegram_bot_token:
        raise ValueError("build_application needs settings.telegram_bot_token")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ref = engine if isinstance(engine, EngineRef) else EngineRef(engine)
    ops = Ops(settings, ref, analytics)
    builder = (
        Application.builder()
        .application_class(OpsApplication, {"ops": ops})
        .token(settings.telegram_bot_token)
        .defaults(Defaults(parse_mode=ParseMode.HTML,
                           link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .rate_limiter(AIORateLimiter(overall_max_rate=settings.send_rate,
                                     max_retries=RATE_LIMIT_RETRIES))
        .persistence(StatePersistence(settings.persistence_path))
        .concurrent_updates(PerChatUpdateProcessor())  # chats side by side, each chat in order
        .get_updates_request(UpdatesRequest())
        .post_init(set_command_menus)
        .post_shutdown(ops.close)
    )
    if settings.telegram_base_url:
        builder = builder.base_url(settings.telegram_base_url)
    if settings.telegram_base_file_url:
        builder = builder.base_file_url(settings.telegram_base_file_url)
    app: OpsApplication = builder.build()  # type: ignore[assignment]

    if feedback is None:
        feedback = AnalyticsFeedbackSink(analytics) if analytics else LoggingFeedbackSink()
    answers = Answers(ref, feedback, analytics)
    bind = BindDialogue(ref, answers, settings.dialogue_timeout)
    group_chats = groups.GroupChats(answers, settings.group_cooldown)

    # Group -1: drop channel posts, updates without a user or (inline queries aside) a chat, and
    # kinds we do not handle.
    app.add_handler(TypeHandler(Update, screen), group=SCREEN_GROUP)

    # Note: order matters! Within group 0 the first handler that accepts an update takes it.
    # 0. Group chats (groups.py), before the dialogue, which never runs there. A posted number
    #    comes first: warned about, deleted where the bot may, what is left answered if asked.
    in_groups = NEW_MESSAGES & GROUPS
    app.add_handler(MessageHandler(in_groups & groups.SENSITIVE, group_chats.sensitive))
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE & GROUPS & groups.SENSITIVE,
                                   group_chats.sensitive_edit))
    app.add_handler(MessageHandler(groups.MIGRATION, group_chats.migrate))
    app.add_handler(CommandHandler("ask", group_chats.ask, filters=NEW_MESSAGES))  # private too
    app.add_handler(CommandHandler("settings", group_chats.settings, filters=NEW_MESSAGES))
    app.add_handler(CommandHandler("bind", group_chats.bind, filters=in_groups))
    app.add_handler(CommandHandler(("topics", "faq"), group_chats.topics, filters=in_groups))
    app.add_handler(CommandHandler(("start", "help"), group_chats.help, filters=in_groups))
    #    Buttons pressed in groups: only the asker's press changes the asker's message.
    app.add_handler(groups.GroupButtons(group_chats.show_entry, pattern=r"^q:"))
    app.add_handler(groups.GroupButtons(group_chats.show_topic, pattern=r"^(t:|topics$)"))
    app.add_handler(groups.GroupButtons(group_chats.none_of_these, pattern=r"^none$"))
    app.add_handler(groups.GroupButtons(group_chats.vote, pattern=r"^fb:"))
    app.add_handler(groups.GroupButtons(group_chats.open_private, pattern=r"^flow:"))
    app.add_handler(groups.GroupButtons(group_chats.toggle, pattern=r"^gs:"))
    #    Text: answered when it mentions or replies to the bot, or (if turned on) auto-answered.
    app.add_handler(MessageHandler(in_groups & filters.TEXT & ~filters.COMMAND, group_chats.text))
    #    Inline queries (inline.py), typed in any chat.
    app.add_handler(InlineQueryHandler(InlineAnswers(answers).answer))
    # 1. The dialogue: while it runs it takes its own buttons and typed answers; what it
    #    does not take (/help, an answer's buttons…) falls through to the handlers below.
    app.add_handler(bind.conversation())
    # 2. Commands (/start with the "bind" payload and /bind were taken by the dialogue).
    app.add_handler(CommandHandler("start", answers.start, filters=NEW_MESSAGES))
    app.add_handler(CommandHandler("help", answers.help, filters=NEW_MESSAGES))
    app.add_handler(CommandHandler(("topics", "faq"), answers.topics, filters=NEW_MESSAGES))
    app.add_handler(CommandHandler("cancel", answers.cancel, filters=NEW_MESSAGES))
    app.add_handler(CommandHandler("reload", ops.reload_command, filters=NEW_MESSAGES))  # ADMIN_IDS
    app.add_handler(MessageHandler(NEW_MESSAGES & PRIVATE & filters.COMMAND, answers.unknown_command))
    # 3. Buttons, by the action the engine put on them; the last one answers any other query.
    app.add_handler(CallbackQueryHandler(answers.show_entry, pattern=r"^q:"))
    app.add_handler(CallbackQueryHandler(answers.show_topic, pattern=r"^(t:|topics$)"))
    app.add_handler(CallbackQueryHandler(answers.none_of_these, pattern=r"^none$"))
    app.add_handler(CallbackQueryHandler(answers.vote, pattern=r"^fb:"))
    app.add_handler(CallbackQueryHandler(answers.stale_dialogue_button, pattern=r"^d:"))
    app.add_handler(CallbackQueryHandler(answers.unknown_button))
    # 4. Text in private chats: questions, edited questions, and what is not text.
    text = filters.TEXT & ~filters.COMMAND
    app.add_handler(MessageHandler(NEW_MESSAGES & PRIVATE & text, answers.question))
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
    """`python -m bot run`: check settings and knowledge, then poll (or serve the webhook) until stopped."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(texts.SETTINGS_INVALID.format(problem=exc), file=sys.stderr)
        return EXIT_BAD_SETTINGS
    if not settings.telegram_bot_token:
        print(texts.TOKEN_MISSING, file=sys.stderr)
        return EXIT_BAD_SETTINGS
    if settings.webhook_url and not settings.webhook_secret:
        print(texts.WEBHOOK_SECRET_MISSING, file=sys.stderr)
        return EXIT_BAD_SETTINGS
    configure_logging(settings.log_level)
    try:
        engine = load_engine(knowledge_dir)  # from the cache when built before
    except KnowledgeError as exc:
        print(texts.KNOWLEDGE_INVALID.format(problems=exc), file=sys.stderr)
        return EXIT_BAD_KNOWLEDGE
    try:
        analytics = Analytics.open(settings.data_dir)
        app = build_application(settings, engine, analytics=analytics)
        logger.info("starting in %s mode with %s", app.ops.health.mode, engine.kb.version)
        run_until_signalled(app)
    except (TelegramError, OSError, ValueError) as exc:  # bad token, Telegram unreachable, port taken
        logger.critical("could not start: %s", exc, exc_info=not isinstance(exc, TelegramError))
        print(texts.STARTUP_FAILED.format(problem=f"{type(exc).__name__}: {exc}"), file=sys.stderr)
        return EXIT_STARTUP_FAILED
    return EXIT_OK
