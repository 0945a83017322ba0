"""Sensitive-data detection: ID numbers, bank cards, phones, passwords, and log redaction."""

from __future__ import annotations

import logging
import time

import pytest

from bot.engine import messages as msg
from bot.engine.sensitive import (
    RedactingFilter,
    find,
    id_check_ok,
    install_log_redaction,
    luhn_ok,
    redact,
    remove,
    warning_for,
)

VALID_IDS = ["11010519491231002X", "110101199003074514", "440308199901011234"]
VALID_CARDS = ["6222020200001234562", "4111111111111111", "6228480012345671"]


def kinds(text: str) -> list[str]:
    """The kinds found in `text`, in order."""
    return [f.kind for f in find(text)]


@pytest.mark.parametrize("number", VALID_IDS)
def test_valid_id_numbers(number: str) -> None:
    """18 characters with a correct GB 11643 check character are ID numbers."""
    assert id_check_ok(number)
    assert kinds(f"我的身份证号是{number},能办吗") == ["id"]


def test_lower_case_x_and_spaces_are_tolerated() -> None:
    """A lower-case x and spaces between the digit groups still count."""
    assert kinds("身份证 11010519491231002x") == ["id"]
    assert kinds("110101 19900307 4514") == ["id"]
    assert kinds("１１０１０１１９９００３０７４５１４") == ["id"]  # full-width digits


@pytest.mark.parametrize(
    "number",
    [
        "110101199003074515",  # wrong check digit
        "110101199003071234",  # wrong check digit
        "11010519491231002Y",  # not a check character
        "110101199013324514",  # month 13 (check digit aside)
    ],
)
def test_invalid_id_numbers(number: str) -> None:
    """A wrong check character or an impossible birth date is not an ID number."""
    assert not id_check_ok(number)
    assert "id" not in kinds(number)


@pytest.mark.parametrize("number", VALID_CARDS)
def test_bank_cards_pass_luhn(number: str) -> None:
    """16–19 digits passing Luhn are a bank card, with or without spaces or dashes."""
    assert luhn_ok(number)
    spaced = " ".join(number[i:i + 4] for i in range(0, len(number), 4))
    dashed = "-".join(number[i:i + 4] for i in range(0, len(number), 4))
    assert kinds(number) == kinds(spaced) == kinds(dashed) == ["card"]


def test_luhn_failures_are_not_cards() -> None:
    """One digit off fails Luhn; too short or too long is not a card."""
    assert not luhn_ok("6222020200001234563")
    assert kinds("6222020200001234563") == []
    assert kinds("4111111111") == []  # 10 digits
    assert kinds("41111111111111111111") == []  # 20 digits


def test_shorter_numbers_passing_luhn_are_not_cards() -> None:
    """Bank cards issued in China have 16–19 digits: a 13-digit parcel number passing Luhn is none."""
    assert luhn_ok("7700123456780")
    assert kinds("快递单号7700123456780到了吗") == []
    assert kinds("7700 1234 5678 0") == []


@pytest.mark.parametrize(
    ("text", "kind", "number"),
    [
        ("ID11010519491231002X", "id", "11010519491231002X"),
        ("身份证号:ID110101199003074514谢谢", "id", "110101199003074514"),
        ("tel13800138000", "phone", "13800138000"),
        ("tel13800138000x", "phone", "13800138000"),
        ("card6222020200001234562", "card", "6222020200001234562"),
        ("6222020200001234562abc", "card", "6222020200001234562"),
    ],
)
def test_numbers_glued_to_letters(text: str, kind: str, number: str) -> None:
    """A number touching ASCII letters is still found (though not one touching other digits)."""
    (finding,) = find(text)
    assert (finding.kind, text[finding.start:finding.end]) == (kind, number)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("6222.0202.0000.1234.562", "card"),
        ("6222_0202_0000_1234_562", "card"),
        ("6222－0202－0000－1234－562", "card"),  # full-width hyphens
        ("6222  0202  0000  1234  562", "card"),  # double spaces
        ("138.0013.8000", "phone"),
        ("138_0013_8000", "phone"),
        ("138－0013－8000", "phone"),
        ("138  0013  8000", "phone"),
        ("110101.19900307.4514", "id"),
        ("110101  19900307  4514", "id"),
    ],
)
def test_numbers_split_by_dots_low_lines_full_width_dashes_and_double_spaces(
        text: str, kind: str) -> None:
    """Other ways of splitting a number into groups are seen through; the whole span is found."""
    (finding,) = find(text)
    assert (finding.kind, finding.start, finding.end) == (kind, 0, len(text))


def test_a_date_beside_a_number_is_not_part_of_it() -> None:
    """Groups joined by another kind of separator are not one number: the date stays visible."""
    assert redact("2024-12-02 13800138000") == "2024-12-02 [手机号已隐藏]"
    assert redact("2024-12-02 6222 0202 0000 1234 562") == "2024-12-02 [银行卡号已隐藏]"


@pytest.mark.parametrize("text", ["1 " * 2048, "1-" * 2048, "1  " * 1365, "1 - " * 1024,
                                  "12 " * 1365, "1" * 4096, "1X " * 1365, "1._" * 1365,
                                  "13800138000 " * 341, "密码 " * 1365, "pwd" * 1365])
def test_adversarial_messages_are_screened_quickly(text: str) -> None:
    """A message of digit groups at Telegram's length limit is screened in well under a second.

    Trying every span of groups took cubic time (about 43 s for "1 " * 2048): the bound is a
    safety guard against that, not a benchmark.
    """
    text = text[:4096]
    started = time.perf_counter()
    find(text)
    redact(text)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("text", ["13800138000", "手机:138 0013 8000", "打 138-0013-8000",
                                  "+86 13800138000", "电话19912345678谢谢"])
def test_mobile_numbers(text: str) -> None:
    """Mainland mobile numbers, with spaces, dashes or +86."""
    assert kinds(text) == ["phone"]


@pytest.mark.parametrize("text", ["12800138000", "1380013800", "213800138000", "021-12345678"])
def test_not_mobile_numbers(text: str) -> None:
    """Wrong prefix, too short, glued to another digit, or a landline."""
    assert kinds(text) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("我的密码是abc123", "abc123"),
        ("密码:123456", "123456"),
        ("支付密码：888888", "888888"),
        ("pwd abc123", "abc123"),
        ("Password is hunter22", "hunter22"),
        ("password: letmein", "letmein"),
    ],
)
def test_passwords(text: str, value: str) -> None:
    """The value after a password keyword is found (the keyword itself is kept)."""
    (finding,) = find(text)
    assert finding.kind == "password"
    assert text[finding.start:finding.end] == value


@pytest.mark.parametrize(
    "text",
    [
        "社保卡密码是多少",
        "密码忘了怎么办",
        "初始密码是6位数字吗",
        "how do I reset my password please",
        "spin the wheel",
    ],
)
def test_questions_about_passwords_are_not_passwords(text: str) -> None:
    """Asking about a password is not posting one."""
    assert kinds(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "2024年12月开始跨省共济",
        "每次最多转¥2,000,一天3次",
        "2024-12-02 上线",
        "缴费满15年,2030年起每年加6个月",
        "20241202",
        "2024 12 02",
        "第1/5步",
        "12393 或 12333",
        "年收入120000元",
        "2024.12.02 上线",
        "2024_12_02",
        "2024－12－02",
        "2024年12月02日 22:00",
        "22:00-23:30",
        "¥2,000.50",
        "版本v2.0.1",
        "订单号ABC20241202",
        "192.168.100.200",
        "2020年  2021年  2022年",
    ],
)
def test_no_false_positives_on_dates_amounts_and_hotlines(text: str) -> None:
    """Years, dates, amounts and hotline numbers are left alone."""
    assert find(text) == []
    assert redact(text) == text


def test_redact_and_remove() -> None:
    """Redaction names what was hidden; remove() leaves only the question."""
    text = f"身份证{VALID_IDS[1]},卡号{VALID_CARDS[0]},手机13800138000,密码是abc123"
    assert redact(text) == "身份证[身份证号已隐藏],卡号[银行卡号已隐藏],手机[手机号已隐藏],密码是[密码已隐藏]"
    assert kinds(text) == ["id", "card", "phone", "password"]
    assert remove(f"外婆{VALID_IDS[1]}能用吗") == "外婆 能用吗"


def test_warning_names_what_was_found() -> None:
    """The warning uses messages.NUMBER_WARNING with a Chinese list of the kinds."""
    assert warning_for([]) is None
    one = warning_for(find("13800138000"))
    assert one == msg.NUMBER_WARNING.format(what="手机号")
    several = warning_for(find(f"{VALID_IDS[0]} 13800138000 13900139000 密码:abcd"))
    assert several == msg.NUMBER_WARNING.format(what="身份证号、手机号和密码")


def test_log_filter_redacts_message_args_and_traceback() -> None:
    """The filter redacts %-arguments and exception text before any handler formats them."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    logger = logging.getLogger("test.sensitive")
    logger.propagate = False
    handler = Keep()
    logger.addHandler(handler)
    install_log_redaction(logger)
    install_log_redaction(logger)
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    try:
        logger.warning("question: %s", f"我的卡号{VALID_CARDS[0]}")
        try:
            raise ValueError(f"bad input {VALID_IDS[0]}")
        except ValueError:
            logger.exception("failed for %r", {"text": "13800138000"})
    finally:
        logger.removeHandler(handler)
    joined = "\n".join(records)
    assert VALID_CARDS[0] not in joined and VALID_IDS[0] not in joined and "13800138000" not in joined
    assert "[银行卡号已隐藏]" in joined and "[身份证号已隐藏]" in joined and "[手机号已隐藏]" in joined
    assert "ValueError" in joined


# ----- numbers and passwords in disguise (issue 11) -----

PHONE = "13800138000"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("1 3 8 0 0 1 3 8 0 0 0", "phone"),  # every digit its own group
        ("13 800 13 8000", "phone"),
        ("138,0013,8000", "phone"),
        ("138/0013/8000", "phone"),
        ("138*0013*8000", "phone"),
        ("138\n0013\n8000", "phone"),
        ("1380\r\n0138\r\n000", "phone"),
        ("6222 02 0200 00 1234 562", "card"),
        ("6222,0202,0000,1234,562", "card"),
        ("6222/0202/0000/1234/562", "card"),
        ("110101/19900307/4514", "id"),
        ("11 01 01 19 90 03 07 45 14", "id"),
        ("(138)0013-8000", "phone"),
        ("(138) 0013 8000", "phone"),
        ("（138）0013－8000", "phone"),  # full-width parentheses and hyphen
    ],
)
def test_numbers_in_odd_groupings(text: str, kind: str) -> None:
    """Single spaces, commas, slashes, stars, line breaks, any grouping: the whole span is found."""
    (finding,) = find(text)
    assert (finding.kind, finding.start, finding.end) == (kind, 0, len(text))
    assert redact(text) == f"[{ {'phone': '手机号', 'card': '银行卡号', 'id': '身份证号'}[kind] }已隐藏]"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("一三八零零一三八零零零", "phone"),
        ("幺三八〇〇幺三八〇〇〇", "phone"),
        ("壹叁捌零零壹叁捌零零零", "phone"),
        ("一一零一零一一九九零零三零七四五一四", "id"),
        ("138\u200b0013\u200b8000", "phone"),  # zero-width spaces
        ("13800\u200d138000", "phone"),  # zero-width joiner
        ("110101\u2060199003\ufeff074514", "id"),  # word joiner, BOM
        ("62220202\u00ad00001234562", "card"),  # soft hyphen
        ("١٣٨٠٠١٣٨٠٠٠", "phone"),  # Arabic-Indic digits
        ("۱۳۸۰۰۱۳۸۰۰۰", "phone"),  # Extended Arabic-Indic (Persian) digits
        ("𝟏𝟑𝟖𝟎𝟎𝟏𝟑𝟖𝟎𝟎𝟎", "phone"),  # mathematical bold digits
        ("𝟷𝟹𝟾 𝟶𝟶𝟷𝟹 𝟾𝟶𝟶𝟶", "phone"),  # mathematical monospace digits, in groups
        ("१३८००१३८०००", "phone"),  # Devanagari digits
    ],
)
def test_numbers_in_other_scripts_or_with_invisible_characters(text: str, kind: str) -> None:
    """Chinese, Arabic-Indic and mathematical digits count; invisible characters are seen through;
    the span found and redacted is the whole of the original text."""
    (finding,) = find(text)
    assert (finding.kind, finding.start, finding.end) == (kind, 0, len(text))
    assert "已隐藏]" in redact(text) and not any(c.isdigit() for c in redact(text))


def test_disguised_number_inside_a_sentence_is_cut_exactly() -> None:
    """Offsets are mapped back through dropped characters: the words around stay as typed."""
    text = "我\u200b的手机是一三八\u200b零零一三八零零零,身份证１１０１０１１９９００３０７４５１４谢谢"
    assert redact(text) == "我\u200b的手机是[手机号已隐藏],身份证[身份证号已隐藏]谢谢"
    assert remove(text) == "我\u200b的手机是 ,身份证 谢谢"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("密碼是abc123", "abc123"),  # Traditional
        ("密碼：654321", "654321"),
        ("密 码 是 abc123", "abc123"),
        ("密  碼 為 abc123", "abc123"),
        ("pass: hunter22", "hunter22"),
        ("PASS=abc123", "abc123"),
        ("密码：ａｂｃ１２３", "ａｂｃ１２３"),  # full-width password
        ("密码是ｈｕｎｔｅｒ", "ｈｕｎｔｅｒ"),
        ("口令是一二三四五六", "一二三四五六"),
        ("PIN码 1234", "1234"),
    ],
)
def test_passwords_in_disguise(text: str, value: str) -> None:
    """Traditional characters, spaces inside the keyword, `pass:`, full-width values."""
    (finding,) = find(text)
    assert finding.kind == "password" and text[finding.start:finding.end] == value
    assert value not in redact(text) and redact(text).endswith("[密码已隐藏]")


@pytest.mark.parametrize(
    "text",
    [
        "2000元", "2024年", "每月2000元,一年24000元", "2024/12/02", "2024,12,02", "1/2/3/4",
        "2020 2021 2022 2023", "2023\n2024\n2025\n2026", "1,000,000", "10*20*30",
        "1 2 3 4 5 6 7 8 9 10 11 12", "电话 12333 转 1 再转 2", "12393\n12333",
        "2024年1月1日到2024年12月31日", "一二三四五", "第一二三条", "三五个人", "一千二百元",
        "一天3次,一次2,000元", "passport: E12345678", "pass the exam in 2024", "spin 1234",
        "pin the tail", "我的社保卡密码忘了", "密码是什么", "13:00-17:00", "138****8000",
        "(0571)12345678", "（2024）12号文",
    ],
)
def test_no_false_alarms_on_ordinary_numbers(text: str) -> None:
    """Amounts, years, dates, hotlines, lists and masked numbers are left alone."""
    assert find(text) == []
    assert redact(text) == text


@pytest.mark.parametrize("text", ["一 " * 2048, "1\u200b" * 2048, "(1)" * 1365, "1\n" * 2048,
                                  "6 " * 2048, "6," * 2048, "𝟏 " * 2048, "密 码 " * 800])
def test_disguised_adversarial_messages_are_screened_quickly(text: str) -> None:
    """Normalising and trying every grouping stays linear (a safety guard, not a benchmark)."""
    text = text[:4096]
    started = time.perf_counter()
    find(text)
    redact(text)
    assert time.perf_counter() - started < 1.0


def test_checks_are_python_stdnum() -> None:
    """ID and card checks agree with python-stdnum (stdnum.cn.ric, stdnum.luhn)."""
    from stdnum import luhn
    from stdnum.cn import ric

    for number in VALID_IDS:
        assert ric.is_valid(number) and id_check_ok(number)
    for number in VALID_CARDS:
        assert luhn.is_valid(number) and luhn_ok(number)
    assert not luhn_ok("６２２２０２０２００００１２３４５６２")  # only ASCII digits here
