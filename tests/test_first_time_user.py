"""What a first-time user meets: error summaries, no dead ends, resubmissions that say what changed,
drafts created by their first save and deletable.

Rules: APP-1 (the application form), ELIG-9 (the checks before starting), APP-4 and REG-5 (returns and
resubmissions), SLA-4 (the working-day calendar), SUP-1 (the audit trail).
"""
from __future__ import annotations

import io
import re

from blueprints.core import application as flow
from blueprints.core import registration
from models import AppStatus, Application, AuditEvent, RegStatus, Role, db
from tests.factories import (
    contract_pdf_bytes, enterprise_form, make_application, make_enterprise, make_settlement, make_submitted, make_user, make_world,
)

HX = {"HX-Request": "true"}
MP = "multipart/form-data"


def app_form(w, **over) -> dict:
    data = {
        "contract_no": "HT-2026-001", "contract_signed_on": "2025-06-01", "contract_fee": "150000",
        "catalog_item_id": str(w.item.id), "supplier_id": str(w.supplier.id), "place_in_guangdong": "y",
        "single_fund_declared": "y", "nonce": "nonce-1", "do": "save",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def count(model) -> int:
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def events(entity: str, ident: int, action: str | None = None) -> list[AuditEvent]:
    q = db.select(AuditEvent).where(AuditEvent.entity_type == entity, AuditEvent.entity_id == ident)
    if action:
        q = q.where(AuditEvent.action == action)
    return list(db.session.execute(q.order_by(AuditEvent.id)).scalars())


def summary_links(html: str) -> list[str]:
    box = re.search(r'<div class="error-summary"[^>]*>(.*?)</div>', html, re.S)
    assert box, "no error summary"
    return re.findall(r'<a href="#([^"]+)">', box.group(1))


# --------------------------------------------------------------------------- error summary


def test_signup_errors_are_summarised_at_the_top_with_links_to_their_fields(app):
    # rule: ROLE-1 -- the GOV.UK pattern: each problem a link to its field, focusable, same words beside the field
    c = app.test_client()
    r = c.post("/signup", data={"kind": "enterprise", "username": "", "display_name": "", "phone": "123",
                                "password": "short", "confirm": "other"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    summary = re.search(r'<div class="error-summary"[^>]*>', html).group(0)
    assert 'tabindex="-1"' in summary and "data-error-summary" in summary and 'role="alert"' in summary
    links = summary_links(html)
    assert "username" in links and "password" in links
    for target in links:  # every link names a field on the page, with its message beside it
        assert f'id="{target}"' in html
        assert f'id="errors-{target}"' in html
    message = re.search(r'id="err-username">([^<]+)<', html).group(1)
    assert message in re.search(r'<div class="error-summary".*?</div>', html, re.S).group(0)
    assert html.index('class="error-summary"') < html.index('id="username"')  # at the top


def test_a_form_without_errors_has_no_summary(app):
    assert "error-summary" not in app.test_client().get("/signup").get_data(as_text=True)


def test_application_form_errors_are_summarised_and_the_checks_say_they_show_saved_values(app, login):
    # rule: APP-1, ELIG-9
    w = make_world()
    db.session.commit()
    c = login(w.ent_user)
    r = c.post("/enterprise/applications/new/form", data=app_form(w, contract_signed_on="not-a-date",
                                                                   contract_fee="abc"))
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    links = summary_links(html)
    assert "contract_signed_on" in links and "contract_fee" in links
    page = c.get("/enterprise/applications/new/form").get_data(as_text=True)
    assert 'id="application-eligibility-note"' in page and "第一次保存后" in page
    a = make_application(w.enterprise, w.supplier, w.cycle, users=w.users)
    db.session.commit()
    page = c.get(f"/enterprise/applications/{a.id}/edit").get_data(as_text=True)
    assert "最近一次保存的内容" in page and "尚未保存" in page.split('id="application-eligibility-note"')[1][:200]


def test_complaint_form_uses_the_same_summary(app):
    # rule: SUP-5
    html = app.test_client().post("/public/messages/new", data={}).get_data(as_text=True)
    assert 'id="complaint-errors"' in html and "data-error-summary" in html
    links = summary_links(html)
    assert links and all(f'id="{target}"' in html for target in links)


# --------------------------------------------------------------------------- no dead ends


def test_each_failing_check_links_to_where_it_is_put_right(app, login):
    # rule: ELIG-9, ELIG-3
    w = make_world()
    w.enterprise.revenue_fen = 900_000_000  # 900万元
    db.session.commit()
    html = login(w.ent_user).get("/enterprise/applications/new").get_data(as_text=True)
    bad = re.search(r'<li class="check-bad" data-rule="ELIG-3">(.*?)</li>', html, re.S).group(1)
    assert 'href="/enterprise/profile"' in bad and "主营业务收入" in bad
    assert "application-start-button" not in html and 'id="application-fix-next"' in html
    ok = re.search(r'<li class="check-ok" data-rule="ELIG-2">(.*?)</li>', html, re.S).group(1)
    assert "fix-link" not in ok


def test_an_unregistered_enterprise_is_offered_its_registration_not_an_application(app, login):
    # rule: ELIG-1, REG-1
    w = make_world()
    w.enterprise.status = RegStatus.DRAFT
    db.session.commit()
    home = login(w.ent_user).get("/enterprise/").get_data(as_text=True)
    assert 'id="panel-applications-apply"' not in home and 'id="panel-applications-register"' in home
    reg = re.search(r'<section class="card" id="panel-registration">(.*?)</section>', home, re.S).group(1)
    assert 'class="btn btn-primary" href="/enterprise/profile/edit"' in reg
    w.enterprise.status = RegStatus.APPROVED
    db.session.commit()
    home = login(w.ent_user).get("/enterprise/").get_data(as_text=True)
    assert 'id="panel-applications-apply"' in home


def test_the_city_sees_evidence_before_its_decision_and_errors_beside_the_action(app, login):
    # rule: APP-4
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", users=w.users)
    db.session.commit()
    c = login(w.city_user)
    page = c.get(f"/city/applications/{a.id}").get_data(as_text=True)
    assert page.index(f'id="application-{a.id}-eligibility"') < page.index(f'id="application-{a.id}-approve"')
    assert page.index(f'id="application-{a.id}-contract"') < page.index(f'id="application-{a.id}-approve"')
    # A return without reasons: refused beside the return form, at the record's own address.
    r = c.post(f"/city/applications/{a.id}/return", data={})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    ret = re.search(rf'<form[^>]*id="application-{a.id}-return">(.*?)</form>', html, re.S).group(1)
    assert f'id="application-{a.id}-return-error"' in ret
    assert f'data-replace-url="/city/applications/{a.id}"' in html
    # A reject without a reason: beside the reject form, not the return form.
    html = c.post(f"/city/applications/{a.id}/reject", data={}).get_data(as_text=True)
    rej = re.search(rf'<form[^>]*id="application-{a.id}-reject">(.*?)</form>', html, re.S).group(1)
    assert "请填写驳回理由" in rej and f'id="application-{a.id}-return-error"' not in html
    # htmx: the address is replaced by the record's.
    r = c.post(f"/city/applications/{a.id}/return", data={}, headers=HX)
    assert r.headers["HX-Replace-Url"] == f"/city/applications/{a.id}"
    # Opening a decision's address (a reload) leads to the record, never a 405.
    for verb in ("approve", "return", "reject"):
        r = c.get(f"/city/applications/{a.id}/{verb}")
        assert r.status_code == 303 and r.headers["Location"].endswith(f"/city/applications/{a.id}")
    db.session.expire_all()
    assert a.status == AppStatus.CITY_REVIEW


def test_registration_decision_errors_sit_beside_their_form_and_a_reload_shows_the_record(app, login):
    # rule: REG-5, REG-6
    e, _ = make_submitted("enterprise")
    officer = make_user(Role.CITY, city_code="440100")
    db.session.commit()
    c = login(officer)
    r = c.post(f"/city/registrations/enterprise/{e.id}/decide", data={"action": "reject", "reason": ""})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    rej = re.search(r'<form[^>]*id="reject-form"[^>]*>(.*?)</form>', html, re.S).group(1)
    assert 'id="decision-error"' in rej
    assert f'data-replace-url="/city/registrations/enterprise/{e.id}"' in html
    assert html.index(f'id="enterprise-{e.id}-facts"') < html.index('id="approve-form"')  # evidence first
    r = c.get(f"/city/registrations/enterprise/{e.id}/decide")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/city/registrations/enterprise/{e.id}")


def test_a_settlement_decision_address_opened_by_get_leads_to_the_record(app, login):
    # rule: SET-6
    st = make_settlement(stage="city_review")
    officer = make_user(Role.CITY, city_code=st.city_code)
    db.session.commit()
    c = login(officer)
    for verb in ("approve", "return", "reject"):
        r = c.get(f"/city/settlements/{st.id}/{verb}")
        assert r.status_code == 303 and r.headers["Location"].endswith(f"/city/settlements/{st.id}")
    r = c.post(f"/city/settlements/{st.id}/reject", data={"reason": ""})
    assert r.status_code == 422 and f'data-replace-url="/city/settlements/{st.id}"' in r.get_data(as_text=True)


# --------------------------------------------------------------------------- resubmissions


def test_a_resubmitted_application_reaches_the_reviewers_with_what_changed(app, login):
    # rule: APP-4, SUP-1
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", users=w.users,
                         contract_no="HT-OLD-1", fee_fen=150_000_00)
    flow.return_(a, w.city_user, ["合同编号或签订日期与合同不一致"])
    flow.save_draft(a, flow.DraftData(
        contract_no="HT-NEW-2", contract_signed_on=a.contract_signed_on, contract_fee_fen=120_000_00,
        catalog_item_id=a.catalog_item_id, supplier_id=a.supplier_id, place_in_guangdong=True,
        single_fund_declared=True), None, w.ent_user)
    flow.submit(a, w.ent_user)
    db.session.commit()
    first, again = events("application", a.id, "submit")
    assert "changes" not in first.data and first.data["snapshot"]["contract_no"] == "HT-OLD-1"
    changed = {c["label"]: (c["before"], c["after"]) for c in again.data["changes"]}
    assert changed == {"合同编号": ("HT-OLD-1", "HT-NEW-2"), "上云上平台费用": ("¥150,000.00", "¥120,000.00")}
    page = login(w.sup_user).get(f"/supplier/applications/{a.id}").get_data(as_text=True)
    box = re.search(rf'id="application-{a.id}-resubmitted">(.*?)</section>', page, re.S).group(1)
    assert "重新提交" in box and "HT-OLD-1" in box and "HT-NEW-2" in box and "¥120,000.00" in box
    assert "合同签订日期" not in box  # only what changed
    assert "重新提交" in page.split('class="timeline"')[1]


def test_a_resubmitted_registration_reaches_the_city_with_what_changed(app, login):
    # rule: REG-5, SUP-1
    e, ent_user = make_submitted("enterprise")
    officer = make_user(Role.CITY, city_code="440100")
    db.session.commit()
    c = login(officer)
    c.post(f"/city/registrations/enterprise/{e.id}/decide",
           data={"action": "return", "reason_field": ["revenue"], "reason_text": ["收入与报表不符"]})
    db.session.expire_all()
    old_revenue = registration.display("revenue_fen", e.revenue_fen)
    data = enterprise_form(name=e.name, uscc=e.uscc, revenue="3000", revenue_unit="wan")
    data["licence"] = (io.BytesIO(contract_pdf_bytes("清晰版")), "营业执照-清晰.pdf")
    assert login(ent_user).post("/enterprise/profile/edit", data=data, content_type=MP).status_code == 303
    db.session.expire_all()
    assert e.status == RegStatus.CITY_REVIEW
    changed = {ch["label"]: (ch["before"], ch["after"]) for ch in events("enterprise", e.id, "submit")[-1].data["changes"]}
    assert changed["上年度主营业务收入"] == (old_revenue, "¥30,000,000.00") and old_revenue != "¥30,000,000.00"
    assert "营业执照-清晰.pdf" in changed["营业执照"][1]
    assert "名称" not in changed
    page = c.get(f"/city/registrations/enterprise/{e.id}").get_data(as_text=True)
    box = re.search(r'id="record-resubmitted">(.*?)</div>\s*</div>', page, re.S).group(1)
    assert "重新提交" in box and "¥30,000,000.00" in box and old_revenue in box
    timeline = page.split('id="record-timeline"')[1]
    assert "重新提交" in timeline and "提交审核" in timeline  # the first submission, then the resubmission


# --------------------------------------------------------------------------- drafts


def test_opening_the_form_creates_nothing_and_the_first_save_creates_the_draft(app, login):
    # rule: APP-1, SUP-1
    w = make_world()
    db.session.commit()
    c = login(w.ent_user)
    audit_before = count(AuditEvent)
    assert c.get("/enterprise/applications/new/form").status_code == 200
    assert c.get("/enterprise/applications/new/preview?contract_fee=100000&catalog_item_id=%d" % w.item.id,
                 headers=HX).status_code == 200
    assert c.get("/enterprise/applications/new/suppliers?supplier_q=" + w.supplier.name[:4],
                 headers=HX).status_code == 200
    assert count(Application) == 0 and count(AuditEvent) == audit_before
    r = c.post("/enterprise/applications/new/form", data=app_form(w))
    assert r.status_code == 303
    a = db.session.execute(db.select(Application)).scalar_one()
    assert r.headers["Location"].endswith(f"/enterprise/applications/{a.id}/edit")
    assert a.status == AppStatus.DRAFT and a.contract_no == "HT-2026-001"
    assert [ev.action for ev in events("application", a.id)][0] == "create"


def test_an_unwanted_draft_can_be_deleted_and_the_trail_keeps_it(app, login):
    # rule: APP-7, SUP-1
    w = make_world()
    draft = make_application(w.enterprise, w.supplier, w.cycle, users=w.users)
    sent = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", users=w.users)
    stranger = make_enterprise()
    theirs = make_application(stranger, w.supplier, w.cycle,
                              users={"enterprise": make_user(Role.ENTERPRISE, enterprise_id=stranger.id)})
    db.session.commit()
    draft_id, sent_id, theirs_id = draft.id, sent.id, theirs.id
    c = login(w.ent_user)
    edit = c.get(f"/enterprise/applications/{draft_id}/edit").get_data(as_text=True)
    form = re.search(rf'<form[^>]*id="application-{draft_id}-delete"[^>]*>', edit, re.S).group(0)
    assert "data-confirm" in form  # asked first
    r = c.post(f"/enterprise/applications/{draft_id}/delete")
    assert r.status_code == 303 and r.headers["Location"].endswith("/enterprise/applications")
    db.session.expire_all()
    assert db.session.get(Application, draft_id) is None
    ev = events("application", draft_id, "discard")
    assert len(ev) == 1 and ev[0].actor_id == w.ent_user.id and ev[0].from_state == "draft"
    # A submitted application is withdrawn, not deleted; another enterprise's draft is not found.
    assert c.post(f"/enterprise/applications/{sent_id}/delete").status_code == 303
    assert c.post(f"/enterprise/applications/{theirs_id}/delete").status_code == 404
    db.session.expire_all()
    assert db.session.get(Application, sent_id) is not None and db.session.get(Application, theirs_id) is not None
    assert f'id="application-{sent_id}-delete"' not in c.get(f"/enterprise/applications/{sent_id}").get_data(as_text=True)


def test_a_first_save_sent_back_moves_the_address_to_the_new_draft(app, login):
    # rule: APP-1, APP-2 -- a reload must not send the blank form again (a second draft)
    w = make_world()
    db.session.commit()
    c = login(w.ent_user)
    r = c.post("/enterprise/applications/new/form", data=app_form(w, do="submit"))  # no contract file yet
    assert r.status_code == 422
    a = db.session.execute(db.select(Application)).scalar_one()
    assert a.status == AppStatus.DRAFT
    assert f'data-replace-url="/enterprise/applications/{a.id}/edit"' in r.get_data(as_text=True)
