"""Domain vocabulary: jieba segmentation, synonym rewriting and pinyin-based typo repair.

Segmentation is jieba's algorithm and general dictionary as compiled into rjieba (jieba-rs): the
same cuts as the Python jieba, without its 1.3 s dictionary load. The word frequencies that tell
a real word from a typo are read from the Python jieba's dict.txt (the same dictionary) when a
lexicon is built, and kept in it (a pickled lexicon needs neither)."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from sys import intern
from typing import TYPE_CHECKING, Any

from .normalize import fold

if TYPE_CHECKING:
    from rjieba import Jieba

_STOPWORDS_FILE = Path(__file__).with_name("stopwords.txt")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_TOKEN_OK = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]")
# Latin letters, maybe spaced or with apostrophes (yu'e): pinyin, or an English word.
_LATIN_RUN = re.compile(r"[a-z]+(?:[\s']+[a-z]+)*")
# A word this frequent in jieba's general dictionary is a real word, not a typo of a domain term.
REAL_WORD_FREQ = 50
_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))
# Question words (and the generic verbs of how-to questions) say what kind of answer is wanted (how-to vs what-is vs who/which …). They are
# common, so inverse frequency alone would ignore them; each class adds one feature of its own.
INTENTS: dict[str, tuple[str, ...]] = {
    "how": ("怎么", "怎么办", "如何", "怎样", "咋", "咋办", "步骤", "流程", "办理", "操作", "方法",
            "办法", "手续", "怎么办理", "办", "弄", "搞", "整"),
    "what": ("什么", "是什么", "啥", "什么意思", "怎么回事", "意思", "含义", "指", "干什么", "做什么",
             "干嘛", "干啥"),
    "which": ("哪些", "哪个", "哪里", "哪儿", "哪", "谁", "哪几", "名单", "范围"),
    "amount": ("多少", "几", "多久", "多长", "比例", "标准", "上限", "限额"),
    "why": ("为什么", "为啥", "原因"),
    "when": ("什么时候", "哪年", "何时", "哪一年", "啥时候"),
}
INTENT_OF = {word: f"#{name}" for name, words in INTENTS.items() for word in words}
# Phrases that ask for a kind of answer across word boundaries, read from the whole sentence.
INTENT_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(有|能|可以)(什么|啥)(用|好处|功能)|干(什么|啥|嘛)|做(什么|啥)|用处|作用|用途|功能|好处"), "#use"),
    (re.compile(r"(能|可以|可不可以|能不能)\S{0,4}吗|能否|可否|行不行|是不是|算不算"), "#yesno"),
    (re.compile(r"(怎么|咋|如何)\S{0,3}(办|弄|操作|开通|绑|申请|添加|设置|取消|解除|转)|步骤|流程|手续"), "#how"),
    (re.compile(r"注意|小心|风险|违规|违法|后果"), "#caution"),
    (re.compile(r"多少|几[年个岁次天月号块万千百]|多久|多长|比例|标准|上限|限额"), "#amount"),
    (re.compile(r"什么时候|哪年|何时|哪一年|啥时候|几月|几号"), "#when"),
    (re.compile(r"为什么|为啥|为何|原因|怎么会"), "#why"),
)
# Words this common in jieba's dictionary are everyday language, never typos of a domain term.
EVERYDAY_FREQ = 1000
# Function characters are typed on purpose: a window holding one (妹没, 医保吗) is never a typo,
# unless the domain word has the very same character there.
FUNCTION_CHARS = frozenset("没不吗嘛吧呢了的是在有我你他她它们和跟")


def load_stopwords() -> frozenset[str]:
    """The stop words shipped with the engine."""
    lines = _STOPWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


ADDED_WORD_FREQ = 20000  # a high frequency makes jieba keep domain terms whole (社保卡, 个人账户 …)
# Segmenters by the words added to them, the most recent last. Lexicons with the same words share
# one (cutting only reads it): a reload of a base whose synonyms, places and relatives did not
# change needs no new one (jieba-rs takes 0.15 s to build one, holding the GIL).
_SEGMENTERS: dict[tuple[str, ...], Jieba] = {}
KEPT_SEGMENTERS = 1  # each holds the general dictionary: about 25 MB
_default_taken = False


def _new_segmenter() -> Jieba:
    """A segmenter with jieba's general dictionary and no word added. The one rjieba builds when
    imported (0.15 s; commands without an engine never import it) serves the first lexicon of a
    process, instead of loading the dictionary a second time."""
    global _default_taken
    import rjieba

    if not _default_taken:
        _default_taken = True
        return rjieba._DEFAULT_JIEBA
    return rjieba.Jieba()


def _segmenter(words: tuple[str, ...]) -> Jieba:
    """A segmenter with exactly these words added: words added for one knowledge base must not
    leak into the next (a reloaded base, or the tests' scratch copies)."""
    seg = _SEGMENTERS.pop(words, None)
    if seg is None:
        seg = _new_segmenter()
        for word in words:
            seg.add_word(word, ADDED_WORD_FREQ, None)
    _SEGMENTERS[words] = seg
    while len(_SEGMENTERS) > KEPT_SEGMENTERS:
        del _SEGMENTERS[next(iter(_SEGMENTERS))]
    return seg


def _general_dictionary() -> Path:
    """jieba's dict.txt (found without importing jieba, whose import alone takes 0.1 s)."""
    spec = importlib.util.find_spec("jieba")
    if spec is None or spec.origin is None:
        raise RuntimeError("jieba is not installed: its dictionary gives the word frequencies")
    return Path(spec.origin).with_name("dict.txt")


# A line of dict.txt whose frequency is at least REAL_WORD_FREQ (50): one regex pass over the file
# is twice as fast as splitting its 350,000 lines.
_FREQUENT_LINE = re.compile(r"^(\S+) ([5-9]\d|[1-9]\d{2,}) ", re.M)


@lru_cache(maxsize=1)
def general_words() -> dict[str, int]:
    """The words of jieba's general dictionary used at least REAL_WORD_FREQ times, with their
    frequency (the rest count as 0: the lexicon only asks "≥ REAL_WORD_FREQ?" and "≥ EVERYDAY_FREQ?")."""
    text = _general_dictionary().read_text(encoding="utf-8")  # "word freq tag" lines
    return {word: int(freq) for word, freq in _FREQUENT_LINE.findall(text)}


# sound() of every character met so far, in this process; a pickled lexicon carries it, so a
# loaded one does not import pypinyin (0.2 s, with its phrase dictionary) for the usual questions.
_SOUNDS: dict[str, str] = {}


def sound(char: str) -> str:
    """A forgiving pinyin key for one character: toneless, zh/z ch/c sh/s and -ng/-n merged."""
    key = _SOUNDS.get(char)
    if key is None:
        key = _SOUNDS[char] = _sound(char)
    return key


def _sound(char: str) -> str:
    if not _CJK.match(char):
        return char
    from pypinyin import Style, lazy_pinyin  # only for a character not met before

    syllable = lazy_pinyin(char, style=Style.NORMAL, errors="ignore")
    if not syllable:
        return char
    key = syllable[0]
    for long, short in _FUZZY_INITIALS:
        if key.startswith(long):
            key = short + key[len(long):]
            break
    if key.endswith("ng"):
        key = key[:-1]
    return key


class Lexicon:
    """Everything the matcher needs to turn a question into comparable features."""

    def __init__(
        self,
        synonyms: dict[str, list[str]],
        domain_words: Iterable[str],
        word_classes: dict[str, str] | None = None,
    ) -> None:
        """Domain words become typo-repair targets. Class words (places → "@place", relations →
        "@relative") are kept whole by the segmenter, add their class as a feature so that any
        relative matches a question about another, and are never produced by typo repair,
        since a wrong one would flip a verdict."""
        self.word_classes = {fold(w): c for w, c in (word_classes or {}).items() if w}
        self.stopwords = load_stopwords()
        self._rewrites: dict[str, str] = {}
        for canonical, variants in synonyms.items():
            for variant in variants:
                if variant and variant != canonical:
                    self._rewrites[fold(variant)] = fold(canonical)
        self._rewrite_re = (
            re.compile("|".join(re.escape(v) for v in sorted(self._rewrites, key=len, reverse=True)))
            if self._rewrites
            else None
        )
        words = {fold(w) for w in domain_words if w}
        words |= set(self._rewrites.values())
        words |= set(self._rewrites)
        self.protected = frozenset(w for w in self.word_classes if len(w) >= 2)
        # Every class word, one character long too (爹 must not become 哋), is kept as typed.
        self._protected_re = (
            re.compile("|".join(re.escape(w) for w in sorted(self.word_classes, key=len, reverse=True)))
            if self.word_classes else None
        )
        self.domain_words = frozenset(w for w in words if len(w) >= 2) - self.protected
        self._added = tuple(sorted(self.domain_words | self.protected))
        self._seg = _segmenter(self._added)
        # The segmenter's words at or above REAL_WORD_FREQ (an added word counts ADDED_WORD_FREQ).
        self._real_words = frozenset(general_words()) | frozenset(self._added)
        self._by_sound: dict[tuple[str, ...], str] = {}
        self._lengths_by_start: dict[str, list[int]] = {}
        for word in sorted(self.domain_words):
            if _CJK.search(word):
                self._by_sound.setdefault(tuple(sound(c) for c in word), word)
        self.learn(self.domain_words)
        # Toneless pinyin of the words people use here → the word (most used first), for
        # questions typed in pinyin (shebaoka diule zenme buban); see learn_pinyin.
        self._by_pinyin: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the segmenter (a Rust object), which is rebuilt from its added words;
        with the pinyin keys met so far."""
        state = self.__dict__.copy()
        del state["_seg"]
        state["_sounds"] = dict(_SOUNDS)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for char, key in state.pop("_sounds", {}).items():
            _SOUNDS.setdefault(char, key)
        self.__dict__.update(state)
        self._seg = _segmenter(self._added)

    def learn(self, texts: Iterable[str]) -> None:
        """Make the words of these texts (the knowledge base's questions) targets of typo repair."""
        for text in texts:
            for word in self._seg.cut(self.rewrite_synonyms(fold(text)), hmm=False):
                if (
                    len(word) >= 2
                    and _CJK.search(word)
                    and word not in self.stopwords
                    and word not in INTENT_OF
                    and word not in self.protected
                    and (word in self.domain_words or general_words().get(word, 0) < EVERYDAY_FREQ)
                ):
                    self._by_sound.setdefault(tuple(sound(c) for c in word), word)
        starts: dict[str, set[int]] = {}
        for key in self._by_sound:
            starts.setdefault(key[0], set()).add(len(key))
        # Which window lengths can start with a given sound, longest first.
        self._lengths_by_start = {k: sorted(v, reverse=True) for k, v in starts.items()}

    def learn_pinyin(self, texts: Iterable[str]) -> None:
        """Learn the pinyin spelling of the words and characters of these texts: a spelling shared
        by several means the longest, then the one used most often."""
        from pypinyin import Style, lazy_pinyin  # at build time only; a stored engine has the table

        counts: dict[str, int] = {}
        for text in texts:
            folded = fold(text)
            for word in [*self._seg.cut(folded, hmm=False), *_CJK.findall(folded)]:
                if all(_CJK.match(c) for c in word):
                    counts[word] = counts.get(word, 0) + 1
        # A word of two characters or more wins over a single character spelt the same (yue is
        # 余额, not 月); among equals, the one used most.
        best: dict[str, tuple[bool, int, str]] = {}
        for word, n in counts.items():
            key = "".join(lazy_pinyin(word, style=Style.NORMAL, errors="ignore"))
            rank = (len(word) > 1, n, word)
            if key and (key not in best or rank > best[key]):
                best[key] = rank
        self._by_pinyin = {key: word for key, (_, _, word) in best.items()}

    def from_pinyin(self, text: str) -> str:
        """Runs of pinyin turned into the words they spell (yibao geren zhanghu → 医保个人账户):
        the longest run of syllables, spaced or not, that spells a known word, left to right.
        What spells no known word is left as typed."""
        if not self._by_pinyin or not _LATIN_RUN.search(text):
            return text
        return _LATIN_RUN.sub(lambda m: self._spell(m.group(0)), text)

    def _spell(self, run: str) -> str:
        tokens = [t for t in re.split(r"[\s']+", run) if t]
        out: list[str] = []
        i = 0
        while i < len(tokens):
            for j in range(min(len(tokens), i + 4), i, -1):
                word = self._by_pinyin.get("".join(tokens[i:j]))
                if word is not None:
                    out.append(word)
                    i = j
                    break
            else:
                out.append(self._spell_token(tokens[i]))
                i += 1
        return "".join(out) if all(_CJK.match(w[0]) for w in out) else " ".join(out)

    def _spell_token(self, token: str) -> str:
        """One unspaced token: known words from its start, longest first; else as typed."""
        out: list[str] = []
        i = 0
        while i < len(token):
            for j in range(len(token), i, -1):
                word = self._by_pinyin.get(token[i:j])
                if word is not None:
                    out.append(word)
                    i = j
                    break
            else:
                return token
        return "".join(out)

    def repair_typos(self, text: str) -> str:
        """Replace windows that sound like a domain word but are spelt differently (设保卡→社保卡)."""
        if not self._by_sound:
            return text
        keys = [_SOUNDS.get(c) or sound(c) for c in text]
        # Characters of protected words (places, relatives) are never rewritten: 宝鸡能 must not
        # become 宝技能.
        kept = [False] * len(text)
        if self._protected_re is not None:
            for m in self._protected_re.finditer(text):
                kept[m.start():m.end()] = [True] * (m.end() - m.start())
        by_sound, lengths_by_start = self._by_sound, self._lengths_by_start
        out: list[str] = []
        i = 0
        n = len(text)
        while i < n:
            replaced = False
            for length in lengths_by_start.get(keys[i], ()):
                # The sound lookup first: it rules out almost every window.
                word = by_sound.get(tuple(keys[i:i + length])) if i + length <= n else None
                if word is None or any(kept[i:i + length]):
                    continue
                window = text[i:i + length]
                if word == window or window in self.domain_words or window in INTENT_OF:
                    continue
                if window in self.protected or any(
                    a != b and a in FUNCTION_CHARS for a, b in zip(window, word, strict=True)
                ):
                    continue
                same = sum(a == b for a, b in zip(window, word, strict=True))
                if same * 2 < length or same == 0:
                    continue  # too many changed characters to be a slip of the IME
                if window in self._real_words:
                    continue  # a real word that merely sounds alike (共计 ≠ 共济)
                if length == 2 and (text[i - 1:i + 1] in self._real_words if i else False
                                    or text[i + 1:i + 3] in self._real_words):
                    continue  # the halves of two real words (直接给 ≠ 直借给)
                out.append(word)
                i += length
                replaced = True
                break
            if not replaced:
                out.append(text[i])
                i += 1
        return "".join(out)

    def boundaries(self, text: str) -> set[int]:
        """The offsets where the segmenter cuts text into words (0 and len(text) included)."""
        cuts, offset = {0}, 0
        for token in self._seg.cut(text, hmm=False):
            offset += len(token)
            cuts.add(offset)
        return cuts

    def is_word(self, text: str) -> bool:
        """Whether text is a word of the segmenter's dictionary (general or domain)."""
        return text in self._real_words

    def rewrite_synonyms(self, text: str) -> str:
        """Rewrite every known variant to its canonical word, longest variant first."""
        if self._rewrite_re is None:
            return text
        return self._rewrite_re.sub(lambda m: self._rewrites[m.group(0)], text)

    def synonym_hits(self, text: str) -> list[tuple[str, str]]:
        """The (variant, canonical) pairs rewrite_synonyms would apply to text, in order."""
        if self._rewrite_re is None:
            return []
        return [(m.group(0), self._rewrites[m.group(0)]) for m in self._rewrite_re.finditer(text)]

    def prepare(self, text: str) -> str:
        """Folded text with typos repaired (before synonym rewriting): what case detectors read."""
        return self.repair_typos(self.from_pinyin(fold(text)))

    def tokens(self, prepared: str) -> list[str]:
        """Content words of prepared text: synonyms rewritten, segmented, stop words dropped."""
        text = self.rewrite_synonyms(prepared)
        return [
            tok
            for tok in self._seg.cut(text, hmm=False)
            if _TOKEN_OK.search(tok) and tok.strip() and tok not in self.stopwords
        ]

    def features(self, prepared: str) -> list[str]:
        """Words plus character bigrams within words, so segmentation differences still overlap."""
        return self.analyse(prepared)[1]

    def analyse(self, prepared: str) -> tuple[list[str], list[str]]:
        """The content words of prepared text and its matching features, in one pass."""
        toks = self.tokens(prepared)
        feats = list(toks)
        feats += [INTENT_OF[t] for t in toks if t in INTENT_OF]
        text = "".join(toks)
        feats += [tag for pattern, tag in INTENT_PHRASES if pattern.search(text)]
        feats += [self.word_classes[t] for t in toks if t in self.word_classes]
        joined = "".join(t for t in toks if t not in INTENT_OF)
        feats += ["~" + joined[i:i + 2] for i in range(len(joined) - 1)]
        # Interned: the matcher keeps these strings in many tables; equal features that are one
        # object take one place in memory and in a pickled engine.
        return [intern(t) for t in toks], [intern(f) for f in feats]
