"""Fraud signals: every signal has a test that raises it and one that does not; the city's and
the province's review pages show the flags with their evidence (never a decision); the province's list per city
costs the same number of queries however many records are under review.

Related-party signals (shared phone, e-mail, filing IP address) are marked REL-1: they point the reviewer at a
relation neither party may have declared.
"""
from __future__ import annotations

import datetime as dt
import itertools

import pytest

from blueprints.core import application as app_flow
from blueprints.core import signals
from blueprints.core.timeutil import now, today
from models import AppStatus, Application, Role, db
from tests.factories import (
    make_application, make_enterprise, make_settlement, make_supplier, make_user, make_voucher, make_world,
)

UTC = dt.timezone.utc
SIGNALS_BOX = "风险提示（仅供核查参考，不作为自动决定）"
_codes = itertools.count(1)


def codes(flags) -> set[str]:
    return {f.code for f in flags}


def _filed(enterprise, supplier, cycle, item, fee, *, status=AppStatus.CITY_REVIEW, city=None) -> Application:
    """A filed application written directly (fast): enough for the fee and customer statistics."""
    at = now()
    a = Application(enterprise_id=enterprise.id, supplier_id=supplier.id, cycle_id=cycle.id,
                    city_code=city or enterprise.city_code, catalog_version_id=item.version_id,
                    catalog_item_id=item.id, contract_no=f"SIG-{next(_codes):05d}", contract_fee_fen=fee,
                    status=status, submitted_at=at, confirmed_at=at, item_amount_fen=min(fee, item.cap_fen),
                    due_on=today() + dt.timedelta(days=5) if status == AppStatus.CITY_REVIEW else None,
                    return_reasons=[])
    db.session.add(a)
    db.session.flush()
    return a


@pytest.fixture
def w(app):
    world = make_world()
    db.session.commit()
    return world


def _subject(w, **kw) -> Application:
    """The application under the city's review, filed through the real services."""
    return make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", users=w.users, **kw)


# --------------------------------------------------------------------------- shared phone


def test_shared_phone_is_flagged_with_the_number_masked(w):
    # rule: REL-1
    w.enterprise.contact_phone = "+86 138-0013-1234"
    w.supplier.contact_phone = "13800131234"
    a = _subject(w)
    flags = [f for f in signals.for_application(a) if f.code == "shared_phone"]
    assert len(flags) == 1
    assert flags[0].evidence == "企业联系电话 138****1234 与供应商联系电话相同"
    assert "13800131234" not in flags[0].evidence


def test_a_supplier_account_phone_equal_to_the_enterprise_phone_is_flagged(w):
    # rule: REL-1
    w.sup_user.phone = w.enterprise.contact_phone
    a = _subject(w)
    (flag,) = [f for f in signals.for_application(a) if f.code == "shared_phone"]
    assert "供应商账号" in flag.evidence and "138****0000" in flag.evidence


def test_different_phones_are_not_flagged(w):
    # rule: REL-1
    assert w.enterprise.contact_phone != w.supplier.contact_phone
    assert "shared_phone" not in codes(signals.for_application(_subject(w)))


# --------------------------------------------------------------------------- shared e-mail


def test_a_shared_company_mail_domain_is_flagged(w):
    # rule: REL-1
    w.enterprise.contact_email = "boss@jiaxin-tech.cn"
    w.supplier.contact_email = "sales@JIAXIN-tech.cn"
    (flag,) = [f for f in signals.for_application(_subject(w)) if f.code == "shared_email_domain"]
    assert "jiaxin-tech.cn" in flag.evidence


def test_the_same_mail_address_is_flagged_even_on_public_webmail(w):
    # rule: REL-1
    w.enterprise.contact_email = "zhangsan@qq.com"
    w.supplier.contact_email = "ZhangSan@qq.com"
    (flag,) = [f for f in signals.for_application(_subject(w)) if f.code == "shared_email"]
    assert "zh***@qq.com" in flag.evidence


def test_a_shared_public_webmail_domain_is_not_flagged(w):
    # rule: REL-1
    w.enterprise.contact_email = "zhangsan@qq.com"
    w.supplier.contact_email = "lisi@qq.com"
    assert not codes(signals.for_application(_subject(w))) & {"shared_email", "shared_email_domain"}


def test_different_mail_domains_are_not_flagged(w):
    # rule: REL-1
    w.enterprise.contact_email = "boss@factory.cn"
    w.supplier.contact_email = "sales@cloud.cn"
    assert not codes(signals.for_application(_subject(w))) & {"shared_email", "shared_email_domain"}


# --------------------------------------------------------------------------- filing IP address


def _submit_and_confirm(app, w, enterprise_ip: str, supplier_ip: str) -> Application:
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": enterprise_ip}):
        a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", users=w.users)
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": supplier_ip}):
        app_flow.confirm(a, w.sup_user)
    db.session.flush()
    return a


def test_submission_and_confirmation_from_one_ip_address_are_flagged(app, w):
    # rule: REL-1
    a = _submit_and_confirm(app, w, "203.0.113.9", "203.0.113.9")
    (flag,) = [f for f in signals.for_application(a) if f.code == "shared_ip"]
    assert flag.evidence == "企业提交申领的 IP 地址 203.0.113.9 与供应商确认申领时的 IP 地址相同"


def test_submission_and_confirmation_from_different_addresses_are_not_flagged(app, w):
    # rule: REL-1
    a = _submit_and_confirm(app, w, "203.0.113.9", "198.51.100.20")
    assert "shared_ip" not in codes(signals.for_application(a))


def test_a_loopback_address_is_not_evidence(app, w):
    # rule: REL-1 -- the server seeing itself (no proxy header) says nothing about who filed
    a = _submit_and_confirm(app, w, "127.0.0.1", "127.0.0.1")
    assert "shared_ip" not in codes(signals.for_application(a))


def test_a_settlement_submitted_and_confirmed_from_one_address_is_flagged(app, w):
    # rule: REL-1
    v = make_voucher(w.enterprise, w.supplier, w.cycle, users=w.users)
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.50"}):
        st = make_settlement(v, stage="city_review", users=w.users)
    (flag,) = [f for f in signals.for_settlement(st) if f.code == "shared_ip"]
    assert "企业提交兑现申请的 IP 地址 203.0.113.50" in flag.evidence
    assert "供应商确认兑现申请" in flag.evidence


def test_a_settlement_without_shared_addresses_is_not_flagged(w):
    # rule: REL-1
    v = make_voucher(w.enterprise, w.supplier, w.cycle, users=w.users)
    st = make_settlement(v, stage="city_review", users=w.users)
    assert signals.for_settlement(st) == []


# --------------------------------------------------------------------------- contract fee above the 95th percentile


def _others(w, fees, item=None):
    """Filed contracts for the item by another enterprise with another supplier."""
    ent, sup = make_enterprise(), make_supplier()
    for fee in fees:
        _filed(ent, sup, w.cycle, item or w.item, fee)


def test_a_fee_above_the_95th_percentile_of_20_others_is_flagged(w):
    # the contract fee is an outlier against other contracts for the same catalog item
    _others(w, [100_000_00 + i * 100 for i in range(20)])  # the 95th percentile (19th of 20) is 100,018.00
    a = _subject(w, fee_fen=190_000_00)
    (flag,) = [f for f in signals.for_application(a) if f.code == "fee_outlier"]
    assert flag.evidence == ("合同金额 ¥190,000.00 高于同一目录项目其他 20 份合同金额的第 95 百分位数 ¥100,018.00")


def test_a_fee_at_the_95th_percentile_is_not_flagged(w):
    _others(w, [100_000_00 + i * 100 for i in range(20)])
    a = _subject(w, fee_fen=100_018_00)
    assert "fee_outlier" not in codes(signals.for_application(a))


def test_a_high_fee_against_fewer_than_20_others_is_not_flagged(w):
    _others(w, [100_000_00] * 19)
    _others(w, [10_000_00] * 5, item=w.item2)  # another catalog item does not count
    a = _subject(w, fee_fen=190_000_00)
    assert "fee_outlier" not in codes(signals.for_application(a))


def test_unfiled_drafts_do_not_count_as_other_contracts(w):
    _others(w, [100_000_00] * 19)
    draft = _filed(make_enterprise(), make_supplier(), w.cycle, w.item, 100_000_00, status=AppStatus.DRAFT)
    draft.submitted_at = None
    a = _subject(w, fee_fen=190_000_00)
    assert "fee_outlier" not in codes(signals.for_application(a))


# --------------------------------------------------------------------------- exactly at the cap for many customers


def _customers(w, n_at_cap: int, n_below: int):
    """Other customers of w.supplier: n_at_cap filed exactly at their item's cap, n_below below it."""
    for i in range(n_at_cap):
        item = w.item if i % 2 else w.item2  # each at its own item's cap
        _filed(make_enterprise(), w.supplier, w.cycle, item, item.cap_fen)
    for _ in range(n_below):
        _filed(make_enterprise(), w.supplier, w.cycle, w.item, 99_000_00)


def test_a_fee_at_the_cap_like_5_other_customers_of_the_supplier_is_flagged(w):
    # exactly at the cap for many of one supplier's customers
    _customers(w, 5, 3)
    a = _subject(w, fee_fen=w.item.cap_fen)
    (flag,) = [f for f in signals.for_application(a) if f.code == "fee_at_cap"]
    assert flag.evidence == ("合同金额恰等于目录项目封顶额 ¥200,000.00；该供应商的其他 8 家客户企业中有 5 家也恰按封顶额申报")


def test_a_fee_at_the_cap_like_only_4_other_customers_is_not_flagged(w):
    _customers(w, 4, 3)
    a = _subject(w, fee_fen=w.item.cap_fen)
    assert "fee_at_cap" not in codes(signals.for_application(a))


def test_a_fee_below_the_cap_is_not_flagged_however_many_others_are_at_it(w):
    _customers(w, 8, 0)
    a = _subject(w, fee_fen=w.item.cap_fen - 1)
    assert "fee_at_cap" not in codes(signals.for_application(a))


# --------------------------------------------------------------------------- registration burst


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 4, tzinfo=UTC)  # 12:00 in Guangdong


def _customers_created(w, days: list[dt.date]):
    """Customers of w.supplier (each with a filed application naming it) created on the given local days."""
    for day in days:
        _filed(make_enterprise(created_at=_noon(day)), w.supplier, w.cycle, w.item, 100_000_00)


def test_a_supplier_whose_customers_mostly_registered_within_3_days_is_flagged(w):
    # a supplier whose customers were mostly registered in the same few days
    d = dt.date(2025, 3, 1)
    w.enterprise.created_at = _noon(d)
    _customers_created(w, [d, d, d + dt.timedelta(days=1), d + dt.timedelta(days=2), d + dt.timedelta(days=2)]
                       + [dt.date(2025, 1, 5), dt.date(2025, 2, 1), dt.date(2025, 4, 9), dt.date(2025, 6, 1)])
    (flag,) = [f for f in signals.for_application(_subject(w)) if f.code == "registration_burst"]
    assert flag.evidence == "该供应商的 10 家客户企业中有 6 家（60%）于 2025-03-01 至 2025-03-03 在平台注册"


def test_a_supplier_whose_customers_registered_over_time_is_not_flagged(w):
    d = dt.date(2025, 3, 1)
    w.enterprise.created_at = _noon(d)
    # 5 of 10 within three days (50%), the 6th on the fourth day
    _customers_created(w, [d, d, d + dt.timedelta(days=1), d + dt.timedelta(days=2), d + dt.timedelta(days=3)]
                       + [dt.date(2025, 1, 5), dt.date(2025, 2, 1), dt.date(2025, 4, 9), dt.date(2025, 6, 1)])
    assert "registration_burst" not in codes(signals.for_application(_subject(w)))


def test_fewer_than_10_customers_are_not_a_burst(w):
    d = dt.date(2025, 3, 1)
    w.enterprise.created_at = _noon(d)
    _customers_created(w, [d] * 8)  # 9 customers, all on one day
    assert "registration_burst" not in codes(signals.for_application(_subject(w)))


def test_registration_days_are_local_days(w):
    # 2025-03-03 20:00 UTC is 2025-03-04 04:00 in Guangdong: outside the 1-3 March window
    d = dt.date(2025, 3, 1)
    w.enterprise.created_at = _noon(d)
    _customers_created(w, [d, d, d + dt.timedelta(days=1), d + dt.timedelta(days=2)]
                       + [dt.date(2025, 1, 5), dt.date(2025, 2, 1), dt.date(2025, 4, 9), dt.date(2025, 6, 1)])
    _filed(make_enterprise(created_at=dt.datetime(2025, 3, 3, 20, tzinfo=UTC)), w.supplier, w.cycle, w.item, 100_000_00)
    assert "registration_burst" not in codes(signals.for_application(_subject(w)))


# --------------------------------------------------------------------------- helpers


def test_phone_masking_and_normalising():
    assert signals.normalise_phone("+86 138-0013-1234") == "13800131234"
    assert signals.mask_phone("(020) 8888-1234") == "020****1234"
    assert signals.mask_phone("12345") == "****45"


def test_a_clean_application_has_no_flags(w):
    assert signals.for_application(_subject(w)) == []


def test_an_application_without_a_supplier_has_no_flags(w):
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", users=w.users)
    a.supplier_id = None
    db.session.flush()
    assert signals.for_application(a) == []


# --------------------------------------------------------------------------- the review pages


def _flagged_world(w):
    w.enterprise.contact_phone = w.supplier.contact_phone = "13712345678"
    db.session.flush()


def test_the_city_application_page_shows_the_flags_with_their_evidence(w, login):
    _flagged_world(w)
    a = _subject(w)
    db.session.commit()
    html = login(w.city_user).get(f"/city/applications/{a.id}").get_data(as_text=True)
    assert SIGNALS_BOX in html
    assert f'id="application-{a.id}-signals"' in html
    assert "企业联系电话 137****5678 与供应商联系电话相同" in html
    assert "13712345678" not in html.split(f'id="application-{a.id}-signals"')[1].split("</section>")[0]


def test_the_city_application_page_shows_no_box_without_flags(w, login):
    a = _subject(w)
    db.session.commit()
    html = login(w.city_user).get(f"/city/applications/{a.id}").get_data(as_text=True)
    assert f"服务券申领：{w.enterprise.name}" in html
    assert SIGNALS_BOX not in html


def test_the_province_application_page_shows_the_flags(w, login):
    _flagged_world(w)
    a = _subject(w)
    db.session.commit()
    html = login(make_user(Role.PROVINCE)).get(f"/province/applications/{a.id}").get_data(as_text=True)
    assert SIGNALS_BOX in html


def test_the_supplier_and_the_enterprise_never_see_the_flags(w, login):
    _flagged_world(w)
    a = _subject(w)
    db.session.commit()
    for user, url in ((w.sup_user, f"/supplier/applications/{a.id}"), (w.ent_user, f"/enterprise/applications/{a.id}")):
        r = login(user).get(url)
        assert r.status_code == 200, url
        assert SIGNALS_BOX not in r.get_data(as_text=True), url


def test_the_settlement_pages_show_the_flags_to_the_city_and_the_province_only(w, login):
    _flagged_world(w)
    v = make_voucher(w.enterprise, w.supplier, w.cycle, users=w.users)
    st = make_settlement(v, stage="city_review", users=w.users)
    prov = make_user(Role.PROVINCE)
    db.session.commit()
    for user, url in ((w.city_user, f"/city/settlements/{st.id}"), (prov, f"/province/settlements/{st.id}")):
        html = login(user).get(url).get_data(as_text=True)
        assert SIGNALS_BOX in html and f'id="settlement-{st.id}-signals"' in html, url
        assert "企业联系电话 137****5678 与供应商联系电话相同" in html, url
    for user, url in ((w.ent_user, f"/enterprise/settlements/{st.id}"), (w.sup_user, f"/supplier/settlements/{st.id}")):
        r = login(user).get(url)
        assert r.status_code == 200, url
        assert SIGNALS_BOX not in r.get_data(as_text=True), url


def test_the_city_settlement_page_shows_no_box_without_flags(w, login):
    v = make_voucher(w.enterprise, w.supplier, w.cycle, users=w.users)
    st = make_settlement(v, stage="city_review", users=w.users)
    db.session.commit()
    html = login(w.city_user).get(f"/city/settlements/{st.id}").get_data(as_text=True)
    assert f"兑现申请：{w.enterprise.name}，服务券 {v.code}" in html
    assert SIGNALS_BOX not in html


# --------------------------------------------------------------------------- the province's list per city


def _under_review(w, n: int, city="440100") -> list[Application]:
    """n applications under the city's review, each of its own enterprise and supplier (distinct rows catch a
    lazy load per row); every third shares its supplier's phone, one is at its item's cap."""
    out = []
    for i in range(n):
        ent = make_enterprise(city_code=city)
        sup = make_supplier()
        if i % 3 == 0:
            ent.contact_phone = sup.contact_phone = f"1360000{i:04d}"
        out.append(_filed(ent, sup, w.cycle, w.item, w.item.cap_fen if i == 0 else 100_000_00 + i))
    db.session.flush()
    return out


def test_the_province_list_shows_records_under_review_with_their_flag_titles(w, login):
    flagged, clean = _under_review(w, 2)
    sz = _under_review(w, 1, city="440300")[0]
    _filed(make_enterprise(), make_supplier(), w.cycle, w.item, 100_000_00, status=AppStatus.APPROVED)
    db.session.commit()
    c = login(make_user(Role.PROVINCE))
    html = c.get("/province/signals").get_data(as_text=True)
    assert "各地市正在审核的申领和兑现申请" in html
    row = html.split(f'id="application-{flagged.id}-signal-row"')[1].split("</tr>")[0]
    assert "企业与供应商使用相同电话" in row
    assert "未发现" in html.split(f'id="application-{clean.id}-signal-row"')[1].split("</tr>")[0]
    assert f'id="application-{sz.id}-signal-row"' in html
    assert html.count("-signal-row") == 3  # the approved one is not under review
    # filtered by city, and as an htmx fragment
    r = c.get("/province/signals?city=440300", headers={"HX-Request": "true"})
    body = r.get_data(as_text=True)
    assert "<html" not in body and 'id="signal-results"' in body
    assert f'id="application-{sz.id}-signal-row"' in body and f"application-{flagged.id}-" not in body


def test_the_province_list_of_settlements_under_review(w, login):
    _flagged_world(w)
    v = make_voucher(w.enterprise, w.supplier, w.cycle, users=w.users)
    st = make_settlement(v, stage="city_review", users=w.users)
    db.session.commit()
    html = login(make_user(Role.PROVINCE)).get("/province/signals?kind=settlement").get_data(as_text=True)
    row = html.split(f'id="settlement-{st.id}-signal-row"')[1].split("</tr>")[0]
    assert "企业与供应商使用相同电话" in row
    assert f"/province/settlements/{st.id}" in row


_TX = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def _queries(counter) -> list[str]:
    """The statements run, transaction control left out (SQLite's explicit BEGIN is not a query)."""
    return [s for s in counter.statements if not s.lstrip().upper().startswith(_TX)]


def test_the_province_list_costs_the_same_queries_with_2_or_45_records(w, login, count_queries):
    # 10,000 applications under review cost what 45 do: the page is paginated first, then flagged in batch.
    c = login(make_user(Role.PROVINCE))
    counts = []
    for n in (2, 43):
        _under_review(w, n)
        db.session.commit()
        c.get("/province/signals")  # warm: what a first view loads once is not counted
        with count_queries() as q:
            r = c.get("/province/signals")
        assert r.status_code == 200
        counts.append(_queries(q))
    assert r.get_data(as_text=True).count("-signal-row") == 20  # one page of 45
    assert len(counts[0]) == len(counts[1]), "\n".join(counts[1])


def test_the_province_settlement_list_costs_the_same_queries_with_1_or_3_records(w, login, count_queries):
    c = login(make_user(Role.PROVINCE))
    counts = []
    for n in (1, 2):
        for _ in range(n):  # each of its own enterprise and supplier
            make_settlement(stage="city_review")
        db.session.commit()
        c.get("/province/signals?kind=settlement")
        with count_queries() as q:
            r = c.get("/province/signals?kind=settlement")
        counts.append(_queries(q))
    assert r.get_data(as_text=True).count("-signal-row") == 3
    assert len(counts[0]) == len(counts[1]), "\n".join(counts[1])


def test_flags_for_a_page_take_a_fixed_number_of_queries(w, count_queries):
    few = _under_review(w, 2)
    many = few + _under_review(w, 30)
    db.session.commit()
    db.session.expire_all()
    few = db.session.execute(db.select(Application).where(Application.id.in_([a.id for a in few]))).scalars().all()
    with count_queries() as q_few:
        signals.for_applications(few)
    db.session.expire_all()
    many = db.session.execute(db.select(Application).where(Application.id.in_([a.id for a in many]))).scalars().all()
    with count_queries() as q_many:
        found = signals.for_applications(many)
    assert len(_queries(q_many)) == len(_queries(q_few)) <= 8
    assert sum(1 for flags in found.values() if "shared_phone" in codes(flags)) == 11
