"""The engine cache: a stored engine is loaded instead of rebuilt, for this content and code only;
a corrupt or unreadable cache is logged and rebuilt; a base that fails the check is never stored."""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.engine import Engine, KnowledgeError, cache
from bot.engine.lexicon import Lexicon

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "社保卡有什么用"


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    """An empty cache folder of this test's own."""
    return tmp_path / "cache"


def _stored(store: Path) -> list[Path]:
    return sorted(store.glob("engine-*.pickle"))


def _no_build(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> Engine:
        raise AssertionError("built, although the cache holds this engine")

    monkeypatch.setattr(Engine, "from_folder", refuse)


def test_a_stored_engine_is_loaded_not_rebuilt(kb_copy: Path, store: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    built = cache.load_engine(kb_copy, directory=store)
    assert len(_stored(store)) == 1
    _no_build(monkeypatch)
    loaded = cache.load_engine(kb_copy, directory=store)
    assert loaded is not built
    assert loaded.kb.digest == built.kb.digest
    for question in (QUESTION, "设保卡有啥用", "外婆能用我的医保吗", "苏州能跨省共济吗", "今天天气怎么样"):
        assert loaded.answer(question) == built.answer(question), question


def test_an_edited_knowledge_file_is_a_new_key(kb_copy: Path, store: Path) -> None:
    first = cache.load_engine(kb_copy, directory=store)
    stale, fresh = store / ".tmp-left-by-a-killed-process", store / ".tmp-being-written"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - cache.STALE_TMP_S - 60
    os.utime(stale, (old, old))
    card = kb_copy / "faq" / "card.yaml"
    text = card.read_text(encoding="utf-8")
    entry = first.kb.entries["card-uses"]
    assert entry.answer.splitlines()[0] in text
    card.write_text(text.replace(entry.answer.splitlines()[0], "改过的答案第一行"), encoding="utf-8")
    second = cache.load_engine(kb_copy, directory=store)
    assert second.kb.entries["card-uses"].answer.startswith("改过的答案第一行")
    # One file per knowledge folder: the stale one is gone, and so is an old half-written one.
    assert len(_stored(store)) == 1
    assert not stale.exists() and fresh.exists()


def test_other_code_or_arguments_are_other_keys(kb_copy: Path, store: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    now = cache.cache_file(kb_copy, directory=store)
    assert cache.cache_file(kb_copy, directory=store) == now
    assert cache.cache_file(kb_copy, "other", directory=store) != now
    monkeypatch.setattr(cache, "code_version", lambda: "another version of the code")
    assert cache.cache_file(kb_copy, directory=store) != now


def test_a_corrupt_cache_is_logged_and_rebuilt(kb_copy: Path, store: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    cache.load_engine(kb_copy, directory=store)
    (target,) = _stored(store)
    target.write_bytes(target.read_bytes()[:1000])  # cut short, as by a full disk
    with caplog.at_level(logging.WARNING, logger=cache.__name__):
        engine = cache.load_engine(kb_copy, directory=store)
    assert "unusable" in caplog.text and target.name in caplog.text
    assert engine.answer(QUESTION).entry_id == "card-uses"
    # The rebuilt engine was stored again, whole.
    with target.open("rb") as stream:
        assert isinstance(pickle.load(stream), Engine)  # noqa: S301 - the test's own file


def test_a_pickle_of_something_else_is_ignored(kb_copy: Path, store: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    target = cache.cache_file(kb_copy, directory=store)
    store.mkdir()
    target.write_bytes(pickle.dumps({"not": "an engine"}))
    with caplog.at_level(logging.WARNING, logger=cache.__name__):
        engine = cache.load_engine(kb_copy, directory=store)
    assert "not an Engine" in caplog.text
    assert isinstance(engine, Engine)


def test_an_unreadable_cache_is_logged_and_the_engine_still_built(
    kb_copy: Path, store: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    cache.cache_file(kb_copy, directory=store).mkdir(parents=True)  # a folder where the file should be
    with caplog.at_level(logging.WARNING, logger=cache.__name__):
        engine = cache.load_engine(kb_copy, directory=store)
    assert "cannot be read" in caplog.text
    assert "not written" in caplog.text
    assert engine.answer(QUESTION).entry_id == "card-uses"


def test_a_base_that_fails_the_check_is_refused_and_not_stored(kb_copy: Path, store: Path) -> None:
    (kb_copy / "relatives.yaml").write_text("near: [\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="relatives.yaml"):
        cache.load_engine(kb_copy, directory=store)
    assert _stored(store) == []


def test_a_missing_folder_is_refused(tmp_path: Path, store: Path) -> None:
    with pytest.raises(KnowledgeError, match="not a folder|fails the check"):
        cache.load_engine(tmp_path / "nowhere", directory=store)


def test_a_build_in_a_worker_process(kb_copy: Path, store: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A reload's build runs in another process; its result is stored and served."""
    engine = cache.load_engine(kb_copy, directory=store, worker=True)
    assert engine.answer("外婆能用我的医保吗").entry_id == "sharing-relatives"
    assert len(_stored(store)) == 1
    _no_build(monkeypatch)
    assert cache.load_engine(kb_copy, directory=store, worker=True).kb.digest == engine.kb.digest


def test_a_worker_reports_a_failing_check(kb_copy: Path, store: Path) -> None:
    (kb_copy / "relatives.yaml").write_text("near: [\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="relatives.yaml"):
        cache.load_engine(kb_copy, directory=store, worker=True)


def test_without_a_worker_process_the_build_runs_here(
    kb_copy: Path, store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    def no_processes(*args: object) -> bytes:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(cache, "_build_in_worker", no_processes)
    with caplog.at_level(logging.WARNING, logger=cache.__name__):
        engine = cache.load_engine(kb_copy, directory=store, worker=True)
    assert "building in this one" in caplog.text
    assert engine.answer(QUESTION).entry_id == "card-uses"
    assert len(_stored(store)) == 1


def test_where_the_cache_lives(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "explicit"))
    monkeypatch.setenv(cache.DATA_ENV, str(tmp_path / "data"))
    assert cache.cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv(cache.CACHE_ENV)
    assert cache.cache_dir() == tmp_path / "data" / "cache"
    monkeypatch.delenv(cache.DATA_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "shebao-bot"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "shebao-bot"
    assert ROOT not in cache.cache_dir().parents


def test_a_pickled_lexicon_segments_alike_and_keeps_its_own_words() -> None:
    one = Lexicon({"医保个账": ["医保个人账户"]}, ["共济"], {"外婆": "@relative"})
    copy = pickle.loads(pickle.dumps(one))  # noqa: S301 - our own bytes
    other = Lexicon({}, [], {})
    for text in ("医保个人账户能给外婆用吗", "设保卡有啥用", "家庭共济怎么开通"):
        assert copy.analyse(copy.prepare(text)) == one.analyse(one.prepare(text)), text
    assert copy.boundaries("我外婆能共济吗") == one.boundaries("我外婆能共济吗")
    # Words added for one lexicon are not words of another; lexicons with the same words share
    # one segmenter (a reload of a base whose vocabulary did not change builds none).
    assert copy.is_word("医保个账") and not other.is_word("医保个账")
    assert other.boundaries("医保个账") != copy.boundaries("医保个账")
    assert copy._seg is one._seg and other._seg is not one._seg
    assert copy.is_word("上海")  # a word of the general dictionary


def test_the_command_line_imports_no_more_than_it_needs() -> None:
    """`ask` and `match` start fast: the Telegram library, plotting, the pinyin and OpenCC
    dictionaries and the segmenters are not imported with the command line."""
    heavy = ("telegram", "matplotlib", "pypinyin", "opencc", "jieba", "rjieba", "aiohttp")
    code = f"import sys, bot.cli; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_the_frequent_words_are_those_of_the_dictionary_at_or_above_the_threshold() -> None:
    """general_words() reads dict.txt with a regex tuned to REAL_WORD_FREQ: it must agree with a
    plain reading of the file."""
    from bot.engine import lexicon

    plain = {}
    with lexicon._general_dictionary().open(encoding="utf-8") as lines:
        for line in lines:
            word, freq, _ = line.split(" ", 2)
            if int(freq) >= lexicon.REAL_WORD_FREQ:
                plain[word] = int(freq)
    assert lexicon.general_words() == plain
