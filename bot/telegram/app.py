"""Wires the Telegram bot in one place: builder, persistence, handlers in order, menus, running."""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Callable
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
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from ..analytics import Analytics, AnalyticsFeedbackSink, FeedbackSink, LoggingFeedbackSink
from ..conversation import Conversation, EngineRef
from ..engine import Engine, KnowledgeError
from ..engine.actions import (
    AutoAnswer,
    NoneOfThese,
    ShowEntry,
    ShowTopic,
    StartFlow,
    Vote,
    parse,
)
from ..engine.cache import load_engine
from ..engine.sensitive import install_log_redaction
from ..settings import Settings, SettingsError
from . import groups, texts
from .errors import on_error
from .gate import EDITS, GROUPS, NEW_MESSAGES, PRIVATE, screen
from .inline import InlineAnswers
from .journal import JOURNAL_FILE, UpdateJournal
from .memory import CONTEXT_TYPES, AnyApplication
from .ops import EarlyReload, Ops, OpsApplication, run_until_signalled
from .persistence import StatePersistence
from .polling import UpdatesRequest
from .private import PrivateChat
from .processor import PerChatUpdateProcessor
from .ratelimit import GroupRateLimiter
from .tracing import note_outcome

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


async def set_command_menus(application: AnyApplication) -> None:
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
    install_log_redaction(secrets=settings.secrets)
    if not settings.telegram_bot_token:
        raise ValueError("build_application needs settings.telegram_bot_token")
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # the state then stays in memory (persistence.py says so on /healthz)
        logger.error("cannot create the data folder %s: %s", settings.data_dir, exc)
    ref = engine if isinstance(engine, EngineRef) else EngineRef(engine)
    journal = UpdateJournal(settings.data_dir / JOURNAL_FILE)
    ops = Ops(settings, ref, analytics, journal)
    if analytics is not None and analytics.problem:
        ops.health.note_problem("analytics-file", analytics.problem)
    state = StatePersistence(settings.persistence_path, settings.legacy_persistence_path)
    ops.health.watch("state", lambda: state.problem)  # damaged and set aside, or read-only
    updates = UpdatesRequest()
    updates.journal = journal  # polling: on disk before the next getUpdates confirms them
    builder = (
        Application.builder()
        .application_class(OpsApplication, {"ops": ops})
        .token(settings.telegram_bot_token)
        .defaults(Defaults(parse_mode=ParseMode.HTML,
                           link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .rate_limiter(GroupRateLimiter(overall_max_rate=settings.send_rate,
                                       max_retries=RATE_LIMIT_RETRIES))
        .context_types(CONTEXT_TYPES)
        .persistence(state)
        .concurrent_updates(PerChatUpdateProcessor())  # chats side by side, each chat in order
        .get_updates_request(updates)
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
    conversation = Conversation(ref, feedback, analytics, settings.dialogue_timeout, note_outcome)
    private = PrivateChat(conversation)
    group_chats = groups.GroupChats(conversation, settings.group_cooldown)
    presses = groups.GroupPresses(group_chats)

    def button(*kinds: type) -> Callable[[object], bool]:
        return lambda data: isinstance(data, str) and isinstance(parse(data), kinds)

    # Group -1: drop channel posts, updates without a user or (inline queries aside) a chat, and
    # kinds we do not handle.
    app.add_handler(TypeHandler(Update, screen), group=SCREEN_GROUP)
    # Before it: numbers posted "as a channel" in a group are screened, then the update stops.
    app.add_handler(MessageHandler((NEW_MESSAGES | EDITS) & GROUPS & groups.AS_CHANNEL
                                   & groups.SENSITIVE, group_chats.sensitive_as_channel),
                    group=SCREEN_GROUP - 1)
    #    and the bot's own membership (added, promoted) is taken in at once.
    app.add_handler(ChatMemberHandler(group_chats.my_membership, ChatMemberHandler.MY_CHAT_MEMBER),
                    group=SCREEN_GROUP - 1)

    # Note: order matters! Within group 0 the first handler that accepts an update takes it.
    # 1. Group chats (groups.py). A posted number comes first: warned about, deleted where the
    #    bot may, what is left answered if asked.
    in_groups = NEW_MESSAGES & GROUPS
    app.add_handler(MessageHandler(in_groups & groups.SENSITIVE, group_chats.sensitive))
    app.add_handler(MessageHandler(EDITS & GROUPS & groups.SENSITIVE, group_chats.sensitive_edit))
    app.add_handler(MessageHandler(groups.MIGRATION, group_chats.migrate))
    app.add_handler(CommandHandler("ask", group_chats.ask, filters=in_groups))
    app.add_handler(MessageHandler(in_groups & groups.CAPTION_ASK, group_chats.ask))
    app.add_handler(CommandHandler("settings", group_chats.settings, filters=NEW_MESSAGES))
    app.add_handler(CommandHandler("bind", group_chats.bind, filters=in_groups))
    app.add_handler(CommandHandler(("topics", "faq"), group_chats.topics, filters=in_groups))
    app.add_handler(CommandHandler(("start", "help"), group_chats.help, filters=in_groups))
    #    Buttons pressed in groups: only the asker's press changes the asker's message.
    app.add_handler(groups.GroupButtons(presses.show_entry, pattern=button(ShowEntry)))
    app.add_handler(groups.GroupButtons(presses.show_topic, pattern=button(ShowTopic)))
    app.add_handler(groups.GroupButtons(presses.none_of_these, pattern=button(NoneOfThese)))
    app.add_handler(groups.GroupButtons(presses.vote, pattern=button(Vote)))
    app.add_handler(groups.GroupButtons(presses.open_private, pattern=button(StartFlow)))
    app.add_handler(groups.GroupButtons(presses.toggle, pattern=button(AutoAnswer)))
    #    Text: answered when it mentions or replies to the bot, or (if turned on) auto-answered.
    app.add_handler(MessageHandler(in_groups & ((filters.TEXT & ~filters.COMMAND) | filters.CAPTION),
                                   group_chats.text))
    # 2. Inline queries (inline.py), typed in any chat.
    app.add_handler(InlineQueryHandler(InlineAnswers(conversation).answer))
    # 3. Private chats (private.py): everything goes to the conversation core.
    app.add_handler(CommandHandler("reload", ops.reload_command, filters=NEW_MESSAGES))  # ADMIN_IDS
    text = filters.TEXT & ~filters.COMMAND
    private_messages = NEW_MESSAGES & PRIVATE
    app.add_handler(MessageHandler(private_messages & filters.COMMAND, private.command))
    app.add_handler(MessageHandler(private_messages & text, private.text))
    app.add_handler(MessageHandler(private_messages & filters.CAPTION, private.caption))
    app.add_handler(MessageHandler(EDITS & PRIVATE & text, private.edited))
    app.add_handler(MessageHandler(private_messages & ~filters.TEXT, private.not_text))
    app.add_handler(CallbackQueryHandler(private.press))

    app.add_error_handler(on_error)
    return app


def configure_logging(level: str, secrets: tuple[str | None, ...] = ()) -> None:
    """Log to stderr at `level`, with tokens, `secrets` and sensitive numbers hidden (bot.logsafe)."""
    logging.basicConfig(format=LOG_FORMAT, level=level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    install_log_redaction(secrets=secrets)


def open_analytics(settings: Settings) -> tuple[Analytics | None, str | None]:
    """The analytics store, or None (and why) when the data folder cannot hold it: the bot
    answers without it rather than not at all."""
    try:
        return Analytics.open(settings.data_dir), None
    except (OSError, sqlite3.Error) as exc:
        logger.error("analytics off: cannot open the database in %s: %s", settings.data_dir, exc)
        return None, f"analytics off: {type(exc).__name__}: {exc}"


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
    configure_logging(settings.log_level, settings.secrets)
    early = EarlyReload().install()  # a SIGHUP from here on is a reload, never a silent exit
    logger.info("loading the knowledge base")
    try:
        engine = load_engine(knowledge_dir)  # from the cache when built before
    except KnowledgeError as exc:
        print(texts.KNOWLEDGE_INVALID.format(problems=exc), file=sys.stderr)
        return EXIT_BAD_KNOWLEDGE
    try:
        analytics, problem = open_analytics(settings)
        app = build_application(settings, engine, analytics=analytics)
        if problem:
            app.ops.health.note_problem("analytics", problem)
        logger.info("starting in %s mode with %s", app.ops.health.mode, engine.kb.version)
        run_until_signalled(app, early)
    except (TelegramError, OSError, ValueError) as exc:  # bad token, Telegram unreachable, port taken
        logger.critical("could not start: %s", exc, exc_info=not isinstance(exc, TelegramError))
        from ..logsafe import mask_tokens  # "The token `…` was rejected" goes to stderr too

        problem = mask_tokens(f"{type(exc).__name__}: {exc}")
        print(texts.STARTUP_FAILED.format(problem=problem), file=sys.stderr)
        return EXIT_STARTUP_FAILED
    return EXIT_OK
