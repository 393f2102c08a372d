"""The province's mail outbox page (blueprints/province/mail.py): counts by status, whether SMTP is configured,
the failed and waiting mails with their last error (short, no stack trace), searched and paginated; a failed
mail (or every one) goes back in the queue, conditionally, with an audit record; the home page's line."""
from __future__ import annotations

import datetime as dt
import itertools
import json
import re

import pytest

from blueprints.core import mail
from blueprints.core.timeutil import now
from models import AuditEvent, MailOutbox, MailStatus, Role, db
from tests.factories import make_user

_n = itertools.count(1)
TRACEBACK = ('Traceback (most recent call last):\n  File "/srv/platform/blueprints/core/mail.py", line 290, in send\n'
             '    conn.send_message(msg)\nSMTPRecipientsRefused: {"x@bad.example": (550, "no such user")}')


def _mail(status=MailStatus.FAILED, *, to=None, subject=None, attempts=8, error="SMTPDataError: (554, 'rejected')",
          **kw) -> MailOutbox:
    n = next(_n)
    row = MailOutbox(to_addr=to or f"user{n}@example.com", subject=subject or f"[广东省工业互联网应用服务平台] 通知 {n}",
                     body="…", status=status, attempts=attempts, last_error=error,
                     next_try_at=kw.pop("next_try_at", now() + dt.timedelta(minutes=30)),
                     created_at=kw.pop("created_at", now() - dt.timedelta(hours=1)), **kw)
    db.session.add(row)
    db.session.commit()
    return row


def _fresh(row_id: int) -> MailOutbox:
    db.session.expire_all()
    return db.session.get(MailOutbox, row_id)


def _audits(action: str) -> list[AuditEvent]:
    db.session.rollback()
    return list(db.session.execute(db.select(AuditEvent).where(AuditEvent.entity_type == "mail_outbox",
                                                               AuditEvent.action == action)).scalars())


def _rows(body: str) -> list[int]:
    return [int(x) for x in re.findall(r'id="mail-(\d+)-row"', body)]


@pytest.fixture
def province(login_as):
    c, _ = login_as(Role.PROVINCE)
    return c


def test_the_page_lists_a_failed_mail_with_its_error_and_the_counts(province):
    failed = _mail(to="boss@firm.example", subject="[广东省工业互联网应用服务平台] 您的申领已受理", attempts=8,
                   error=TRACEBACK)
    long_error = _mail(error="SMTPSenderRefused: " + "x" * 400)
    waiting = _mail(MailStatus.PENDING, attempts=2, error="ConnectionRefusedError: [Errno 111] Connection refused")
    sent = _mail(MailStatus.SENT, attempts=1, error="")
    r = province.get("/province/mail")
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    assert _rows(body) == [long_error.id, failed.id, waiting.id]  # failed first, newest first; the sent one not listed
    row = body[body.index(f'id="mail-{failed.id}-row"'):body.index("</tr>", body.index(f'id="mail-{failed.id}-row"'))]
    assert "boss@firm.example" in row and "您的申领已受理" in row and "[广东省工业互联网应用服务平台]" not in row
    assert 'SMTPRecipientsRefused: {&#34;x@bad.example&#34;: (550, &#34;no such user&#34;)}' in row
    assert "Traceback" not in body and "/srv/platform" not in body  # the exception only, never the stack
    assert f'id="mail-{failed.id}-retry"' in row and f'id="mail-{waiting.id}-retry"' not in body
    long_cell = re.search(rf'id="mail-{long_error.id}-error"><span title="[^"]*">([^<]*)</span>', body).group(1)
    assert long_cell.endswith("…") and len(long_cell) <= 160
    assert re.search(r'id="mail-count-failed">2<', body) and re.search(r'id="mail-count-pending">1<', body)
    assert re.search(r'id="mail-count-sent">1<', body)
    assert "未配置邮件服务器" in body and 'id="mail-retry-all"' in body and sent.to_addr not in body


def test_the_page_says_when_smtp_is_configured(app, province):
    app.config["SMTP_HOST"] = "127.0.0.1"
    body = province.get("/province/mail").get_data(as_text=True)
    assert "邮件服务器已配置" in body and "未配置邮件服务器" not in body


def test_empty_state_when_nothing_failed(province):
    _mail(MailStatus.SENT, error="")
    body = province.get("/province/mail").get_data(as_text=True)
    assert "没有发送失败的邮件。" in body and "没有发送失败或待发送的邮件" in body
    assert 'id="mail-retry-all"' not in body and _rows(body) == []


def test_retry_puts_a_failed_mail_back_in_the_queue_due_now(province, monkeypatch):
    kicked = []
    monkeypatch.setattr(mail, "kick", lambda: kicked.append(1))
    row = _mail(attempts=8)
    before = now()
    r = province.post(f"/province/mail/{row.id}/retry", data={"q": "example", "page": "2"})
    assert r.status_code == 303 and r.headers["Location"] == "/province/mail?q=example&page=2"
    m = _fresh(row.id)
    assert (m.status, m.attempts) == (MailStatus.PENDING, 0)
    assert before - dt.timedelta(seconds=1) <= m.next_try_at <= now()
    assert m.last_error.startswith("SMTPDataError")  # kept until the next try tells more
    [ev] = _audits("mail_retry")
    assert (ev.entity_id, ev.from_state, ev.to_state, ev.data["attempts"]) == (row.id, "failed", "pending", 8)
    assert kicked == []  # no SMTP configured: nothing to kick; the page says so
    assert "邮件将在配置后发送" in province.get("/province/mail").get_data(as_text=True)


def test_retry_kicks_the_sender_when_smtp_is_configured(app, province, monkeypatch):
    app.config["SMTP_HOST"] = "127.0.0.1"
    seen = []
    monkeypatch.setattr(mail, "kick", lambda: seen.append(_fresh(row.id).status))  # after the commit
    row = _mail()
    assert province.post(f"/province/mail/{row.id}/retry").status_code == 303
    assert seen == [MailStatus.PENDING]


def test_retry_with_htmx_returns_the_row_in_place(province):
    row = _mail()
    r = province.post(f"/province/mail/{row.id}/retry", headers={"HX-Request": "true"})
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    assert "<html" not in body and _rows(body) == [row.id] and "待发送" in body and "重新发送" not in body
    assert "toast" in json.loads(r.headers["HX-Trigger"])
    assert _fresh(row.id).status == MailStatus.PENDING


@pytest.mark.parametrize("status", [MailStatus.PENDING, MailStatus.SENDING, MailStatus.SENT])
def test_a_mail_that_has_not_failed_cannot_be_retried(province, status):
    row = _mail(status, attempts=3)
    before = (row.status, row.attempts, row.next_try_at, row.last_error)
    r = province.post(f"/province/mail/{row.id}/retry")
    assert r.status_code == 303
    m = _fresh(row.id)
    assert (m.status, m.attempts, m.next_try_at, m.last_error) == before
    assert _audits("mail_retry") == []
    assert "不是发送失败状态" in province.get("/province/mail").get_data(as_text=True)
    r = province.post(f"/province/mail/{row.id}/retry", headers={"HX-Request": "true"})
    assert r.status_code == 409 and "toast" in json.loads(r.headers["HX-Trigger"])
    assert _fresh(row.id).attempts == 3


def test_a_second_retry_of_the_same_mail_changes_nothing(province):
    row = _mail()
    assert province.post(f"/province/mail/{row.id}/retry").status_code == 303
    db.session.execute(db.update(MailOutbox).where(MailOutbox.id == row.id).values(attempts=1))  # the sender tried once
    db.session.commit()
    assert province.post(f"/province/mail/{row.id}/retry").status_code == 303  # a double click, a second official
    assert _fresh(row.id).attempts == 1 and len(_audits("mail_retry")) == 1


def test_retry_of_an_unknown_mail_is_404(province):
    assert province.post("/province/mail/999999/retry").status_code == 404


def test_retry_all_requeues_only_the_failed(province):
    failed = [_mail() for _ in range(3)]
    waiting = _mail(MailStatus.PENDING, attempts=2)
    sent = _mail(MailStatus.SENT, attempts=1, error="")
    r = province.post("/province/mail/retry-all", data={"status": "failed"})
    assert r.status_code == 303 and r.headers["Location"] == "/province/mail?status=failed"
    assert [(_fresh(m.id).status, _fresh(m.id).attempts) for m in failed] == [(MailStatus.PENDING, 0)] * 3
    assert (_fresh(waiting.id).status, _fresh(waiting.id).attempts) == (MailStatus.PENDING, 2)
    assert _fresh(sent.id).status == MailStatus.SENT
    [ev] = _audits("mail_retry_all")
    assert ev.data["count"] == 3 and ev.data["ids"] == sorted(m.id for m in failed)
    assert "已将 3 封发送失败的邮件重新排入发送队列" in province.get("/province/mail").get_data(as_text=True)
    assert province.post("/province/mail/retry-all").status_code == 303  # nothing failed now: nothing changes
    assert len(_audits("mail_retry_all")) == 1
    assert "没有发送失败的邮件" in province.get("/province/mail").get_data(as_text=True)


def test_search_by_address_or_title_and_status_filter(province):
    a = _mail(to="Zhang.San@Firm.example", subject="[广东省工业互联网应用服务平台] 兑现申请已退回")
    b = _mail(to="li@other.example", subject="[广东省工业互联网应用服务平台] 注册审核通过")
    c = _mail(MailStatus.PENDING, to="wang@firm.example", subject="[广东省工业互联网应用服务平台] 100%_done")
    assert _rows(province.get("/province/mail?q=zhang.san@firm").get_data(as_text=True)) == [a.id]  # any case
    assert _rows(province.get("/province/mail?q=注册审核").get_data(as_text=True)) == [b.id]
    assert sorted(_rows(province.get("/province/mail?q=firm.example").get_data(as_text=True))) == [a.id, c.id]
    assert _rows(province.get("/province/mail?q=firm.example&status=failed").get_data(as_text=True)) == [a.id]
    assert _rows(province.get("/province/mail?status=pending").get_data(as_text=True)) == [c.id]
    assert _rows(province.get("/province/mail?q=%25_").get_data(as_text=True)) == [c.id]  # % and _ are literal
    body = province.get("/province/mail?q=nobody").get_data(as_text=True)
    assert _rows(body) == [] and "没有符合条件的邮件" in body
    r = province.get("/province/mail?q=zhang", headers={"HX-Request": "true"})  # the results block only
    assert "<html" not in r.get_data(as_text=True) and 'id="mail-results"' in r.get_data(as_text=True)
    assert _rows(r.get_data(as_text=True)) == [a.id]


def test_the_list_is_paginated_and_the_page_number_bounded(province):
    rows = [_mail() for _ in range(25)]
    newest_first = [m.id for m in reversed(rows)]
    assert _rows(province.get("/province/mail").get_data(as_text=True)) == newest_first[:20]
    body = province.get("/province/mail?page=2").get_data(as_text=True)
    assert _rows(body) == newest_first[20:] and "共 25 条" in body
    assert _rows(province.get("/province/mail?page=abc").get_data(as_text=True)) == newest_first[:20]
    r = province.get("/province/mail?page=99999999999")
    assert r.status_code == 200 and _rows(r.get_data(as_text=True)) == []
    # a retry from page 2 keeps its place
    assert 'name="page" value="2"' in body


def test_queries_do_not_grow_with_the_rows(province, count_queries):
    counts = []
    for n in (3, 30):
        for _ in range(n):
            _mail()
            _mail(MailStatus.PENDING)
        with count_queries() as q:
            assert province.get("/province/mail").status_code == 200
        counts.append(q.count)
    assert counts[0] == counts[1]


def test_the_home_page_says_when_mails_failed(province, count_queries):
    body = province.get("/province/").get_data(as_text=True)
    assert 'id="panel-mail"' not in body
    _mail(MailStatus.SENT, error="")
    _mail(MailStatus.PENDING)
    _mail()
    with count_queries() as q1:
        body = province.get("/province/").get_data(as_text=True)
    assert "1 封邮件发送失败" in body and 'href="/province/mail?status=failed"' in body
    for _ in range(20):
        _mail()
    with count_queries() as q2:
        body = province.get("/province/").get_data(as_text=True)
    assert "21 封邮件发送失败" in body and q1.count == q2.count


def test_the_home_line_is_for_the_province_only(login_as):
    _mail()
    c, _ = login_as(Role.CITY, city_code="440300")
    assert "封邮件发送失败" not in c.get("/city/").get_data(as_text=True)


def test_the_page_reads_in_english(login, app):
    from tests.test_english_sweep import chinese_in

    user = make_user(Role.PROVINCE)
    user.locale = "en"
    db.session.commit()
    c = login(user)
    _mail(to="a@firm.example", subject="[Guangdong platform] Your application was accepted", error=TRACEBACK)
    _mail(MailStatus.PENDING, to="b@firm.example", subject="[Guangdong platform] Digest")
    for url in ("/province/mail", "/province/mail?q=zzz", "/province/"):
        html = c.get(url).get_data(as_text=True)
        assert chinese_in(html, [user.display_name]) == [], url  # the account's own name is data
    assert "1 e-mail(s) could not be sent" in c.get("/province/").get_data(as_text=True)
