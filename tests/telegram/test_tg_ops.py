"""Reliability, hot reload, webhook and /healthz: the bot keeps going and reports what it does."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from telegram.ext import Application, ExtBot

from bot.conversation import EngineRef
from bot.engine import Engine
from bot.engine import messages as msg
from bot.settings import Settings, SettingsError
from bot.telegram import texts
from bot.telegram.health import PUBLIC_RELOAD_ERROR, Health, is_local
from bot.telegram.memory import UserData
from bot.telegram.ops import shorten
from bot.telegram.persistence import StatePersistence, read_state
from bot.telegram.polling import screen_update
from tests.fakes.bot_api import DEFAULT_TOKEN, FakeBotApi

from .conftest import Person, wait_until
from .ops_helpers import free_port, get_json, health_url, post, serving, webhook_url

SECRET = "s3cret-Token_for-tests"
WEBHOOK = "https://bot.example.org/telegram"
CHANGED_QUESTION = "电子社保卡亲情服务怎么添加?"
QUESTION = "社保卡能坐地铁吗"
# A reload builds in a worker process at low priority (nice 10): on a busy machine that takes
# far longer than one step of a conversation.
RELOAD_TIMEOUT = 60.0


def counters(app: Application) -> dict[str, int]:
    """The counters /healthz reports."""
    return dataclasses.asdict(app.ops.health.counters)  # type: ignore[attr-defined]


def edit_kb(root: Path, old: str, new: str) -> None:
    """Replace one string in the knowledge folder's FAQ files (it must occur)."""
    for path in sorted((root / "faq").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if old in text:
            path.write_text(text.replace(old, new, 1), encoding="utf-8")
            return
    raise AssertionError(f"{old!r} is not in {root}")


def break_kb(root: Path) -> None:
    """Make the knowledge folder fail `kb check` (a FAQ file that is not YAML)."""
    (root / "faq" / "zz-broken.yaml").write_text("entries: [\n  - id: x\n", encoding="utf-8")


# ----- the bot never stops -----


async def test_malformed_update_is_skipped_and_confirmed(bot: Application, person: Person,
                                                         api: FakeBotApi) -> None:
    """An update PTB cannot parse, delivered again and again as Telegram does, is confirmed once."""
    await api.raw_update({"message": {"no": "chat"}})  # not once: it stays until confirmed
    (help_,) = await person.say("/help")
    assert help_["text"] == msg.HELP
    await wait_until(lambda: not api.pending_updates, "every update to be confirmed", api)
    # the empty stand-in was screened out (counted once its state and journal are written)
    await wait_until(lambda: counters(bot)["skipped"] >= 1, "the stand-in to be counted", api)


def test_screen_update_keeps_good_updates() -> None:
    """Parsable updates pass unchanged; a broken one becomes an empty update with its id."""
    good = {"update_id": 7, "message": {"message_id": 1, "date": 1, "text": "hi",
                                        "chat": {"id": 1, "type": "private"}}}
    assert screen_update(good) is good
    assert screen_update({"update_id": 8, "message": {"no": "chat"}}) == {"update_id": 8}


async def test_unknown_callback_gets_an_answer(bot: Application, person: Person) -> None:
    """A button the bot never made (an older version's) is answered, and the bot goes on."""
    (menu,) = await person.say("/topics")
    pressed = await person.press(menu, "", data="v0:legacy-button", edits=0, force=True)
    assert pressed.answer["text"] == msg.BUTTON_EXPIRED
    (answer,) = await person.say(QUESTION)
    assert answer["text"]


async def test_edit_of_a_deleted_message_sends_anew(bot: Application, person: Person,
                                                    api: FakeBotApi) -> None:
    """Editing a message the user deleted fails (400); the menu is sent as a new message."""
    (menu,) = await person.say("/topics")
    api.fail_next_bad_request("editMessageText")
    pressed = await person.press(menu, person.labels(menu)[0], sends=1)
    assert pressed.sent and pressed.sent[0]["text"] != menu["text"]
    assert counters(bot)["errors"] == 0
    (answer,) = await person.say(QUESTION)
    assert answer["text"]


async def test_telegram_error_is_counted_and_apologised_for(bot: Application, person: Person,
                                                            api: FakeBotApi) -> None:
    """sendMessage fails (500): the error handler apologises, the next question is answered."""
    api.fail_next("sendMessage", error_code=500, description="Internal Server Error")
    (sorry,) = await person.say(QUESTION)
    assert sorry["text"] == msg.ERROR
    await wait_until(lambda: counters(bot)["errors"] == 1, "the error to be counted", api)
    (answer,) = await person.say(QUESTION)
    assert answer["text"] != msg.ERROR


async def test_429_is_waited_out(bot: Application, person: Person, api: FakeBotApi) -> None:
    """A 429 (retry after 1 s) is retried by the rate limiter: the answer arrives, no error."""
    api.fail_next("sendMessage", error_code=429, retry_after=1)
    started = time.monotonic()
    (answer,) = await person.say(QUESTION)
    assert answer["text"] != msg.ERROR
    assert time.monotonic() - started >= 1
    assert counters(bot)["errors"] == 0
    failed = [c for c in api.calls_of("sendMessage") if not c.ok]
    assert len(failed) == 1


async def test_one_log_line_per_update(bot: Application, person: Person,
                                       caplog: pytest.LogCaptureFixture) -> None:
    """Each update: its id, type, chat type, outcome and latency on one line of bot.updates."""
    caplog.set_level(logging.INFO, logger="bot.updates")
    await person.say(QUESTION)
    await person.say("/help")
    await wait_until(lambda: len([r for r in caplog.records if r.name == "bot.updates"]) >= 2,
                     "two update log lines")
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.updates"]
    assert lines[0].startswith("update_id=") and "type=message chat=private" in lines[0]
    assert "outcome=answered" in lines[0] and "latency_ms=" in lines[0]
    assert "outcome=handled" in lines[1]
    assert counters(bot)["updates"] == 2 and counters(bot)["answered"] == 1


async def test_state_is_written_after_each_update(bot: Application, person: Person,
                                                  settings: Settings) -> None:
    """The dialogue state is on disk as soon as the step is answered, not a minute later."""
    persistence = bot.persistence
    assert isinstance(persistence, StatePersistence)
    (first,) = await person.say("/bind")
    await wait_until(lambda: persistence.writes >= 1, "the state to be written")
    assert settings.persistence_path.is_file()


# ----- hot reload -----


@pytest.fixture
def kb_engine(kb_copy: Path) -> Engine:
    """An engine over a scratch copy of the knowledge base, which tests may change."""
    return Engine.from_folder(kb_copy)


async def test_reload_by_admin_swaps_the_knowledge_base(
    api: FakeBotApi, settings: Settings, kb_copy: Path, kb_engine: Engine, start_bot: Any
) -> None:
    """/reload from an admin loads the changed folder; the next answer comes from it."""
    admin = Person(api, "管理员")
    admin_settings = dataclasses.replace(settings, admin_ids=frozenset({admin.id}))
    async with start_bot(admin_settings, kb_engine) as app:
        old_version = kb_engine.kb.version
        edit_kb(kb_copy, CHANGED_QUESTION, "电子社保卡亲情服务怎么添加(新版)?")
        (done,) = await admin.say("/reload", timeout=RELOAD_TIMEOUT)
        new_engine = app.ops.ref.engine
        assert new_engine is not kb_engine
        assert done["text"] == texts.RELOAD_DONE.format(new=new_engine.kb.version, old=old_version)
        assert new_engine.kb.entries["bind-family-service"].question.endswith("(新版)?")
        (answer,) = await admin.say("电子社保卡亲情服务怎么添加")
        assert "(新版)" in answer["text"]
        assert counters(app)["reloads"] == 1


async def test_reload_of_an_unchanged_folder_keeps_the_engine_in_service(
    api: FakeBotApi, settings: Settings, kb_engine: Engine, start_bot: Any
) -> None:
    """Nothing changed: nothing is loaded (loading an identical engine would only hold up chats)."""
    admin = Person(api, "管理员")
    admin_settings = dataclasses.replace(settings, admin_ids=frozenset({admin.id}))
    async with start_bot(admin_settings, kb_engine) as app:
        (done,) = await admin.say("/reload")
        assert app.ops.ref.engine is kb_engine
        version = kb_engine.kb.version
        assert done["text"] == texts.RELOAD_DONE.format(new=version, old=version)


async def test_reload_refused_for_others(api: FakeBotApi, settings: Settings, kb_copy: Path,
                                         kb_engine: Engine, start_bot: Any) -> None:
    """Someone not in ADMIN_IDS gets a polite refusal and nothing is reloaded."""
    user = Person(api)
    async with start_bot(dataclasses.replace(settings, admin_ids=frozenset({1})), kb_engine) as app:
        (refused,) = await user.say("/reload")
        assert refused["text"] == texts.RELOAD_NOT_ALLOWED
        assert app.ops.ref.engine is kb_engine and counters(app)["reloads"] == 0


async def test_bad_knowledge_base_never_replaces_a_good_one(
    api: FakeBotApi, settings: Settings, kb_copy: Path, kb_engine: Engine, start_bot: Any
) -> None:
    """/reload and SIGHUP with a folder that fails the check: refused, errors shown and logged."""
    admin = Person(api, "管理员")
    admin_settings = dataclasses.replace(settings, admin_ids=frozenset({admin.id}))
    break_kb(kb_copy)
    async with start_bot(admin_settings, kb_engine) as app:
        (refused,) = await admin.say("/reload", timeout=RELOAD_TIMEOUT)
        assert refused["text"].startswith(texts.RELOAD_REFUSED.split("(")[0])
        assert kb_engine.kb.version in refused["text"] and "zz-broken.yaml" in refused["text"]
        assert app.ops.ref.engine is kb_engine

        result = await app.ops.on_sighup()  # what the SIGHUP handler does
        assert not result.ok and "zz-broken.yaml" in result.problems
        assert app.ops.ref.engine is kb_engine
        assert counters(app)["reload_failures"] == 2
        assert "zz-broken.yaml" in (app.ops.health.last_reload_error or "")
        (answer,) = await admin.say(QUESTION)  # still answering from the good base
        assert answer["text"] == kb_engine.answer(QUESTION).text

        (kb_copy / "faq" / "zz-broken.yaml").unlink()  # fixed (and edited): SIGHUP now takes it
        edit_kb(kb_copy, CHANGED_QUESTION, "电子社保卡亲情服务怎么添加(新版)?")
        result = await app.ops.on_sighup()
        assert result.ok and app.ops.ref.engine is not kb_engine


def test_engine_ref_swaps_engine_and_dialogues_together(engine: Engine) -> None:
    """One swap replaces the engine and its dialogue runner at once."""
    ref = EngineRef(engine)
    first = ref.dialogues
    assert ref.swap(engine) is engine
    assert ref.dialogues is not first and ref.dialogues.engine is engine


def test_shorten_lists_the_first_problems() -> None:
    """A long problem listing is cut, saying how many more there are."""
    assert shorten("a\nb", limit=5) == "a\nb"
    cut = shorten("\n".join(str(i) for i in range(30)), limit=3).splitlines()
    assert cut[:3] == ["0", "1", "2"] and "27" in cut[3]


# ----- webhook and /healthz -----


@pytest.fixture
def webhook_settings(settings: Settings) -> Settings:
    """Webhook mode on a free local port."""
    return dataclasses.replace(settings, webhook_url=WEBHOOK, webhook_secret=SECRET,
                               webhook_listen="127.0.0.1", webhook_port=free_port())


async def test_webhook_checks_the_secret(api: FakeBotApi, webhook_settings: Settings,
                                         engine: Engine, person: Person) -> None:
    """The right secret: processed. A wrong or missing one: 403, and nothing is processed."""
    async with serving(webhook_settings, engine) as app:
        (registered,) = api.calls_of("setWebhook")
        assert registered.params["url"] == WEBHOOK
        assert registered.params["secret_token"] == SECRET
        url = webhook_url(app)
        assert url.endswith("/telegram")

        await api.send_text(person.chat, person.user, QUESTION)
        update = api.injected_updates[-1]
        assert await post(url, update, "wrong") == 403
        assert await post(url, update, None) == 403
        assert await post(url, update, SECRET.upper()) == 403
        assert counters(app)["rejected"] == 3
        assert counters(app)["updates"] == 0 and not person.sent()

        assert await post(url, update, SECRET) == 200
        await wait_until(lambda: person.sent(), "the answer", api)
        assert person.sent()[0]["text"] == engine.answer(QUESTION).text

        assert await post(url, b"not json", SECRET) == 400
        assert await post(url, {"update_id": 99, "message": {"no": "chat"}}, SECRET) == 200
        assert counters(app)["malformed"] == 2
        await wait_until(lambda: counters(app)["answered"] == 1, "the answer to be counted", api)


async def test_webhook_healthz(api: FakeBotApi, webhook_settings: Settings, engine: Engine,
                               person: Person) -> None:
    """GET /healthz on the webhook port: ready, the knowledge base's version, the counters."""
    async with serving(webhook_settings, engine) as app:
        assert app.ops.web is not None
        await api.send_text(person.chat, person.user, QUESTION)
        assert await post(webhook_url(app), api.injected_updates[-1], SECRET) == 200
        await wait_until(lambda: counters(app)["updates"] == 1, "the update to be handled", api)
        status, report = await get_json(health_url(app.ops.web.port or 0))
    assert status == 200
    assert report["status"] == "ok" and report["ready"] is True and report["mode"] == "webhook"
    assert report["knowledge"]["entries"] == len(engine.kb.entries)
    assert report["knowledge"]["digest"] == engine.kb.digest
    assert report["knowledge"]["version"] == engine.kb.version
    assert report["counters"]["updates"] == 1 and report["counters"]["answered"] == 1
    for name in ("unanswered", "errors", "rejected", "suggested"):
        assert report["counters"][name] == 0
    assert report["latency"]["p50_ms"] is not None


async def test_polling_healthz_on_health_port(api: FakeBotApi, settings: Settings, engine: Engine,
                                              person: Person) -> None:
    """In polling mode /healthz is served on HEALTH_PORT, and counts the polled updates."""
    port = free_port()
    polling = dataclasses.replace(settings, health_port=port, webhook_listen="127.0.0.1")
    async with serving(polling, engine) as app:
        await person.say(QUESTION)
        await wait_until(lambda: counters(app)["answered"] == 1, "the answer to be counted", api)
        status, report = await get_json(health_url(port))
        assert status == 200 and report["mode"] == "polling" and report["ready"] is True
        assert report["counters"]["updates"] == 1
        assert report["knowledge"]["digest"] == engine.kb.digest


def test_health_reports_not_ready_while_starting_or_stopping(engine: Engine) -> None:
    """Not ready: 'starting' before updates flow, 'stopping' once shutdown began."""
    health = Health(lambda: engine)
    assert health.report()["status"] == "starting" and not health.ready
    health.ready_check = lambda: True
    assert health.report()["status"] == "ok"
    health.stopping = True
    assert health.report()["status"] == "stopping" and not health.report()["ready"]


async def test_healthz_shows_reload_problems_only_to_this_machine(
    api: FakeBotApi, webhook_settings: Settings, kb_copy: Path, kb_engine: Engine,
) -> None:
    """A refused reload's problems are on /healthz for local requests (without folders);
    a request from elsewhere, or forwarded by a proxy, reads only the status."""
    break_kb(kb_copy)
    async with serving(webhook_settings, kb_engine) as app:
        assert not (await app.ops.reload()).ok
        assert app.ops.web is not None
        url = health_url(app.ops.web.port or 0)
        _, local = await get_json(url)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5), trust_env=False) \
                as session, session.get(url, headers={"X-Forwarded-For": "203.0.113.7"}) as response:
            public = await response.json()
            body = json.dumps(public, ensure_ascii=False)
    shown = local["knowledge"]["last_reload_error"]
    assert "zz-broken.yaml" in shown and str(kb_copy) not in shown and str(kb_copy.parent) not in shown
    assert public == {"status": "ok"}
    assert "zz-broken" not in body and str(kb_copy.parent) not in body


def test_healthz_tells_local_from_public_requests(engine: Engine) -> None:
    """Loopback addresses are local; any other address, or a proxy's forwarding header, is not."""

    def request(peer: str, headers: dict[str, str] | None = None) -> web.Request:
        transport = mock.Mock()
        transport.get_extra_info.side_effect = lambda name, default=None: (
            (peer, 1234) if name == "peername" else default)
        return make_mocked_request("GET", "/healthz", headers=headers, transport=transport)

    assert is_local(request("127.0.0.1")) and is_local(request("::1"))
    assert is_local(request("::ffff:127.0.0.1"))
    assert not is_local(request("203.0.113.7")) and not is_local(request("10.0.0.5"))
    assert not is_local(request("127.0.0.1", {"X-Forwarded-For": "203.0.113.7"}))
    assert not is_local(request("127.0.0.1", {"Forwarded": "for=203.0.113.7"}))

    health = Health(lambda: engine)
    health.note_reload("knowledge base /srv/shebao/knowledge fails the check:\n"
                       "knowledge/faq/zz.yaml:3: error: bad; see '/srv/shebao/knowledge/faq/zz.yaml'")
    assert health.report()["knowledge"]["last_reload_error"] == PUBLIC_RELOAD_ERROR
    local = health.report(local=True)["knowledge"]["last_reload_error"]
    assert "/srv" not in local and "knowledge/faq/zz.yaml:3" in local and "'zz.yaml'" in local
    health.note_reload(None)
    assert health.report()["knowledge"]["last_reload_error"] is None


def test_webhook_settings_are_checked() -> None:
    """The secret, URL and path are checked when read; the path defaults to the URL's."""
    base = {"TELEGRAM_BOT_TOKEN": "1:abc", "WEBHOOK_URL": WEBHOOK}
    settings = Settings.from_env({**base, "WEBHOOK_SECRET": SECRET}, env_file=None)
    assert settings.webhook_route == "/telegram" and settings.webhook_secret == SECRET
    assert Settings.from_env({**base, "WEBHOOK_PATH": "/hook"}, env_file=None).webhook_route == "/hook"
    root = Settings.from_env({**base, "WEBHOOK_URL": "https://bot.example.org"}, env_file=None)
    assert root.webhook_route == "/"
    for name, bad in (("WEBHOOK_SECRET", "has spaces"), ("WEBHOOK_SECRET", "x" * 257),
                      ("WEBHOOK_URL", "bot.example.org/telegram"), ("WEBHOOK_PATH", "telegram")):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({**base, name: bad}, env_file=None)


async def test_state_rows_are_written_only_when_changed(tmp_path: Path) -> None:
    """A flush writes the changed rows in one transaction; unchanged data is not rewritten."""
    path = tmp_path / "state.sqlite3"
    persistence = StatePersistence(path)
    persistence.set_bot(ExtBot(DEFAULT_TOKEN))  # as the Application does
    assert await persistence.get_user_data() == {}
    await persistence.update_user_data(1, UserData({"step": "cross"}))
    assert persistence.dirty and read_state(path)[0] == {}  # nothing on disk before the flush
    await persistence.flush_if_dirty()
    assert read_state(path)[0] == {1: {"step": "cross"}} and persistence.writes == 1
    await persistence.update_user_data(1, UserData({"step": "cross"}))
    await persistence.flush_if_dirty()
    assert persistence.writes == 1
    await persistence.close()
