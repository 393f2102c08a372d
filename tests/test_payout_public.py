"""The public pages of publicity and payout (ROLE-7): the index of published settlement lists, one list with each entry's
state, objections from the public page or a logged-in enterprise, and the look-up by tracking number
(PUB-1, PUB-2, PUB-3, PUB-4)."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest

from blueprints.core import payout
from blueprints.core.issuance import display_code
from blueprints.core.timeutil import today
from models import (
    Budget, EntryStatus, ListEntry, Objection, ObjStatus, RateEvent, Role, SettlementList, StoredFile, db,
)
from tests.factories import contract_pdf_bytes, make_settlement, make_user, make_voucher

TEXT = "该企业并未实际使用云服务，发票与合同内容不符，请核实。"


def _approved(amount_yuan: int = 10_000, *, pilot=False):
    v = make_voucher(fee_fen=amount_yuan * 100)
    v.pilot = pilot
    st = make_settlement(v, stage="approved")
    db.session.commit()
    return st


def _city():
    u = make_user(Role.CITY, city_code="440100")
    db.session.commit()
    return u


def _list(city, *, publish=True, over=False, period="2026-1") -> SettlementList:
    lst = payout.create_list("440100", period, city)
    if publish:
        payout.publish(lst, city, 7)
        if over:  # time moved on: the publicity period has passed
            lst.publicity_ends_on = today() - dt.timedelta(days=1)
    db.session.commit()
    return lst


def _over(lst):
    lst.publicity_ends_on = today() - dt.timedelta(days=1)
    db.session.commit()


def _entries(lst):
    return db.session.execute(db.select(ListEntry).where(ListEntry.list_id == lst.id)
                              .order_by(ListEntry.seq)).scalars().all()


def _budget(general_yuan: int, period="2026-1"):
    db.session.add(Budget(city_code="440100", period=period, kind="general", cap_fen=general_yuan * 100,
                          committed_fen=0))
    db.session.commit()


def _objection_url(lst):
    return f"/public/settlement-lists/{lst.id}/objection"


# --------------------------------------------------------------------------- the index and one list


def test_the_index_shows_published_lists_only(app, client):
    # rule: PUB-1
    city = _city()
    _approved()
    published = _list(city)
    _approved()
    draft = _list(city, publish=False)
    html = client.get("/public/settlement-lists").get_data(as_text=True)
    assert f"settlement-list-{published.id}-row" in html and published.title in html
    assert f"settlement-list-{draft.id}-row" not in html
    assert f"公示期至 {published.publicity_ends_on:%Y-%m-%d}" in html and "公示中（可提出异议）" in html
    assert "¥10,000.00" in html and "2026年第1期" in html
    _over(published)
    html = client.get("/public/settlement-lists").get_data(as_text=True)
    assert "公示期满" in html and "公示中（可提出异议）" not in html
    # filtered by city: another city has none
    r = client.get("/public/settlement-lists?city=440300")
    assert r.status_code == 200 and "该地市暂无公示的结算清单" in r.get_data(as_text=True)
    assert f"settlement-list-{published.id}-row" in client.get("/public/settlement-lists?city=440100").get_data(
        as_text=True)
    # htmx: only the results block
    frag = client.get("/public/settlement-lists?city=440100", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in frag and 'id="settlement-list-results"' in frag


def test_an_empty_index_says_so(app, client):
    r = client.get("/public/settlement-lists")
    assert r.status_code == 200 and "暂无公示的结算清单" in r.get_data(as_text=True)


def test_the_landing_page_links_to_the_lists(app, client):
    assert "/public/settlement-lists" in client.get("/").get_data(as_text=True)


def test_a_draft_list_does_not_exist_for_the_public(app, client, login):
    # rule: PUB-1 -- only what the city published is public
    city = _city()
    _approved()
    draft = _list(city, publish=False)
    for url in (f"/public/settlement-lists/{draft.id}", f"/public/settlement-lists/{draft.id}/pdf",
                _objection_url(draft), "/public/settlement-lists/999999"):
        assert client.get(url).status_code == 404, url
    # not even for the city's officer on the public page (the city has its own)
    assert login(city).get(f"/public/settlement-lists/{draft.id}").status_code == 404
    payout.discard_list(draft, city)
    db.session.commit()
    assert client.get(f"/public/settlement-lists/{draft.id}").status_code == 404


def test_the_list_page_shows_names_codes_and_amounts_never_private_data(app, client):
    # rule: PUB-1 -- no USCC, contact, contract or invoice figures on the public page
    city = _city()
    st = _approved(12_345, pilot=True)
    st.bonus_fen = 200_000_00
    db.session.commit()
    lst = _list(city)
    html = client.get(f"/public/settlement-lists/{lst.id}").get_data(as_text=True)
    ent, sup, v = st.enterprise, st.supplier, st.voucher
    assert ent.name in html and sup.name in html and display_code(v.code) in html
    assert "¥12,345.00" in html and "¥200,000.00" in html and "¥212,345.00" in html and "试点" in html
    private = [ent.uscc, sup.uscc, ent.contact_phone, sup.contact_phone, ent.contact_name, sup.contact_name,
               ent.legal_rep, v.application.contract_no] + [i.number for i in st.invoices]
    for value in private:
        assert value and value not in html, value
    assert "公示中" in html and "提出异议" in html


def test_the_list_is_searchable_by_enterprise_or_voucher_code(app, client):
    city = _city()
    a, b = _approved(), _approved()
    lst = _list(city)
    url = f"/public/settlement-lists/{lst.id}"
    html = client.get(url, query_string={"q": a.enterprise.name}).get_data(as_text=True)
    assert a.enterprise.name in html and b.enterprise.name not in html
    html = client.get(url, query_string={"q": display_code(b.voucher.code).lower()}).get_data(as_text=True)
    assert b.enterprise.name in html and a.enterprise.name not in html
    r = client.get(url, query_string={"q": "没有这家企业"}, headers={"HX-Request": "true"})
    frag = r.get_data(as_text=True)
    assert "<html" not in frag and 'id="public-list-results"' in frag and "没有符合条件的条目" in frag


def test_each_entry_shows_where_it_stands(app, client):
    # rule: PUB-4, PAY-2, PAY-3 -- held, its place in the queue, whether it fits the budget
    city = _city()
    a, b, c = _approved(30_000), _approved(20_000), _approved(10_000)
    lst = _list(city)
    ea, eb, ec = _entries(lst)
    payout.raise_objection(lst, payout.ObjectionInput([eb.id], TEXT), user=make_user(Role.SUPPLIER))
    db.session.commit()
    url = f"/public/settlement-lists/{lst.id}"
    html = client.get(url).get_data(as_text=True)
    assert "异议处理中，暂缓支付" in html
    _over(lst)
    _budget(35_000)
    html = client.get(url).get_data(as_text=True)

    def state(e):
        m = re.search(rf'id="entry-{e.id}-state">(.*?)</td>', html, re.S)
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", m.group(1))).strip()

    assert "暂缓支付" in state(eb)
    assert state(ea).startswith("排队第 1 位，前面待付 ¥0.00，本期预算余额 ¥35,000.00") and "预计本期可支付" in state(ea)
    assert state(ec).startswith("排队第 2 位，前面待付 ¥30,000.00") and "预算不足，顺延" in state(ec)
    assert "对此提出异议" not in html  # publicity is over
    # committed, then paid
    alloc, _ = payout.propose("440100", "2026-1")
    payout.confirm("440100", "2026-1", city, payout.fingerprint(alloc))
    db.session.commit()
    html = client.get(url).get_data(as_text=True)
    assert "已列入支付批次" in state(ea)
    payout.record_payment(db.session.get(ListEntry, ea.id), city, today(), "BANK-0001")
    db.session.commit()
    html = client.get(url).get_data(as_text=True)
    assert state(ea) == "已支付"


def test_a_removed_entry_shows_as_taken_off(app, client):
    # rule: PUB-2 -- an upheld objection takes the entry off the list
    city = _city()
    _approved()
    lst = _list(city)
    (e,) = _entries(lst)
    obj = payout.raise_objection(lst, payout.ObjectionInput([e.id], TEXT), user=make_user(Role.ENTERPRISE))
    payout.city_answer(obj, city, ObjStatus.UPHELD, "经核实，服务未实施。")
    db.session.commit()
    html = client.get(f"/public/settlement-lists/{lst.id}").get_data(as_text=True)
    assert "已撤下" in html


def test_the_pdf_is_served_for_published_lists(app, client):
    from blueprints.core import uploads

    city = _city()
    _approved()
    lst = _list(city)
    assert client.get(f"/public/settlement-lists/{lst.id}/pdf").status_code == 404  # not generated yet
    f = uploads.store_bytes(contract_pdf_bytes("清单"), mime="application/pdf", name="结算清单.pdf", kind="settlement_list",
                            owner_type="settlement_list", owner_id=lst.id, user_id=city.id)
    lst.pdf_file_id = f.id
    db.session.commit()
    assert f"/public/settlement-lists/{lst.id}/pdf" in client.get(f"/public/settlement-lists/{lst.id}").get_data(
        as_text=True)
    r = client.get(f"/public/settlement-lists/{lst.id}/pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.get_data().startswith(b"%PDF-")


def _page_queries(client, count_queries, *, over: bool) -> dict[int, int]:
    """SQL statements of the list page for a list of 3 entries and one of 30 (a warm-up view first)."""
    city = _city()
    for _ in range(3):
        _approved()
    small = _list(city, over=over)
    for _ in range(30):
        _approved()
    big = _list(city, over=over, period="2026-2")
    _budget(100_000, period="2026-2")
    assert big.entries_count == 30
    counts = {}
    for lst in (small, big):
        client.get(f"/public/settlement-lists/{lst.id}")
        with count_queries() as q:
            html = client.get(f"/public/settlement-lists/{lst.id}").get_data(as_text=True)
        assert ("排队第" if over else "公示中") in html
        assert len(re.findall(r'id="entry-\d+-state"', html)) == lst.entries_count
        counts[lst.entries_count] = q.count
    return counts


def test_the_list_page_is_a_fixed_number_of_queries(app, client, count_queries):
    # No query per row: the names come with the entries in one joined query.
    counts = _page_queries(client, count_queries, over=False)
    assert counts[3] == counts[30], counts


def test_the_queue_places_are_a_fixed_number_of_queries(app, client, count_queries):
    # The payout queue is allocated once per page (one cache for every row), however many rows it shows.
    counts = _page_queries(client, count_queries, over=True)
    assert counts[3] == counts[30], counts


# --------------------------------------------------------------------------- objections


def test_an_anonymous_objection_needs_a_contact_and_keeps_what_was_typed(app, client):
    # rule: PUB-2, PUB-4
    city = _city()
    a, b = _approved(), _approved()
    lst = _list(city)
    ea, eb = _entries(lst)
    page = client.get(_objection_url(lst), query_string={"entry": ea.id}).get_data(as_text=True)
    assert re.search(rf'value="{ea.id}" checked', page) and "联系电话或电子邮箱" in page
    r = client.post(_objection_url(lst), data={"entry": [str(ea.id)], "text": TEXT, "contact_name": "王先生",
                                               "contact": ""})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="objection-errors"' in html and "有效的手机号" in html
    assert TEXT in html and 'value="王先生"' in html and re.search(rf'value="{ea.id}" checked', html)
    assert db.session.execute(db.select(db.func.count(Objection.id))).scalar_one() == 0
    r = client.post(_objection_url(lst), data={"entry": [str(ea.id)], "text": "太短", "contact_name": "",
                                               "contact": "13800138000"})
    assert r.status_code == 422 and "至少 10 个字" in r.get_data(as_text=True) and 'value="13800138000"' in r.get_data(
        as_text=True)
    r = client.post(_objection_url(lst), data={"text": TEXT, "contact_name": "王先生", "contact": "13800138000"})
    assert r.status_code == 422 and "请选择有异议的条目" in r.get_data(as_text=True)
    # a valid one: the entry is held, a tracking number is shown to keep
    r = client.post(_objection_url(lst), data={"entry": [str(ea.id)], "text": TEXT, "contact_name": "王先生",
                                               "contact": "13800138000"})
    assert r.status_code == 303
    obj = db.session.execute(db.select(Objection)).scalar_one()
    assert obj.raised_by is None and obj.contact == "13800138000"
    db.session.refresh(ea)
    db.session.refresh(eb)
    assert ea.status == EntryStatus.HELD and eb.status == EntryStatus.LISTED
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert obj.tracking_no in html and 'id="objection-tracking-no"' in html and "保存受理编号" in html
    assert "13800138000" not in html and "王先生" not in html  # never the objector's contact


def test_the_answer_is_looked_up_by_tracking_number(app, client):
    # rule: PUB-2, PUB-3
    city = _city()
    _approved()
    lst = _list(city)
    (e,) = _entries(lst)
    obj = payout.raise_objection(lst, payout.ObjectionInput([e.id], TEXT, contact_name="王先生",
                                                            contact="wang@example.com"))
    db.session.commit()
    html = client.get("/public/objections", query_string={"tracking_no": f"  {obj.tracking_no.lower()} "}).get_data(
        as_text=True)
    assert "地市处理中" in html and lst.title in html and e.settlement.enterprise.name in html
    assert "wang@example.com" not in html and "尚在处理中" in html
    payout.city_answer(obj, city, ObjStatus.DISMISSED, "经核实，服务已实施，发票真实有效。")
    db.session.commit()
    html = client.get("/public/objections", query_string={"tracking_no": obj.tracking_no}).get_data(as_text=True)
    assert "异议不成立" in html and "经核实，服务已实施，发票真实有效。" in html
    assert f"{obj.answered_at + dt.timedelta(hours=8):%Y-%m-%d}" in html and "地市工业和信息化主管部门" in html
    assert "wang@example.com" not in html and "王先生" not in html
    r = client.get("/public/objections", query_string={"tracking_no": "YYAAAAAAAAAA"})
    assert r.status_code == 404 and "未找到受理编号" in r.get_data(as_text=True)
    assert client.get("/public/objections", query_string={"tracking_no": "<script>"}).status_code == 404
    r = client.get("/public/objections")
    assert r.status_code == 200 and 'name="tracking_no"' in r.get_data(as_text=True)


def test_the_provinces_outcome_and_site_check_are_shown(app, client):
    # rule: PUB-3
    city = _city()
    prov = make_user(Role.PROVINCE)
    _approved()
    lst = _list(city)
    (e,) = _entries(lst)
    obj = payout.raise_objection(lst, payout.ObjectionInput([e.id], TEXT), user=make_user(Role.ENTERPRISE))
    payout.city_answer(obj, city, "escalate", "需专家现场核查。")
    db.session.commit()
    html = client.get("/public/objections", query_string={"tracking_no": obj.tracking_no}).get_data(as_text=True)
    assert "已提交省级处理" in html
    payout.province_decide(obj, prov, ObjStatus.UPHELD, "服务未部署，异议成立。", site_check_on=today(),
                           findings="机房无相关设备。")
    db.session.commit()
    html = client.get("/public/objections", query_string={"tracking_no": obj.tracking_no}).get_data(as_text=True)
    assert "异议成立" in html and "机房无相关设备。" in html and "省工业和信息化厅" in html


def test_no_objection_after_publicity(app, client):
    # rule: PUB-2 -- objections only during publicity
    city = _city()
    _approved()
    lst = _list(city, over=True)
    (e,) = _entries(lst)
    page = client.get(_objection_url(lst)).get_data(as_text=True)
    assert "公示期已结束" in page and "objection-new-form" not in page
    r = client.post(_objection_url(lst), data={"entry": [str(e.id)], "text": TEXT, "contact_name": "王先生",
                                               "contact": "13800138000"})
    assert r.status_code == 409 and TEXT in r.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(Objection.id))).scalar_one() == 0
    db.session.refresh(e)
    assert e.status == EntryStatus.LISTED


def test_a_logged_in_enterprise_objects_without_contact_fields(app, login):
    # rule: PUB-2
    city = _city()
    _approved()
    lst = _list(city)
    (e,) = _entries(lst)
    user = make_user(Role.ENTERPRISE)
    db.session.commit()
    c = login(user)
    page = c.get(_objection_url(lst)).get_data(as_text=True)
    assert "联系电话或电子邮箱" not in page and user.display_name in page
    r = c.post(_objection_url(lst), data={"entry": [str(e.id)], "text": TEXT})
    assert r.status_code == 303
    obj = db.session.execute(db.select(Objection)).scalar_one()
    assert obj.raised_by == user.id and obj.enterprise_id == user.enterprise_id
    db.session.refresh(e)
    assert e.status == EntryStatus.HELD


def test_material_is_saved_with_the_objection_or_not_at_all(app, client):
    # rule: PUB-2 -- an objection with material; a bad file saves nothing
    city = _city()
    _approved()
    lst = _list(city)
    (e,) = _entries(lst)
    form = {"entry": [str(e.id)], "text": TEXT, "contact_name": "王先生", "contact": "020-12345678"}
    bad = dict(form, files=[(io.BytesIO(contract_pdf_bytes("好")), "说明.pdf"),
                            (io.BytesIO(b"MZ not a pdf"), "病毒.pdf")])
    r = client.post(_objection_url(lst), data=bad, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "“病毒.pdf”" in html and 'id="err-objection-files"' in html and TEXT in html
    assert db.session.execute(db.select(db.func.count(Objection.id))).scalar_one() == 0
    assert db.session.execute(db.select(db.func.count(StoredFile.id)).where(
        StoredFile.kind == "objection_material")).scalar_one() == 0
    too_many = dict(form, files=[(io.BytesIO(contract_pdf_bytes(str(n))), f"{n}.pdf") for n in range(6)])
    r = client.post(_objection_url(lst), data=too_many, content_type="multipart/form-data")
    assert r.status_code == 422 and "最多 5 个文件" in r.get_data(as_text=True)
    good = dict(form, files=[(io.BytesIO(contract_pdf_bytes("证据")), "证据.pdf")])
    r = client.post(_objection_url(lst), data=good, content_type="multipart/form-data")
    assert r.status_code == 303
    obj = db.session.execute(db.select(Objection)).scalar_one()
    (f,) = db.session.execute(db.select(StoredFile).where(StoredFile.kind == "objection_material")).scalars().all()
    assert obj.file_ids == [f.id] and f.owner_type == "objection" and f.owner_id == obj.id


def test_anonymous_objections_are_limited_per_address(app, client):
    app.config["OBJECTION_LIMIT_PER_ADDRESS"] = 2
    city = _city()
    _approved()
    lst = _list(city)
    data = {"text": TEXT, "contact_name": "王先生", "contact": "13800138000"}  # no entry: 422, but counted
    assert [client.post(_objection_url(lst), data=data).status_code for _ in range(3)] == [422, 422, 429]
    r = client.post(_objection_url(lst), data=data)
    assert r.status_code == 429 and TEXT in r.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(RateEvent.id))).scalar_one() == 2


def test_the_lookup_is_limited_per_address(app, client):
    app.config["VERIFY_LIMIT_PER_ADDRESS"] = 2
    codes = [client.get("/public/objections", query_string={"tracking_no": "YYAAAAAAAAAA"}).status_code
             for _ in range(3)]
    assert codes == [404, 404, 429]


def test_the_entry_search_of_the_objection_form(app, client):
    city = _city()
    a, b = _approved(), _approved()
    lst = _list(city)
    ea, eb = _entries(lst)
    r = client.get(_objection_url(lst), query_string={"choices": 1, "q": b.enterprise.name, "entry": ea.id},
                   headers={"HX-Request": "true"})
    frag = r.get_data(as_text=True)
    assert "<html" not in frag and 'id="objection-choices"' in frag
    assert re.search(rf'value="{ea.id}" checked', frag) and re.search(rf'value="{eb.id}">', frag)
    r = client.get(_objection_url(lst), query_string={"choices": 1, "q": "没有这家企业"}, headers={"HX-Request": "true"})
    assert "没有找到" in r.get_data(as_text=True)


def test_only_published_lists_take_objections(app, client):
    # rule: PUB-2 -- a draft has nothing to object to
    city = _city()
    _approved()
    draft = _list(city, publish=False)
    (e,) = _entries(draft)
    r = client.post(_objection_url(draft), data={"entry": [str(e.id)], "text": TEXT, "contact_name": "王先生",
                                                 "contact": "13800138000"})
    assert r.status_code == 404
    assert db.session.execute(db.select(db.func.count(Objection.id))).scalar_one() == 0


def test_an_anonymous_objection_carries_the_forms_csrf_token(db_url, tmp_path):
    # rule: PUB-2 -- the public form works with CSRF on (the rest of the suite runs without it)
    from app import create_app

    csrf_app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": db_url, "WTF_CSRF_ENABLED": True,
                           "UPLOAD_DIR": str(tmp_path / "uploads"), "SECRET_KEY": "test-secret"})
    with csrf_app.app_context():
        _approved()
        lst = _list(_city())
        url, entry_id = _objection_url(lst), _entries(lst)[0].id
        db.session.remove()
    client = csrf_app.test_client()
    form = {"entry": [str(entry_id)], "text": TEXT, "contact_name": "王先生", "contact": "13800138000"}
    assert client.post(url, data=form).status_code == 400
    html = client.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert client.post(url, data=dict(form, csrf_token=token)).status_code == 303
    with csrf_app.app_context():
        assert db.session.execute(db.select(db.func.count(Objection.id))).scalar_one() == 1
        db.engine.dispose()
