"""Money is exact: integer fen, strict parsing, ¥1,234.56 display (AMT-5)."""
from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from blueprints.core import money
from blueprints.core.money import MoneyError, parse_yuan, yuan

# rule: AMT-5


@pytest.mark.parametrize(
    "text, unit, fen",
    [
        ("1,234.56", "yuan", 123456),
        ("1234", "yuan", 123400),
        ("12.3", "yuan", 1230),
        ("0.01", "yuan", 1),
        ("0", "yuan", 0),
        ("  88.80 ", "yuan", 8880),
        ("¥2,000", "yuan", 200000),
        ("1，000.5", "yuan", 100050),  # full-width comma from a Chinese IME
        ("１２３", "yuan", 12300),  # full-width digits from a Chinese IME mean the same amount
        ("12.5", "wan", 12500000),  # 12.5 万元 = 125,000.00 元
        ("1", "wan", 1000000),
        ("0.0001", "wan", 100),
        ("3.123456", "wan", 3123456),
    ],
)
def test_parse_yuan_accepts(text, unit, fen):
    assert parse_yuan(text, unit) == fen
    assert isinstance(parse_yuan(text, unit), int)


@pytest.mark.parametrize(
    "text, unit",
    [
        ("-1", "yuan"), ("1e5", "yuan"), ("NaN", "yuan"), ("nan", "yuan"), ("Infinity", "yuan"), ("inf", "yuan"),
        ("1.234", "yuan"), ("", "yuan"), ("   ", "yuan"), ("abc", "yuan"), ("1.2.3", "yuan"), ("12a", "yuan"),
        ("0x10", "yuan"), ("+5", "yuan"), (".5", "yuan"), ("5.", "yuan"),
        ("99999999999999", "yuan"), ("9999999999999.99", "yuan"), ("1" + "0" * 30, "yuan"),
        ("0.0000001", "wan"), ("-1", "wan"), ("9999999999", "wan"), (None, "yuan"),
    ],
)
def test_parse_yuan_refuses_with_a_chinese_message(text, unit):
    with pytest.raises(MoneyError) as info:
        parse_yuan(text, unit)
    message = str(info.value)
    assert message and any("\u4e00" <= ch <= "\u9fff" for ch in message)


def test_parse_yuan_upper_bound():
    assert parse_yuan("1000000000000") == money.MAX_FEN  # one trillion yuan is the ceiling
    with pytest.raises(MoneyError, match="金额过大"):
        parse_yuan("1000000000000.01")


@pytest.mark.parametrize(
    "fen, text",
    [(123456, "¥1,234.56"), (0, "¥0.00"), (5, "¥0.05"), (100, "¥1.00"), (123456789012, "¥1,234,567,890.12"),
     (-150, "-¥1.50"), (None, "—")],
)
def test_yuan_formats(fen, text):
    assert yuan(fen) == text


def test_wan_and_decimal_helpers():
    assert money.wan(12500000) == "12.50万"
    assert money.fen_to_decimal(123456) == Decimal("1234.56")
    assert money.to_fen(Decimal("10.005")) == 1001  # ROUND_HALF_UP, never banker's rounding
    assert money.to_fen(Decimal("10.004")) == 1000


def test_yuan_filter_in_templates(app):
    from flask import render_template_string

    with app.test_request_context():
        assert render_template_string("{{ 123456|yuan }}") == "¥1,234.56"
        # rule: AMT-5 — dashboards show 万元 with two decimals; a missing figure is a dash, not 0
        assert render_template_string("{{ 12500000|wan }}") == "12.50万"
        assert render_template_string("{{ none|wan }}") == "—"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=money.MAX_FEN), st.booleans())
def test_round_trip_property(fen, with_commas):
    whole, cents = divmod(fen, 100)
    s = f"{whole:,}.{cents:02d}" if with_commas else f"{whole}.{cents:02d}"
    assert parse_yuan(s) == fen
    assert yuan(parse_yuan(s)) == "¥" + f"{whole:,}.{cents:02d}"


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**8 - 1), st.integers(min_value=0, max_value=99))
def test_wan_is_exactly_ten_thousand_yuan(wan_whole, wan_cents):
    text = f"{wan_whole}.{wan_cents:02d}"
    assert parse_yuan(text, "wan") == parse_yuan(text, "yuan") * 10000


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20))
def test_parse_never_crashes_otherwise(text):
    try:
        fen = parse_yuan(text)
    except MoneyError:
        return
    assert isinstance(fen, int) and 0 <= fen <= money.MAX_FEN


def test_money_columns_are_bigint_and_nothing_is_float(app):
    from models import db

    fen_columns = 0
    for table in db.metadata.tables.values():
        for col in table.columns:
            assert not isinstance(col.type, (sa.Float, sa.Numeric)), f"{table.name}.{col.name} is {col.type}"
            if col.name.endswith("_fen"):
                fen_columns += 1
                assert isinstance(col.type, sa.BigInteger), f"{table.name}.{col.name} must be BigInteger"
    assert fen_columns >= 5
