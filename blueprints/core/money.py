"""Money: integer fen everywhere (AMT-5). Parsing is strict; display is ¥1,234.56."""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MAX_FEN = 10**14  # one trillion yuan: far above any programme amount

_PLAIN = re.compile(r"^\d{1,13}(\.\d{1,2})?$")
_PLAIN_WAN = re.compile(r"^\d{1,9}(\.\d{1,6})?$")


class MoneyError(ValueError):
    pass


def parse_yuan(text: str | Decimal | int | None, unit: str = "yuan") -> int:
    """Parse a user-entered amount in 元 (or 万元) into integer fen.

    Accepts digits with an optional decimal point and ASCII thousands commas; refuses
    negatives, exponents, NaN/Inf, more precision than a fen, and absurd sizes.
    """
    if text is None:
        raise MoneyError("请输入金额")
    if isinstance(text, int):
        text = str(text)
    s = str(text).strip().replace(",", "").replace("，", "").replace("¥", "").replace("￥", "")
    if s == "":
        raise MoneyError("请输入金额")
    pattern = _PLAIN_WAN if unit == "wan" else _PLAIN
    if not pattern.match(s):
        raise MoneyError("金额格式不正确：只能是数字，最多两位小数（以元计到分）")
    value = Decimal(s)
    if unit == "wan":
        value *= 10000
    fen = value * 100
    if fen != fen.to_integral_value():
        raise MoneyError("金额最小单位为分")
    fen_int = int(fen)
    if fen_int > MAX_FEN:
        raise MoneyError("金额过大")
    return fen_int


def to_fen(value: Decimal) -> int:
    try:
        return int((Decimal(value) * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    except InvalidOperation as exc:  # pragma: no cover - guarded by parse_yuan
        raise MoneyError("金额格式不正确") from exc


def fen_to_decimal(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def yuan(fen: int | None) -> str:
    """¥1,234.56 (negative amounts as -¥1,234.56)."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def wan(fen: int | None) -> str:
    """An amount in 万元 with up to 2 decimals, for dashboards."""
    if fen is None:
        return "—"
    return f"{Decimal(fen) / 1000000:,.2f}万"


def wan_shown(fen: int | None) -> str:
    """wan() in the reader's language, for pages."""
    from flask_babel import gettext

    if fen is None:
        return "—"
    return gettext("%(n)s万", n=f"{Decimal(fen) / 1000000:,.2f}")
