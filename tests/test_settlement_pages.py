"""The supplier's, the city's and the province's settlement pages.

Page-level: status codes, what each page shows, and what a POST changes in the database. The rules
themselves are tested at the service level in test_settlement_rules.py; here each route is driven
as a browser would, through the real settlements made by tests.factories.make_settlement.
"""
from __future__ import annotations

import datetime as dt
import html
import io
import re
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from blueprints.core import settlement, timeutil
from blueprints.core.issuance import display_code
from blueprints.core.timeutil import today
from models import AuditEvent, Job, Notice, Role, SetStatus, Settlement, User, VoucherStatus, db
from tests.factories import make_enterprise, make_settlement, make_supplier, make_user, make_voucher, make_world

GZ, SZ = "440100", "440300"


@pytest.fixture
def w(app):
    w = make_world()
    w.prov_user = make_user(Role.PROVINCE)
    w.sz_city_user = make_user(Role.CITY, city_code=SZ)
    db.session.commit()
    return w


def settle(w, stage="supplier_review", *, city=GZ, supplier=None, enterprise=None, fee_fen=150_000_00,
           **kw) -> Settlement:
    """A settlement of a new enterprise (in `city`) with w's supplier (or `supplier`), taken to `stage`."""
    e = enterprise or make_enterprise(city_code=city)
    s = supplier or w.supplier
    users = {"province": w.prov_user, "city": w.city_user if city == GZ else w.sz_city_user}
    if s.id == w.supplier.id:
        users["supplier"] = w.sup_user
    v = make_voucher(e, s, w.cycle, users=users, fee_fen=fee_fen)
    st = make_settlement(v, stage=stage, users=users, **kw)
    db.session.commit()
    return st


def text(resp) -> str:
    return resp.get_data(as_text=True)


def row_html(body: str, dom_id: str) -> str:
    m = re.search(rf'<tr id="{re.escape(dom_id)}">(.*?)</tr>', body, re.S)
    assert m, dom_id
    return m.group(1)


def cells(body: str, dom_id: str) -> list[str]:
    """The visible text of each cell of one table row."""
    raw = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row_html(body, dom_id), re.S)
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c))).strip() for c in raw]


def row_ids(body: str) -> list[int]:
    return [int(x) for x in re.findall(r'id="settlement-(\d+)-row"', body)]


def fresh(st: Settlement) -> Settlement:
    db.session.expire_all()
    return db.session.get(Settlement, st.id)


# --------------------------------------------------------------------------- the supplier (SET-4)


def test_supplier_list_shows_its_customers_settlements_waiting_first(w, login):
    # rule: SET-4
    at_city = settle(w, "city_review")
    waiting = settle(w, "supplier_review")
    draft = settle(w, "draft")
    other = settle(w, "supplier_review", supplier=make_supplier())
    c = login(w.sup_user)
    body = text(c.get("/supplier/settlements"))
    assert row_ids(body) == [waiting.id, at_city.id]  # waiting for confirmation first; never a draft
    assert draft.id not in row_ids(body) and other.id not in row_ids(body)
    row = cells(body, f"settlement-{waiting.id}-row")
    assert waiting.enterprise.name in row[0] and display_code(waiting.voucher.code) in row[1]
    assert "¥150,000.00" in row[2] and "供应商确认中" in row[-1]
    # search by enterprise name and by voucher code (typed with or without the dashes)
    by_name = text(c.get("/supplier/settlements", query_string={"q": at_city.enterprise.name}))
    assert row_ids(by_name) == [at_city.id]
    by_code = text(c.get("/supplier/settlements", query_string={"q": display_code(waiting.voucher.code).lower()}))
    assert row_ids(by_code) == [waiting.id]
    only = text(c.get("/supplier/settlements", query_string={"status": "city_review"}))
    assert row_ids(only) == [at_city.id]
    # htmx: only the results block
    frag = text(c.get("/supplier/settlements", headers={"HX-Request": "true"}))
    assert frag.lstrip().startswith('<div id="settlement-results">')


def test_supplier_list_pages(w, login, monkeypatch):
    from blueprints.supplier import settlements as mod

    monkeypatch.setattr(mod, "PER_PAGE", 2)
    made = [settle(w) for _ in range(3)]
    c = login(w.sup_user)
    first, second = text(c.get("/supplier/settlements")), text(c.get("/supplier/settlements?page=2"))
    assert row_ids(first) == [made[0].id, made[1].id] and row_ids(second) == [made[2].id]
    assert "下一页" in first and "共 3 条" in first


def test_supplier_home_panel_counts_waiting_settlements(w, login):
    settle(w)
    settle(w)
    settle(w, "verification")
    body = text(login(w.sup_user).get("/supplier/"))
    assert re.search(r'id="panel-settlements-waiting">2<', body)
    assert "客户兑现确认" in body  # the menu entry


def test_supplier_detail_shows_rows_files_checks_and_actions(w, login):
    # rule: SET-4, SET-3
    st = settle(w)
    inv, pay = st.invoices[0], st.payments[0]
    body = text(login(w.sup_user).get(f"/supplier/settlements/{st.id}"))
    assert display_code(st.voucher.code) in body and "¥150,000.00" in body
    assert st.voucher.application.contract_no in body
    assert "下一步：等待供应商确认发票和付款" in body
    assert timeutil.local(st.submitted_at).strftime("%Y-%m-%d %H:%M") in body  # first submission time (SET-3)
    inv_row = row_html(body, f"settlement-{st.id}-inv-{inv.id}")
    assert inv.number in inv_row and f"/files/{inv.file_id}" in inv_row and "检查通过" in inv_row
    assert f"/files/{pay.file_id}" in row_html(body, f"settlement-{st.id}-pay-{pay.id}")
    assert f"/files/{st.acceptance_file_id}" in body
    assert 'id="settlement-%d-checks"' % st.id in body and "全部通过" in body
    assert f'id="settlement-{st.id}-confirm"' in body and f'id="settlement-{st.id}-return"' in body
    # a reason input beside each row, belonging to the return form
    assert f'name="reason-inv-{inv.id}" form="settlement-{st.id}-return"' in body
    assert f'name="reason-pay-{pay.id}" form="settlement-{st.id}-return"' in body
    for r in settlement.SUPPLIER_RETURN_REASONS:
        assert r in body
    assert "办理记录" in body  # the timeline
    # every file on the page opens for the supplier
    c = login(w.sup_user)
    for fid in (inv.file_id, pay.file_id, st.acceptance_file_id):
        assert c.get(f"/files/{fid}").status_code == 200


def test_supplier_cannot_see_another_suppliers_or_unsubmitted_settlement(w, login):
    other = settle(w, supplier=make_supplier())
    draft = settle(w, "draft")
    c = login(w.sup_user)
    for st in (other, draft):
        assert c.get(f"/supplier/settlements/{st.id}").status_code == 404
        assert c.post(f"/supplier/settlements/{st.id}/confirm").status_code == 404
    assert fresh(other).status == SetStatus.SUPPLIER_REVIEW


def test_supplier_confirms(w, login):
    # rule: SET-4, SET-5
    st = settle(w)
    r = login(w.sup_user).post(f"/supplier/settlements/{st.id}/confirm")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/supplier/settlements/{st.id}")
    st = fresh(st)
    assert st.status == SetStatus.VERIFICATION and st.confirmed_at is not None
    notice = db.session.execute(db.select(Notice).order_by(Notice.id.desc())).scalars().first()
    assert "供应商已确认" in notice.title
    body = text(login(w.sup_user).get(f"/supplier/settlements/{st.id}"))
    assert "等待用量核验" in body and f'id="settlement-{st.id}-confirm"' not in body
    # htmx: a redirect the browser follows
    again = settle(w)
    hx = login(w.sup_user).post(f"/supplier/settlements/{again.id}/confirm", headers={"HX-Request": "true"})
    assert hx.status_code == 204 and hx.headers["HX-Redirect"].endswith(f"/supplier/settlements/{again.id}")


def test_supplier_confirm_twice_is_a_conflict(w, login):
    st = settle(w, "verification")
    r = login(w.sup_user).post(f"/supplier/settlements/{st.id}/confirm")
    assert r.status_code == 409 and "当前状态下不能执行该操作" in text(r)
    assert fresh(st).status == SetStatus.VERIFICATION


def test_supplier_returns_every_reason_at_once_beside_the_rows(w, login):
    # rule: SET-4
    st = settle(w, invoices=[{}, {}], payments=[{"amount_fen": 150_000_00}])
    inv1, inv2, pay = st.invoices[0], st.invoices[1], st.payments[0]
    r = login(w.sup_user).post(f"/supplier/settlements/{st.id}/return", data={
        "reasons": [settlement.SUPPLIER_RETURN_REASONS[1]], "other": "请补充服务期间的运维记录\n\n",
        f"reason-inv-{inv2.id}": "该发票已作废，请换开", f"reason-pay-{pay.id}": "付款凭证缺少银行回单章",
        f"reason-inv-{inv1.id}": "  "})
    assert r.status_code == 303
    st = fresh(st)
    assert st.status == SetStatus.RETURNED and st.returned_by == "supplier"
    assert st.resubmit_by == timeutil.add_working_days(today(), settlement.RESUBMIT_WORKING_DAYS)
    assert st.return_reasons == [
        {"row": "", "text": settlement.SUPPLIER_RETURN_REASONS[1]}, {"row": "", "text": "请补充服务期间的运维记录"},
        {"row": f"inv-{inv2.id}", "text": "该发票已作废，请换开"}, {"row": f"pay-{pay.id}", "text": "付款凭证缺少银行回单章"}]
    notice = db.session.execute(db.select(Notice).order_by(Notice.id.desc())).scalars().first()
    assert "退回" in notice.title and "发票第 2 行" in notice.body
    body = text(login(w.sup_user).get(f"/supplier/settlements/{st.id}"))
    assert "该发票已作废，请换开" in row_html(body, f"settlement-{st.id}-inv-{inv2.id}")
    assert "付款凭证缺少银行回单章" in row_html(body, f"settlement-{st.id}-pay-{pay.id}")
    assert "退回原因：" not in row_html(body, f"settlement-{st.id}-inv-{inv1.id}")
    assert st.filing_deadline.isoformat() in body and "共 4 条" in body
    # the enterprise's own page shows the reasons beside its rows too
    owner = db.session.execute(db.select(User).where(User.enterprise_id == st.enterprise_id)).scalars().first()
    ent_body = text(login(owner).get(f"/enterprise/settlements/{st.id}"))
    assert "该发票已作废，请换开" in ent_body


def test_supplier_return_without_a_reason_is_refused_in_chinese(w, login):
    st = settle(w)
    inv = st.invoices[0]
    r = login(w.sup_user).post(f"/supplier/settlements/{st.id}/return",
                               data={"other": "  \n", f"reason-inv-{inv.id}": " ", "reason-inv-999999": "别人的行"})
    assert r.status_code == 422
    body = text(r)
    assert f'id="settlement-{st.id}-return-error"' in body and "请至少列出一条退回原因" in body
    assert fresh(st).status == SetStatus.SUPPLIER_REVIEW


def test_supplier_return_keeps_what_was_typed_when_refused(w, login, monkeypatch):
    st = settle(w)
    inv = st.invoices[0]

    def refuse(*a, **k):
        raise settlement.Refused("测试：拒绝")

    monkeypatch.setattr(settlement, "_return", refuse)
    r = login(w.sup_user).post(f"/supplier/settlements/{st.id}/return",
                               data={"other": "第一条", f"reason-inv-{inv.id}": "发票金额不对",
                                     "reasons": [settlement.SUPPLIER_RETURN_REASONS[0]]})
    assert r.status_code == 422
    body = text(r)
    assert 'value="发票金额不对"' in body and ">第一条</textarea>" in body
    assert f'value="{settlement.SUPPLIER_RETURN_REASONS[0]}" checked' in body


# --------------------------------------------------------------------------- the city (SET-6, SLA-3)


def test_city_queue_shows_working_days_left_overdue_first(w, login):
    # rule: SLA-3, SET-6
    late = settle(w, "city_review")
    soon = settle(w, "city_review")
    waiting = settle(w, "verification")
    other_city = settle(w, "city_review", city=SZ)
    st = db.session.get(Settlement, late.id)
    st.due_on = timeutil.add_working_days(today() - dt.timedelta(days=30), 3)  # overdue
    db.session.commit()
    c = login(w.city_user)
    body = text(c.get("/city/settlements"))
    assert row_ids(body) == [late.id, soon.id]  # default status city_review; overdue first; own city only
    assert "超期" in cells(body, f"settlement-{late.id}-row")[7]
    days = timeutil.working_days_left(fresh(soon).due_on)
    assert f"剩 {days} 个工作日" in cells(body, f"settlement-{soon.id}-row")[7]
    assert f'name="ids" value="{late.id}"' in body
    everything = text(c.get("/city/settlements?status="))
    assert set(row_ids(everything)) == {late.id, soon.id, waiting.id}
    assert other_city.id not in row_ids(everything)
    assert f'name="ids" value="{waiting.id}"' not in everything  # only those at the city can be approved
    found = text(c.get("/city/settlements", query_string={"q": soon.enterprise.uscc}))
    assert row_ids(found) == [soon.id]
    by_cycle = text(c.get("/city/settlements", query_string={"cycle": str(w.cycle.id + 1000)}))
    assert row_ids(by_cycle) == [] and "没有符合条件的兑现申请" in by_cycle
    assert c.get(f"/city/settlements/{other_city.id}").status_code == 404


def test_city_home_panel_counts_waiting_and_overdue(w, login):
    late = settle(w, "city_review")
    settle(w, "city_review")
    db.session.get(Settlement, late.id).due_on = today() - dt.timedelta(days=1)
    db.session.commit()
    body = text(login(w.city_user).get("/city/"))
    assert re.search(r'id="panel-settlements-waiting">2<', body) and "其中超期 1 项" in body
    assert "兑现审核" in body


def test_city_detail_shows_days_left_checks_and_decisions(w, login):
    # rule: SET-6, SLA-3
    st = settle(w, "city_review")
    body = text(login(w.city_user).get(f"/city/settlements/{st.id}"))
    days = timeutil.working_days_left(st.due_on)
    assert f'id="settlement-{st.id}-due"' in body and f"剩 {days} 个工作日" in body
    assert f"{st.due_on:%Y-%m-%d}" in body
    assert "全部通过" in body and "开票方是本券供应商" in body and "收款方是本券供应商" in body
    for part in ("approve", "return", "reject"):
        assert f'id="settlement-{st.id}-{part}"' in body
    assert "该服务券将立即作废" in body  # the reject confirmation says the voucher becomes void
    for r in settlement.CITY_RETURN_REASONS:
        assert r in body
    assert f'name="reason-inv-{st.invoices[0].id}"' in body
    # the province's override shows in the timeline with its reason
    assert "现场核查" in body


def test_city_approves(w, login):
    # rule: SET-6
    st = settle(w, "city_review")
    r = login(w.city_user).post(f"/city/settlements/{st.id}/approve")
    assert r.status_code == 303
    st = fresh(st)
    assert st.status == SetStatus.APPROVED and st.decided_at is not None and st.due_on is None and st.bonus_fen == 0
    titles = [n.title for n in db.session.execute(db.select(Notice)).scalars()]
    assert "您的兑现申请已通过地市审核" in titles and "客户的兑现申请已通过地市审核" in titles
    body = text(login(w.city_user).get(f"/city/settlements/{st.id}"))
    assert "已通过" in body and f'id="settlement-{st.id}-approve"' not in body


def test_city_approval_records_the_bonus_and_every_page_shows_it(w, login):
    # rule: AMT-4
    e = make_enterprise(dcmm_certified=True, dcmm_file_id=1, dcmm_subsidy_received=False)
    st = settle(w, "city_review", enterprise=e)
    assert "贯标奖补" in text(login(w.city_user).get(f"/city/settlements/{st.id}"))
    r = login(w.city_user).post(f"/city/settlements/{st.id}/approve", follow_redirects=True)
    assert r.status_code == 200 and "含贯标奖补 ¥200,000.00" in text(r)
    assert fresh(st).bonus_fen == settlement.BONUS_FEN
    for c, url in ((login(w.city_user), f"/city/settlements/{st.id}"), (login(w.prov_user), f"/province/settlements/{st.id}"),
                   (login(w.sup_user), f"/supplier/settlements/{st.id}")):
        body = text(c.get(url))
        assert f'id="settlement-{st.id}-bonus"' in body and "¥200,000.00" in body and "¥350,000.00" in body


def test_city_approval_is_refused_while_a_check_fails(w, login):
    # rule: SET-2
    st = settle(w, "city_review")
    db.session.get(Settlement, st.id).payments[0].amount_fen = 150_000_00 - 1  # ¥149,999.99 against ¥150,000
    db.session.commit()
    c = login(w.city_user)
    body = text(c.get(f"/city/settlements/{st.id}"))
    assert f'id="settlement-{st.id}-not-passed"' in body and "低于服务券面值" in body
    r = c.post(f"/city/settlements/{st.id}/approve")
    assert r.status_code == 422 and "自动检查未通过" in text(r)
    assert fresh(st).status == SetStatus.CITY_REVIEW


def test_city_cannot_approve_before_the_settlement_reaches_it(w, login):
    st = settle(w, "verification")
    r = login(w.city_user).post(f"/city/settlements/{st.id}/approve")
    assert r.status_code == 409 and "当前状态下不能执行该操作" in text(r)
    assert fresh(st).status == SetStatus.VERIFICATION


def test_city_returns_with_reasons_and_refuses_a_return_without(w, login):
    # rule: SET-6, DL-2
    st = settle(w, "city_review")
    c = login(w.city_user)
    refused = c.post(f"/city/settlements/{st.id}/return", data={"other": ""})
    assert refused.status_code == 422 and "请至少列出一条退回原因" in text(refused)
    assert fresh(st).status == SetStatus.CITY_REVIEW
    inv = st.invoices[0]
    r = c.post(f"/city/settlements/{st.id}/return", data={
        "reasons": [settlement.CITY_RETURN_REASONS[1], "不在列表里的原因"], f"reason-inv-{inv.id}": "发票照片模糊"})
    assert r.status_code == 303
    st = fresh(st)
    assert st.status == SetStatus.RETURNED and st.returned_by == "city" and st.due_on is None
    assert st.return_reasons == [{"row": "", "text": settlement.CITY_RETURN_REASONS[1]},
                                 {"row": f"inv-{inv.id}", "text": "发票照片模糊"}]
    body = text(c.get(f"/city/settlements/{st.id}"))
    assert "地市经信部门退回的原因" in body and "发票照片模糊" in row_html(body, f"settlement-{st.id}-inv-{inv.id}")
    assert f'id="settlement-{st.id}-resubmit-by"' in body


def test_city_rejects_and_the_voucher_becomes_void(w, login):
    # rule: SET-6, DL-2
    st = settle(w, "city_review")
    c = login(w.city_user)
    refused = c.post(f"/city/settlements/{st.id}/reject", data={"reason": "  "})
    assert refused.status_code == 422 and "请填写驳回理由" in text(refused)
    assert f'id="settlement-{st.id}-reject-error"' in text(refused)
    assert fresh(st).status == SetStatus.CITY_REVIEW
    r = c.post(f"/city/settlements/{st.id}/reject", data={"reason": "付款凭证系伪造"})
    assert r.status_code == 303
    st = fresh(st)
    assert st.status == SetStatus.REJECTED and st.voucher.status == VoucherStatus.VOID
    assert "付款凭证系伪造" in st.voucher.end_reason
    body = text(c.get(f"/city/settlements/{st.id}"))
    assert "服务券已作废" in body and "已作废" in body and f'id="settlement-{st.id}-reject"' not in body
    assert db.session.execute(db.select(AuditEvent).where(AuditEvent.entity_type == "voucher",
                                                          AuditEvent.entity_id == st.voucher_id,
                                                          AuditEvent.action == "void")).scalar_one()


def test_city_bulk_approve_gives_a_result_per_item(w, login):
    # rule: SET-6
    a, b = settle(w, "city_review"), settle(w, "city_review")
    bad = settle(w, "city_review")
    db.session.get(Settlement, bad.id).invoices[0].total_fen = 1_00  # fails SET-2 now
    waiting = settle(w, "verification")
    other_city = settle(w, "city_review", city=SZ)
    db.session.commit()
    c = login(w.city_user)
    r = c.post("/city/settlements/bulk/approve",
               data={"ids": [a.id, bad.id, b.id, waiting.id, other_city.id, 999999]})
    assert r.status_code == 200
    body = text(r)
    results = dict(re.findall(r'id="bulk-result-(\d+)">([^<]*)<', body))
    assert results[str(a.id)].startswith("✓") and results[str(b.id)].startswith("✓")
    assert results[str(bad.id)].startswith("✗") and "自动检查未通过" in results[str(bad.id)]
    assert results[str(waiting.id)].startswith("✗")
    assert results[str(other_city.id)].startswith("✗") and "不存在或无权处理" in results[str(other_city.id)]
    assert results["999999"].startswith("✗ 所选记录") and "#999999" not in body
    assert results[str(other_city.id)].startswith("✗ 所选记录")
    statuses = {x.id: fresh(x).status for x in (a, b, bad, waiting, other_city)}
    assert statuses == {a.id: SetStatus.APPROVED, b.id: SetStatus.APPROVED, bad.id: SetStatus.CITY_REVIEW,
                        waiting.id: SetStatus.VERIFICATION, other_city.id: SetStatus.CITY_REVIEW}
    # htmx: the results block alone, with a toast
    c2 = login(w.city_user)
    hx = c2.post("/city/settlements/bulk/approve", data={"ids": [bad.id]}, headers={"HX-Request": "true"})
    assert hx.status_code == 200 and text(hx).lstrip().startswith('<div id="settlement-results">')
    assert "toast" in hx.headers.get("HX-Trigger", "")


def _sheet(body: bytes) -> list[tuple]:
    return list(load_workbook(io.BytesIO(body)).worksheets[0].iter_rows(values_only=True))


def test_city_export_has_the_lists_filters_and_exact_amounts(w, login):
    e = make_enterprise(dcmm_certified=True, dcmm_file_id=1)
    first = settle(w, "city_review")
    approved = settle(w, "approved", enterprise=e, fee_fen=123_456_78)  # a face value with cents
    settle(w, "city_review", city=SZ)
    c = login(w.city_user)
    r = c.get("/city/settlements/export.xlsx")  # the list's default: waiting for review
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    rows = _sheet(r.data)
    assert rows[0] == ("券号", "企业", "统一社会信用代码", "供应商", "面值（元）", "发票合计", "付款合计", "贯标奖补", "状态",
                       "首次提交时间", "转地市时间", "审核期限", "决定时间")
    assert len(rows) == 2 and rows[1][0] == display_code(first.voucher.code) and rows[1][8] == "地市审核中"
    everything = _sheet(c.get("/city/settlements/export.xlsx?status=").data)
    assert len(everything) == 3  # the city's own two, not Shenzhen's
    row = next(x for x in everything if x[0] == display_code(approved.voucher.code))
    assert row[1] == e.name and row[2] == e.uscc and row[3] == w.supplier.name
    assert [Decimal(str(x)) for x in row[4:8]] == [Decimal("123456.78")] * 3 + [Decimal("200000")]
    assert row[8] == "已通过"
    assert isinstance(row[9], dt.datetime) and isinstance(row[12], dt.datetime)
    wb = load_workbook(io.BytesIO(c.get("/city/settlements/export.xlsx?status=").data))
    assert wb.worksheets[0]["E2"].number_format == "#,##0.00"
    found = _sheet(c.get("/city/settlements/export.xlsx", query_string={"status": "", "q": e.name}).data)
    assert [x[0] for x in found[1:]] == [display_code(approved.voucher.code)]
    # the list links the export with its filters
    assert 'href="/city/settlements/export.xlsx?q=' in text(c.get("/city/settlements", query_string={"q": "x"}))


def test_a_large_city_export_becomes_a_job_with_the_same_rows(w, login, app):
    for _ in range(3):
        settle(w, "city_review")
    settle(w, "city_review", city=SZ)
    app.config["EXPORT_JOB_ROWS"] = 2
    c = login(w.city_user)
    asked = c.get("/city/settlements/export.xlsx")
    assert asked.status_code == 200 and "共 3 行" in text(asked) and "兑现申请导出" in text(asked)
    started = c.post("/city/settlements/export.xlsx")
    assert started.status_code == 303 and "/jobs/" in started.headers["Location"]
    job = db.session.execute(db.select(Job).order_by(Job.id.desc())).scalars().first()
    assert job.kind == "settlement_export" and job.params["city_code"] == GZ
    got = c.get(started.headers["Location"] + "/download")
    assert got.status_code == 200 and len(_sheet(got.data)) == 1 + 3


# --------------------------------------------------------------------------- the province (SET-5, issue item 10)


def test_province_list_defaults_to_the_override_queue(w, login):
    # rule: SET-5
    waiting = settle(w, "verification")
    waiting_sz = settle(w, "verification", city=SZ)
    at_city = settle(w, "city_review")
    c = login(w.prov_user)
    body = text(c.get("/province/settlements"))
    assert set(row_ids(body)) == {waiting.id, waiting_sz.id}
    assert "深圳" in cells(body, f"settlement-{waiting_sz.id}-row")[1]
    assert row_ids(text(c.get("/province/settlements", query_string={"city": SZ}))) == [waiting_sz.id]
    assert set(row_ids(text(c.get("/province/settlements?status=")))) == {waiting.id, waiting_sz.id, at_city.id}
    assert "兑现与核验" in body


def test_province_overrides_verification_with_a_reason(w, login):
    # rule: SET-5, SLA-3
    st = settle(w, "verification")
    c = login(w.prov_user)
    body = text(c.get(f"/province/settlements/{st.id}"))
    assert f'id="settlement-{st.id}-override"' in body and "将跳过用量核验直接转地市审核" in body
    refused = c.post(f"/province/settlements/{st.id}/override", data={"reason": " "})
    assert refused.status_code == 422 and "请填写核定理由" in text(refused)
    assert fresh(st).status == SetStatus.VERIFICATION
    r = c.post(f"/province/settlements/{st.id}/override", data={"reason": "现场核查确认已使用"})
    assert r.status_code == 303
    st = fresh(st)
    assert st.status == SetStatus.CITY_REVIEW and st.verified_how == "override"
    assert st.due_on == timeutil.add_working_days(today(), w.cycle.settlement_review_days or settlement.DEFAULT_REVIEW_DAYS)
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.entity_type == "settlement",
                                                        AuditEvent.action == "override")).scalar_one()
    assert ev.reason == "现场核查确认已使用" and ev.entity_id == st.id
    assert any("待审核" in n.title for n in db.session.execute(db.select(Notice)).scalars())
    after = text(c.get(f"/province/settlements/{st.id}"))
    assert f'id="settlement-{st.id}-override"' not in after and "现场核查确认已使用" in after  # only while waiting
    again = c.post(f"/province/settlements/{st.id}/override", data={"reason": "再来一次"})
    assert again.status_code == 409


def test_province_overview_per_city(w, login):
    settle(w, "supplier_review")
    settle(w, "verification")
    settle(w, "city_review")
    approved = settle(w, "approved", enterprise=make_enterprise(dcmm_certified=True, dcmm_file_id=1))
    returned = settle(w, "supplier_review")
    settlement.supplier_return(db.session.get(Settlement, returned.id), w.sup_user, ["x"], "发票有误", {})
    settle(w, "draft")
    rejected = settle(w, "city_review", city=SZ)
    settlement.reject(db.session.get(Settlement, rejected.id), w.sz_city_user, "伪造")
    make_voucher(make_enterprise(city_code=SZ), w.supplier, w.cycle, users={"supplier": w.sup_user})  # nothing filed
    db.session.commit()
    body = text(login(w.prov_user).get("/province/settlements/overview"))
    face = "¥150,000.00"
    # 地市, 已提交, 已确认, 等待核验, 地市审核中, 已通过, 已退回, 作废, 通过面值, 贯标奖补
    assert cells(body, f"overview-{GZ}-row") == ["广州市", "5", "3", "1", "1", "1", "1", "0", face, "¥200,000.00"]
    assert cells(body, f"overview-{SZ}-row") == ["深圳市", "1", "1", "0", "0", "0", "0", "1", "¥0.00", "¥0.00"]
    assert cells(body, "overview-total-row") == ["全省合计", "6", "4", "1", "1", "1", "1", "1", face, "¥200,000.00"]
    assert cells(body, "overview-440400-row")[1:] == ["0"] * 7 + ["¥0.00", "¥0.00"]
    assert approved.voucher.face_value_fen == 150_000_00


# --------------------------------------------------------------------------- pages stay fast (no N+1)


@pytest.mark.parametrize("name", ["city queue", "supplier list", "province list", "province overview"])
def test_list_pages_run_the_same_queries_for_one_row_or_many(w, login, count_queries, name):
    role_user, url, stage = {
        "city queue": (w.city_user, "/city/settlements", "city_review"),
        "supplier list": (w.sup_user, "/supplier/settlements", "supplier_review"),
        "province list": (w.prov_user, "/province/settlements", "verification"),
        "province overview": (w.prov_user, "/province/settlements/overview", "approved"),
    }[name]
    c = login(role_user)
    assert c.get(url).status_code == 200
    counts, shown = [], []
    for n in (1, 3):
        for _ in range(n):
            # distinct enterprises and (outside the supplier's own list) suppliers: a lazy load per row would show
            settle(w, stage, supplier=None if name == "supplier list" else make_supplier())
        with count_queries() as q:
            r = c.get(url)
        assert r.status_code == 200
        counts.append(q.count)
        shown.append(len(row_ids(text(r))))
    assert counts[0] == counts[1], (name, counts)
    if name != "province overview":
        assert shown == [1, 4], shown


def test_menu_entries_in_english(w, login):
    for user, zh, en in ((w.sup_user, "客户兑现确认", "Customer settlements"), (w.city_user, "兑现审核", "Settlement review"),
                         (w.prov_user, "兑现与核验", "Settlements and verification")):
        c = login(user)
        assert zh in text(c.get("/notices"))
        c.post("/lang", data={"lang": "en"})
        assert en in text(c.get("/notices"))
