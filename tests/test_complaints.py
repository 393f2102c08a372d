# rule: SUP-5
"""Public messages and complaints (SUP-5): a visitor leaves one behind a human check and gets a tracking number
shown once; the province (or the city it forwards the message to) answers within a working-day deadline shown
in its queue; the sender reads the answer by the number, never anyone's contact."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
import time_machine

from blueprints.core import complaints as core
from blueprints.core.timeutil import add_working_days, now, today
from models import AuditEvent, Complaint, Notice, RateEvent, Role, StoredFile, db
from tests.factories import contract_pdf_bytes, make_supplier, make_user

TEXT = "该供应商收取服务费后未按合同提供云服务，多次联系无果，请核查处理。"
PHONE = "13812345678"
GZ, SZ = "440100", "440300"
QUESTION_RE = re.compile(r'id="complaint-check-question">(\d+) (加|减) (\d+) 等于几？<')
TOKEN_RE = re.compile(r'name="check_token" value="([^"]+)"')


def _check(html: str) -> dict:
    """The human check as a person answers it: read the question on the page, do the sum."""
    a, op, b = QUESTION_RE.search(html).groups()
    answer = int(a) + int(b) if op == "加" else int(a) - int(b)
    return {"check_token": TOKEN_RE.search(html).group(1), "check_answer": str(answer)}


def _form(client, **over) -> dict:
    html = client.get("/public/messages/new").get_data(as_text=True)
    data = {"category": "complaint", "text": TEXT, "contact_name": "陈先生", "contact": PHONE, "website": "",
            **_check(html)}
    data.update(over)
    return data


def _leave(client, **over) -> str:
    """Leave a message; its tracking number."""
    r = client.post("/public/messages/new", data=_form(client, **over), content_type="multipart/form-data")
    assert r.status_code == 303, r.get_data(as_text=True)
    return re.search(r"tracking_no=(LY\w+)", r.headers["Location"]).group(1)


def _complaint(number: str) -> Complaint:
    db.session.expire_all()
    return db.session.execute(db.select(Complaint).where(Complaint.tracking_no == number)).scalar_one()


def _count() -> int:
    return db.session.execute(db.select(db.func.count(Complaint.id))).scalar_one()


# --------------------------------------------------------------------------- leaving a message


def test_a_visitor_leaves_a_complaint_and_gets_a_tracking_number_shown_once(app, client):
    # rule: SUP-5, DOC-3
    supplier = make_supplier()
    db.session.commit()
    html = client.get("/public/messages/new").get_data(as_text=True)
    assert supplier.name in html and "验证问题" in html and 'name="website"' in html
    data = _form(client, supplier_id=str(supplier.id),
                 files=[(io.BytesIO(contract_pdf_bytes("截图")), "聊天记录.pdf")])
    r = client.post("/public/messages/new", data=data, content_type="multipart/form-data")
    assert r.status_code == 303
    number = re.search(r"tracking_no=(LY\w+)", r.headers["Location"]).group(1)
    assert core.TRACKING_RE.match(number)
    c = _complaint(number)
    assert (c.category, c.supplier_id, c.contact, c.status) == ("complaint", supplier.id, PHONE, "open")
    assert c.due_on == add_working_days(today(), 10)
    f = db.session.get(StoredFile, c.file_ids[0])
    assert (f.owner_type, f.owner_id, f.kind) == ("complaint", c.id, "complaint_material")
    assert db.session.execute(db.select(AuditEvent.action).where(
        AuditEvent.entity_type == "complaint", AuditEvent.entity_id == c.id)).scalars().all() == ["complaint_submit"]

    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert 'id="complaint-created"' in page and "请记下受理编号，凭编号查询答复" in page
    assert number in page and f"{c.due_on:%Y-%m-%d}" in page
    assert PHONE not in page and TEXT not in page
    again = client.get(r.headers["Location"]).get_data(as_text=True)  # shown once: the look-up stays
    assert 'id="complaint-created"' not in again and number in again and "正在办理" in again


def test_contact_and_supplier_are_optional(app, client):
    # rule: SUP-5
    number = _leave(client, category="suggestion", contact="", contact_name="", text="建议平台增加办理进度的短信提醒功能。")
    c = _complaint(number)
    assert (c.contact, c.supplier_id, c.category) == ("", None, "suggestion")
    number = _leave(client, category="consult", contact="someone@example.com", text="请问服务券可以跨年度使用吗？谢谢。")
    assert _complaint(number).contact == "someone@example.com"


def test_a_new_message_notifies_each_active_province_account_once(app, client, login):
    # rule: SUP-5 -- the province answers or forwards every message: each account acting for it hears of it once
    officers = [make_user(Role.PROVINCE), make_user(Role.PROVINCE)]
    operator = make_user(Role.OPERATOR)  # no city: acts for the province
    others = [make_user(Role.PROVINCE, is_active=False), make_user(Role.OPERATOR, city_code=GZ),
              make_user(Role.CITY, city_code=GZ), make_user(Role.EXPERT), make_user(Role.ENTERPRISE),
              make_user(Role.SUPPLIER)]
    db.session.commit()
    number = _leave(client, category="report")
    c = _complaint(number)
    notes = db.session.execute(db.select(Notice).order_by(Notice.user_id)).scalars().all()
    assert [n.user_id for n in notes] == sorted(u.id for u in [*officers, operator])  # one each, nobody else
    for n in notes:
        assert n.title == "收到新的公众留言，请按期答复或转交地市" and n.read_at is None
        assert number in n.body and "举报" in n.body and f"答复期限 {c.due_on:%Y-%m-%d}" in n.body
        assert n.link == f"/province/complaints/{c.id}"
        assert PHONE not in n.body and TEXT not in n.body  # the notice names the message; its page shows it
    r = login(officers[0]).get(notes[0].link)
    assert r.status_code == 200 and number in r.get_data(as_text=True)

    second = _complaint(_leave(client, category="consult", text="请问服务券可以跨年度使用吗？谢谢。"))
    per_user = db.session.execute(db.select(Notice.user_id, db.func.count()).where(
        Notice.link == f"/province/complaints/{second.id}").group_by(Notice.user_id)).all()
    assert sorted(per_user) == sorted((u.id, 1) for u in [*officers, operator])
    assert not db.session.execute(db.select(Notice).where(Notice.user_id.in_([u.id for u in others]))).first()


def test_a_refused_message_notifies_nobody(app, client):
    # rule: SUP-5 -- nothing is saved, so nobody is told
    make_user(Role.PROVINCE)
    db.session.commit()
    r = client.post("/public/messages/new", data=_form(client, text="太短"), content_type="multipart/form-data")
    assert r.status_code == 422
    assert db.session.execute(db.select(db.func.count(Notice.id))).scalar_one() == 0


def _refused(r, typed=TEXT):
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="complaint-errors"' in html  # the summary at the top
    assert typed in html  # everything typed is kept
    return html


def test_a_wrong_sum_is_refused_nothing_saved_input_kept_and_a_new_question_asked(app, client):
    # rule: SUP-5
    data = _form(client)
    data["check_answer"] = str(int(data["check_answer"]) + 1)
    html = _refused(client.post("/public/messages/new", data=data, content_type="multipart/form-data"))
    assert "验证问题回答不正确" in html and 'id="err-complaint-check"' in html
    assert PHONE in html and "陈先生" in html
    assert TOKEN_RE.search(html).group(1) != data["check_token"]
    assert _count() == 0


def test_an_empty_form_names_every_missing_field_at_once(app, client):
    # rule: SUP-5 -- a visitor who sends the blank form learns of the text and the category with the sum
    data = _form(client, category="", text="", check_answer="")
    html = _refused(client.post("/public/messages/new", data=data, content_type="multipart/form-data"), typed="")
    assert 'id="err-complaint-check"' in html
    assert 'id="err-complaint-category"' in html and 'id="err-complaint-text"' in html
    assert _count() == 0


def test_the_errors_of_the_message_form_are_in_english_on_the_english_page(app, client):
    # rule: SUP-5
    data = _form(client, category="", text="", check_answer="")
    client.post("/lang", data={"lang": "en"})
    r = client.post("/public/messages/new", data=data, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "Answer the question with a number" in html and "Choose the kind of message" in html
    assert "Write your message (at least 10 characters)" in html
    assert "请用数字回答验证问题" not in html and "请选择留言类别" not in html


def test_a_filled_honeypot_is_refused(app, client):
    # rule: SUP-5
    data = _form(client, website="http://spam.example")
    html = _refused(client.post("/public/messages/new", data=data, content_type="multipart/form-data"))
    assert "未能通过验证" in html and "spam.example" not in html
    assert _count() == 0


def test_an_expired_check_is_refused(app, client):
    # rule: SUP-5 -- the signed question lasts 30 minutes
    data = _form(client)
    with time_machine.travel(now() + dt.timedelta(minutes=31), tick=False):
        html = _refused(client.post("/public/messages/new", data=data, content_type="multipart/form-data"))
    assert "验证问题已过期" in html
    assert _count() == 0
    with time_machine.travel(now() + dt.timedelta(minutes=29), tick=False):  # within the time it is fine
        r = client.post("/public/messages/new", data=_form(client), content_type="multipart/form-data")
    assert r.status_code == 303


def test_a_forged_check_is_refused(app, client):
    # rule: SUP-5 -- a token signed with another key is no question of ours
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("another-key", salt="complaint-human-check").dumps([1, "+", 1])
    _refused(client.post("/public/messages/new", data=_form(client, check_token=forged, check_answer="2"),
                         content_type="multipart/form-data"))
    assert _count() == 0


def test_field_errors_keep_the_answered_check_and_everything_typed(app, client):
    # rule: SUP-5
    data = _form(client, text="太短了", contact="not-a-phone", category="")
    r = client.post("/public/messages/new", data=data, content_type="multipart/form-data")
    html = _refused(r, typed="太短了")
    assert "至少 10 个字" in html and "有效的手机号" in html and "请选择留言类别" in html
    assert "not-a-phone" in html
    assert TOKEN_RE.search(html).group(1) == data["check_token"]  # answered: not asked again
    assert f'name="check_answer" value="{data["check_answer"]}"' in html
    assert _count() == 0
    assert db.session.execute(db.select(db.func.count(RateEvent.id))).scalar_one() == 0  # typos are not counted


def test_a_bad_file_is_refused_next_to_its_field_and_nothing_is_saved(app, client):
    # rule: SUP-5, DOC-3
    data = _form(client, files=[(io.BytesIO(contract_pdf_bytes()), "good.pdf"),
                                (io.BytesIO(b"MZ\x90\x00 not a pdf"), "virus.pdf")])
    html = _refused(client.post("/public/messages/new", data=data, content_type="multipart/form-data"))
    assert 'id="err-complaint-files"' in html and "virus.pdf" in html
    assert _count() == 0
    assert db.session.execute(db.select(db.func.count(StoredFile.id))).scalar_one() == 0


def test_an_unknown_supplier_is_refused(app, client):
    # rule: SUP-5 -- only suppliers in the directory
    draft = make_supplier(status="draft")
    db.session.commit()
    html = _refused(client.post("/public/messages/new", data=_form(client, supplier_id=str(draft.id)),
                                content_type="multipart/form-data"))
    assert "所选供应商不在名录中" in html
    assert _count() == 0


def test_messages_and_failed_checks_are_limited_per_address(app, client):
    # rule: SUP-5
    app.config["COMPLAINT_LIMIT_PER_ADDRESS"] = 3
    _leave(client)
    _leave(client)
    wrong = _form(client, check_answer="-1")
    assert client.post("/public/messages/new", data=wrong, content_type="multipart/form-data").status_code == 422
    r = client.post("/public/messages/new", data=_form(client), content_type="multipart/form-data")
    assert r.status_code == 429 and "提交过于频繁" in r.get_data(as_text=True) and TEXT in r.get_data(as_text=True)
    assert _count() == 2
    other = app.test_client()  # another address is not held back
    r = other.post("/public/messages/new", data=_form(other), content_type="multipart/form-data",
                   environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert r.status_code == 303


def test_posts_with_files_count_against_the_address_before_the_files_are_checked(app, client, monkeypatch):
    # rule: SUP-5 -- checking files (parsing PDFs) is costly: every POST carrying files is counted first, so
    # a burst of bad files beside a field mistake is refused at the limit without its files being opened
    from blueprints.public import complaints as view

    app.config["COMPLAINT_LIMIT_PER_ADDRESS"] = 2
    checked = []
    real = view.upload_problem
    monkeypatch.setattr(view, "upload_problem", lambda f: checked.append(f.filename) or real(f))

    def post():
        files = [(io.BytesIO(b"not a pdf at all"), f"bad{i}.pdf") for i in range(3)]
        return client.post("/public/messages/new", data=_form(client, text="太短", files=files),
                           content_type="multipart/form-data")

    assert [post().status_code for _ in range(2)] == [422, 422]
    assert len(checked) == 6
    r = post()
    assert r.status_code == 429 and "提交过于频繁" in r.get_data(as_text=True)
    assert len(checked) == 6  # the refused POST's files were never opened
    assert _count() == 0 and db.session.execute(db.select(db.func.count(RateEvent.id))).scalar_one() == 2
    # a mistake in the fields alone, with no file, is still not counted: a person correcting a typo
    app.config["COMPLAINT_LIMIT_PER_ADDRESS"] = 3
    r = client.post("/public/messages/new", data=_form(client, text="太短"), content_type="multipart/form-data")
    assert r.status_code == 422 and db.session.execute(db.select(db.func.count(RateEvent.id))).scalar_one() == 2


# --------------------------------------------------------------------------- look-up


def test_the_lookup_shows_the_state_then_the_answer_never_the_contact(app, client, login):
    # rule: SUP-5
    supplier = make_supplier()
    province = make_user(Role.PROVINCE)
    db.session.commit()
    number = _leave(client, supplier_id=str(supplier.id))
    reader = app.test_client()  # anyone holding the number
    html = reader.get(f"/public/messages?tracking_no={number.lower()[:6]}-{number[6:]}").get_data(as_text=True)
    assert number in html and "办理中" in html and "投诉" in html and "正在办理" in html
    assert PHONE not in html and "陈先生" not in html and TEXT not in html

    p = login(province)
    c = _complaint(number)
    r = p.post(f"/province/complaints/{c.id}", data={"action": "answer", "answer": "经核查，投诉属实，已责令整改。"})
    assert r.status_code == 422 and "是否成立" in r.get_data(as_text=True)  # a complaint about a supplier
    assert "经核查，投诉属实，已责令整改。" in r.get_data(as_text=True)
    r = p.post(f"/province/complaints/{c.id}", data={"action": "answer", "answer": "经核查，投诉属实，已责令整改。",
                                                      "upheld": "1"})
    assert r.status_code == 303
    html = reader.get(f"/public/messages?tracking_no={number}").get_data(as_text=True)
    assert 'id="complaint-answer"' in html and "经核查，投诉属实，已责令整改。" in html
    assert "投诉成立" in html and "广东省工业和信息化厅" in html and "已答复" in html
    assert PHONE not in html and "陈先生" not in html
    c = _complaint(number)
    assert (c.status, c.upheld, c.answered_by) == ("answered", True, province.id)


def test_an_unknown_number_is_a_404_with_a_message(app, client):
    # rule: SUP-5
    for typed in ("LY2345678923", "nonsense", "YY2345678923"):
        r = client.get(f"/public/messages?tracking_no={typed}")
        assert r.status_code == 404 and "未找到受理编号" in r.get_data(as_text=True)
    assert client.get("/public/messages").status_code == 200


def test_lookups_are_limited_per_address(app, client):
    # rule: SUP-5
    app.config["VERIFY_LIMIT_PER_ADDRESS"] = 2
    codes = [client.get("/public/messages?tracking_no=LY2345678923").status_code for _ in range(3)]
    assert codes == [404, 404, 429]


def test_a_message_without_a_verdict_is_answered_without_one(app, client, login):
    # rule: SUP-5 -- only a complaint or report about a supplier is found upheld or not
    number = _leave(client, category="consult", text="请问服务券的申领截止时间是什么时候？")
    p = login(make_user(Role.PROVINCE))
    db.session.commit()
    c = _complaint(number)
    assert 'name="upheld"' not in p.get(f"/province/complaints/{c.id}").get_data(as_text=True)
    r = p.post(f"/province/complaints/{c.id}", data={"action": "answer", "answer": "以每批次公告为准。", "upheld": "1"})
    assert r.status_code == 303
    assert _complaint(number).upheld is None
    html = client.get(f"/public/messages?tracking_no={number}").get_data(as_text=True)
    assert "以每批次公告为准。" in html and "成立" not in html


# --------------------------------------------------------------------------- forwarding to a city


def test_the_province_forwards_to_a_city_which_answers_and_another_city_cannot_see_it(app, client, login):
    # rule: SUP-5, ROLE-8
    supplier = make_supplier()
    province = make_user(Role.PROVINCE)
    shenzhen = make_user(Role.CITY, city_code=SZ)
    guangzhou = make_user(Role.CITY, city_code=GZ)
    db.session.commit()
    number = _leave(client, category="report", supplier_id=str(supplier.id),
                    files=[(io.BytesIO(contract_pdf_bytes("证据")), "证据.pdf")])
    c = _complaint(number)
    p, sz, gz = login(province), login(shenzhen), login(guangzhou)
    url = f"/city/complaints/{c.id}"
    assert sz.get(url).status_code == 404  # not forwarded yet: no city sees it
    assert sz.get(f"/files/{c.file_ids[0]}").status_code == 404

    html = p.get(f"/province/complaints/{c.id}").get_data(as_text=True)
    assert PHONE in html and "陈先生" in html and TEXT in html and "证据.pdf" in html  # the province sees the contact
    assert p.get(f"/files/{c.file_ids[0]}").status_code == 200
    r = p.post(f"/province/complaints/{c.id}", data={"action": "forward", "city_code": "", "note": "请核实"})
    assert r.status_code == 422 and "请选择转交的地市" in r.get_data(as_text=True)
    assert "请核实" in r.get_data(as_text=True)
    r = p.post(f"/province/complaints/{c.id}", data={"action": "forward", "city_code": SZ, "note": "请深圳市核实"})
    assert r.status_code == 303
    assert _complaint(number).city_code == SZ
    notice = db.session.execute(db.select(Notice).where(Notice.user_id == shenzhen.id)).scalar_one()
    assert number in notice.body and notice.link == url
    assert db.session.execute(db.select(Notice).where(Notice.user_id == guangzhou.id)).first() is None
    # the province heard of the message once, when it was left; forwarding it tells only the city
    assert db.session.execute(db.select(Notice.link).where(Notice.user_id == province.id)).scalars().all() == [
        f"/province/complaints/{c.id}"]

    assert gz.get(url).status_code == 404 and number not in gz.get("/city/complaints").get_data(as_text=True)
    assert gz.post(url, data={"action": "answer", "answer": "越权答复的内容"}).status_code == 404
    assert gz.get(f"/files/{c.file_ids[0]}").status_code == 404
    queue = sz.get("/city/complaints").get_data(as_text=True)
    assert number in queue and "剩 10 个工作日" in queue
    html = sz.get(url).get_data(as_text=True)
    assert PHONE in html and "请深圳市核实" in html and 'id="complaint-forward"' not in html  # the city cannot forward
    assert sz.get(f"/files/{c.file_ids[0]}").status_code == 200
    assert sz.post(url, data={"action": "forward", "city_code": GZ}).status_code == 403  # forwarding is the province's
    assert _complaint(number).city_code == SZ
    r = sz.post(url, data={"action": "answer", "answer": "经深圳市核查，举报不属实。", "upheld": "0"})
    assert r.status_code == 303

    c = _complaint(number)
    assert (c.status, c.upheld, c.answered_by) == ("answered", False, shenzhen.id)
    public = client.get(f"/public/messages?tracking_no={number}").get_data(as_text=True)
    assert "经深圳市核查，举报不属实。" in public and "举报不成立" in public and "深圳市工业和信息化主管部门" in public
    actions = db.session.execute(db.select(AuditEvent.action).where(
        AuditEvent.entity_type == "complaint", AuditEvent.entity_id == c.id).order_by(AuditEvent.id)).scalars().all()
    assert actions == ["complaint_submit", "complaint_forward", "complaint_answer"]
    timeline = p.get(f"/province/complaints/{c.id}").get_data(as_text=True)
    assert "转交地市办理" in timeline and "答复留言" in timeline

    # Answered: neither the province nor the city acts again (409), and the answer stays.
    r = p.post(f"/province/complaints/{c.id}", data={"action": "answer", "answer": "再次答复的内容", "upheld": "1"})
    assert r.status_code == 409 and "已答复" in r.get_data(as_text=True)
    assert p.post(f"/province/complaints/{c.id}", data={"action": "forward", "city_code": GZ}).status_code == 409
    assert sz.post(url, data={"action": "answer", "answer": "再次答复的内容", "upheld": "1"}).status_code == 409
    assert _complaint(number).answer == "经深圳市核查，举报不属实。"


def test_a_message_forwarded_again_leaves_the_first_city(app, client, login):
    # rule: SUP-5
    province, shenzhen = make_user(Role.PROVINCE), make_user(Role.CITY, city_code=SZ)
    db.session.commit()
    c = _complaint(_leave(client))
    core.forward(c, province, SZ, "")
    core.forward(c, province, GZ, "属广州市管辖")
    db.session.commit()
    sz = login(shenzhen)
    assert sz.get(f"/city/complaints/{c.id}").status_code == 404
    with pytest.raises(core.NotYours):
        core.answer(c, shenzhen, "深圳市的答复内容")
    with pytest.raises(core.FieldErrors):
        core.forward(c, province, GZ, "")  # already there
    db.session.rollback()
    titles = db.session.execute(db.select(Notice.title).where(Notice.user_id == shenzhen.id)).scalars().all()
    assert "公众留言已改由其他地市办理" in titles


def test_two_answers_at_once_only_one_wins(app, client):
    # rule: SUP-5 -- the answer is a conditional update: a stale copy of the row cannot answer again
    province = make_user(Role.PROVINCE)
    db.session.commit()
    c = _complaint(_leave(client, category="consult"))
    core.answer(c, province, "第一位答复人的答复。")
    db.session.commit()
    # A copy of the row as another worker read it before the first answer: still open.
    stale = Complaint(id=c.id, tracking_no=c.tracking_no, category=c.category, status="open", city_code=None)
    with pytest.raises(core.AlreadyAnswered):
        core.answer(stale, province, "第二位答复人的答复。")
    db.session.rollback()
    assert db.session.get(Complaint, c.id).answer == "第一位答复人的答复。"


# --------------------------------------------------------------------------- the queues


def _make(n: int, *, due_on=None, city_code=None, status="open", supplier=None) -> list[Complaint]:
    out = []
    for i in range(n):
        s = supplier or make_supplier()  # distinct suppliers: a lazy load per row would show
        c = Complaint(tracking_no=core.tracking_no(), category="complaint", text=TEXT, supplier_id=s.id,
                      status=status, city_code=city_code, due_on=due_on or add_working_days(today(), 1 + i % 9),
                      upheld=True if status == "answered" else None,
                      answer="已答复" if status == "answered" else "",
                      answered_at=now() if status == "answered" else None)
        db.session.add(c)
        out.append(c)
    db.session.commit()
    return out


def test_the_queue_puts_open_messages_first_by_deadline_with_a_badge(app, login):
    # rule: SUP-5, SLA-5
    p = login(make_user(Role.PROVINCE))
    db.session.commit()
    assert "还没有留言" in p.get("/province/complaints").get_data(as_text=True)
    answered, = _make(1, status="answered")
    later, = _make(1, due_on=add_working_days(today(), 8))
    overdue, = _make(1, due_on=today() - dt.timedelta(days=7))
    soon, = _make(1, due_on=add_working_days(today(), 1), city_code=SZ)
    html = p.get("/province/complaints").get_data(as_text=True)
    rows = re.findall(r'id="complaint-(\d+)-row"', html)
    assert rows == [str(overdue.id), str(soon.id), str(later.id), str(answered.id)]
    badge = lambda c: re.search(rf'id="complaint-{c.id}-due">(.*?)</td>', html, re.S).group(1)  # noqa: E731
    assert "due-over" in badge(overdue) and "超期" in badge(overdue)
    assert "due-soon" in badge(soon) and "剩 1 个工作日" in badge(soon)
    assert "due-ok" in badge(later) and "剩 8 个工作日" in badge(later)
    assert "due-" not in badge(answered)
    assert "深圳市" in html  # who handles it

    only_open = p.get("/province/complaints?status=answered").get_data(as_text=True)
    assert re.findall(r'id="complaint-(\d+)-row"', only_open) == [str(answered.id)]
    assert "没有符合条件的留言" in p.get("/province/complaints?category=suggestion").get_data(as_text=True)
    frag = p.get("/province/complaints?status=open", headers={"HX-Request": "true"})
    assert frag.status_code == 200 and "<html" not in frag.get_data(as_text=True)
    assert 'id="complaints-results"' in frag.get_data(as_text=True)


def _queries(q) -> int:
    """Statements run, transaction control (SQLite's explicit BEGIN) not counted."""
    return len([s for s in q.statements if not s.lstrip()[:9].upper().startswith(
        ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"))])


def test_the_province_queue_costs_the_same_queries_with_more_messages(app, login, count_queries):
    # rule: SUP-5 -- no query per row
    p = login(make_user(Role.PROVINCE))
    db.session.commit()
    _make(3, city_code=SZ)
    _make(1, status="answered")
    assert p.get("/province/complaints").status_code == 200  # warm
    with count_queries() as q1:
        assert p.get("/province/complaints").status_code == 200
    _make(12, city_code=GZ)
    _make(3)
    _make(3, status="answered")
    with count_queries() as q2:
        assert p.get("/province/complaints").status_code == 200
    assert _queries(q1) == _queries(q2) <= 6, q2.statements


def test_the_city_queue_lists_only_what_was_forwarded_to_it(app, login):
    # rule: SUP-5, ROLE-8
    sz = login(make_user(Role.CITY, city_code=SZ))
    db.session.commit()
    mine, = _make(1, city_code=SZ)
    theirs, = _make(1, city_code=GZ)
    unforwarded, = _make(1)
    html = sz.get("/city/complaints").get_data(as_text=True)
    assert re.findall(r'id="complaint-(\d+)-row"', html) == [str(mine.id)]
    assert sz.get(f"/city/complaints/{theirs.id}").status_code == 404
    assert sz.get(f"/city/complaints/{unforwarded.id}").status_code == 404
    assert sz.get(f"/city/complaints/{mine.id}").status_code == 200


def test_the_landing_page_links_to_messages(app, client):
    html = client.get("/").get_data(as_text=True)
    assert 'id="public-link-complaints"' in html and "留言与投诉" in html


def test_the_supplier_page_offers_a_complaint_about_it(app):
    # rule: SUP-5 -- the form opens with the supplier and the category chosen
    from tests.factories import make_supplier

    s = make_supplier()
    db.session.commit()
    client = app.test_client()
    page = client.get(f"/suppliers/{s.id}").get_data(as_text=True)
    assert f'id="public-supplier-{s.id}-complain"' in page
    form = client.get(f"/public/messages/new?supplier={s.id}&category=complaint").get_data(as_text=True)
    assert f'value="{s.id}" selected' in form
