"""A record is named on its page by what its users know it by (contract number, enterprise or service name,
voucher code, period and confirmation time), never by the database id, which stays in URLs."""
from __future__ import annotations

import re

import pytest

from models import Role, db
from tests.factories import make_application, make_settlement, make_user, make_voucher, make_world
from tests.test_english_sweep import visible_text


@pytest.fixture
def w(app):
    world = make_world()
    db.session.commit()
    return world


def _h1(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html.split("<h1", 1)[1].split(">", 1)[1].split("</h1>")[0]).strip()


def _title(html: str) -> str:
    return html.split("<title>")[1].split("</title>")[0]


def _no_id(text: str, record_id: int) -> None:
    assert not re.search(rf"#\s*{record_id}\b", text), text[:600]


def test_the_application_page_is_headed_by_its_contract_number_not_its_id(w, login):
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", contract_no="HT-2026-0815",
                         users=w.users)
    db.session.commit()
    for user, url in ((w.city_user, f"/city/applications/{a.id}"), (make_user(Role.PROVINCE), f"/province/applications/{a.id}"),
                      (w.sup_user, f"/supplier/applications/{a.id}")):
        html = login(user).get(url).get_data(as_text=True)
        assert _h1(html) == f"服务券申领：{w.enterprise.name}（合同编号 HT-2026-0815）", url
        assert "HT-2026-0815" in _title(html) and w.enterprise.name in _title(html), url
        _no_id(visible_text(html), a.id)
        _no_id(_title(html), a.id)
    # The enterprise knows itself: its own page names the service bought.
    html = login(w.ent_user).get(f"/enterprise/applications/{a.id}").get_data(as_text=True)
    assert _h1(html) == f"服务券申领：{w.item.name}（合同编号 HT-2026-0815）"
    _no_id(visible_text(html), a.id)


def test_an_approved_application_names_its_voucher_code(w, login):
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="approved", contract_no="HT-2026-0816",
                         users=w.users)
    db.session.commit()
    from models import Voucher

    code = db.session.execute(db.select(Voucher.code).where(Voucher.application_id == a.id)).scalar_one()
    html = login(w.ent_user).get(f"/enterprise/applications/{a.id}").get_data(as_text=True)
    issued = html.split(f'id="application-{a.id}-voucher"')[1].split("</p>")[0]
    assert f"已发放服务券 {code}，面值" in issued
    assert "HT-2026-0816" in _h1(html)


def test_the_english_heading_is_singular(w, login):
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", contract_no="HT-2026-0817",
                         users=w.users)
    db.session.commit()
    c = login(w.city_user)
    c.post("/lang", data={"lang": "en"})
    html = c.get(f"/city/applications/{a.id}").get_data(as_text=True)
    assert _h1(html) == f"Voucher application: {w.enterprise.name} (contract no. HT-2026-0817)"


def test_the_settlement_page_is_headed_by_the_voucher_code(w, login):
    v = make_voucher(w.enterprise, w.supplier, w.cycle, users=w.users)
    st = make_settlement(v, stage="city_review", users=w.users)
    db.session.commit()
    html = login(w.city_user).get(f"/city/settlements/{st.id}").get_data(as_text=True)
    assert _h1(html) == f"兑现申请：{w.enterprise.name}，服务券 {v.code}"
    _no_id(visible_text(html), st.id)
    html = login(w.ent_user).get(f"/enterprise/settlements/{st.id}").get_data(as_text=True)
    assert _h1(html) == f"兑现申请：服务券 {v.code}"
    _no_id(_title(html), st.id)


def test_the_signals_list_names_the_enterprise_with_its_uscc_not_an_id(w, login):
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", users=w.users)
    db.session.commit()
    html = login(make_user(Role.PROVINCE)).get("/province/signals").get_data(as_text=True)
    row = html.split(f'id="application-{a.id}-signal-row"')[1].split("</tr>")[0]
    text = visible_text(row)
    assert w.enterprise.name in text and w.enterprise.uscc in text
    assert "#" not in text
