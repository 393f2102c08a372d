"""A city sees, for its own city only, the audit recoveries on what it paid and the net paid amount, from the
same query as the province's payout overview (REL-2, CYC-5, PAY-1, ROLE-8)."""
from __future__ import annotations

import datetime as dt
import re

from blueprints.core import payout, supervision
from blueprints.core.timeutil import today
from blueprints.province.payout import overview
from models import Budget, ListEntry, Role, db
from tests.factories import make_enterprise, make_settlement, make_user, make_voucher

GZ, SZ = "440100", "440300"
Y = 100  # fen per yuan


def _paid(city_user, period: str, amount_yuan: int):
    """A settlement of amount_yuan in the officer's city, listed, published, paid out from the period's budget."""
    code = city_user.city_code
    v = make_voucher(enterprise=make_enterprise(city_code=code), fee_fen=amount_yuan * Y)
    make_settlement(v, stage="approved")
    db.session.add(Budget(city_code=code, period=period, kind="general", cap_fen=1_000_000 * Y, committed_fen=0))
    db.session.commit()
    lst = payout.create_list(code, period, city_user)
    payout.publish(lst, city_user, 7)
    lst.publicity_ends_on = today() - dt.timedelta(days=1)
    payout.confirm(code, period, city_user, payout.fingerprint(payout.propose(code, period)[0]))
    entry = db.session.execute(db.select(ListEntry).where(ListEntry.voucher_id == v.id)).scalar_one()
    payout.record_payment(entry, city_user, today(), f"REF-{code}")
    db.session.commit()
    return v, entry


def _recover(v, amount_fen: int):
    supervision.record_recovery(v, make_user(Role.PROVINCE), amount_fen=amount_fen, reason="合同价格明显高于市场价",
                                finding="审计核定不合理部分")
    db.session.commit()


def _text(body: str, elem_id: str) -> str | None:
    m = re.search(rf'id="{elem_id}"[^>]*>([^<]*)<', body)
    return m.group(1).strip() if m else None


def test_a_city_sees_its_recoveries_and_net_paid_on_its_figures_page(app, login):
    # rule: REL-2, CYC-5 -- paid ¥40,000.00, recovered ¥6,500.50: net ¥33,499.50, for Guangzhou only
    period = f"{today().year}-1"
    gz, sz = make_user(Role.CITY, city_code=GZ), make_user(Role.CITY, city_code=SZ)
    db.session.commit()
    v, entry = _paid(gz, period, 40_000)
    assert entry.amount_fen == 40_000 * Y
    c_gz, c_sz = login(gz), login(sz)
    body = c_gz.get("/city/figures").get_data(as_text=True)  # the snapshot is stored before the recovery
    assert _text(body, "city-payout-paid") == "¥40,000.00"
    assert _text(body, "city-recovered") == "¥0.00" and _text(body, "city-net-paid") == "¥40,000.00"

    _recover(v, 6_500_50)
    # A recovery is audited like a payment: the figures snapshot is stale and the next view shows it.
    body = c_gz.get("/city/figures").get_data(as_text=True)
    assert _text(body, "city-payout-paid") == "¥40,000.00"
    assert _text(body, "city-recovered") == "¥6,500.50"
    assert _text(body, "city-net-paid") == "¥33,499.50"

    body = c_sz.get("/city/figures").get_data(as_text=True)  # Shenzhen sees none of Guangzhou's
    assert _text(body, "city-recovered") == "¥0.00" and _text(body, "city-net-paid") == "¥0.00"
    assert "6,500.50" not in body and "33,499.50" not in body and "40,000.00" not in body


def test_a_city_sees_the_period_net_paid_on_its_payout_page(app, login):
    # rule: REL-2, PAY-1
    period = f"{today().year}-1"
    gz, sz = make_user(Role.CITY, city_code=GZ), make_user(Role.CITY, city_code=SZ)
    db.session.commit()
    v, _ = _paid(gz, period, 40_000)
    _recover(v, 1_000 * Y)
    _recover(v, 500 * Y)  # two recoveries on one entry: paid counted once, recoveries summed
    body = login(gz).get("/city/payout", query_string={"period": period}).get_data(as_text=True)
    assert "¥40,000.00" in _text(body, "payout-paid")
    assert _text(body, "payout-recovered") == "¥1,500.00"
    assert _text(body, "payout-net-paid") == "¥38,500.00"
    # Shenzhen, with a paid entry of its own in the same period, sees only its own figures.
    _paid(sz, period, 25_000)
    body = login(sz).get("/city/payout", query_string={"period": period}).get_data(as_text=True)
    assert "¥25,000.00" in _text(body, "payout-paid")
    assert _text(body, "payout-recovered") == "¥0.00" and _text(body, "payout-net-paid") == "¥25,000.00"
    assert "1,500.00" not in body and "38,500.00" not in body


def test_the_province_overview_and_the_city_figures_agree(app, login):
    # rule: REL-2 -- the province overview nets the same recoveries, per city, by the shared query
    period = f"{today().year}-1"
    gz, sz = make_user(Role.CITY, city_code=GZ), make_user(Role.CITY, city_code=SZ)
    db.session.commit()
    v, _ = _paid(gz, period, 40_000)
    _paid(sz, period, 25_000)
    _recover(v, 6_500_50)
    rows, total = overview(period)
    by_code = {c.code: r for c, r in rows}
    assert (by_code[GZ]["paid_count"], by_code[GZ]["paid_fen"]) == (1, 40_000 * Y)
    assert (by_code[GZ]["recovered_fen"], by_code[GZ]["net_paid_fen"]) == (6_500_50, 33_499_50)
    assert (by_code[SZ]["paid_fen"], by_code[SZ]["recovered_fen"], by_code[SZ]["net_paid_fen"]) == (25_000 * Y, 0, 25_000 * Y)
    assert (total["paid_fen"], total["recovered_fen"], total["net_paid_fen"]) == (65_000 * Y, 6_500_50, 58_499_50)
    assert overview(f"{today().year - 1}-1")[1]["recovered_fen"] == 0  # another period: none
    page = login(make_user(Role.PROVINCE)).get("/province/payout", query_string={"period": period}).get_data(as_text=True)
    assert _text(page, f"payout-{GZ}-recovered") == "审计收回 ¥6,500.50，实付 ¥33,499.50"
    assert _text(page, f"payout-{SZ}-recovered") is None  # nothing recovered in Shenzhen
    figures = login(gz).get("/city/figures").get_data(as_text=True)
    assert _text(figures, "city-net-paid") == "¥33,499.50"
