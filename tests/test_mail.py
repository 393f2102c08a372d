"""E-mail notices through a real SMTP server (aiosmtpd, started here on the loopback): every in-app notice
also goes by mail after the commit, nothing for an action rolled back, retries with backoff while the
server is down, the officials' daily digest with overdue items first, and the account page."""
from __future__ import annotations

import datetime as dt
import email
import socket
import threading
from email import policy

import pytest
import sqlalchemy as sa
import time_machine
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session

from blueprints.core import mail, notices, registration, timeutil
from models import Complaint, MailOutbox, MailStatus, Notice, RegStatus, Role, db
from tests.factories import make_submitted, make_user


class Inbox:
    """What the SMTP server received; at each message it also reads, on a connection of its own, whether
    the notice the mail carries is already committed (the mail must never overtake its transaction)."""

    def __init__(self, db_url: str):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.committed_notices: list[int] = []
        self.engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.engine.connect() as conn:
            self.committed_notices.append(conn.execute(sa.text("SELECT count(*) FROM notice")).scalar_one())
        self.messages.append((list(envelope.rcpt_tos), msg))
        self.arrived.set()
        return "250 OK"

    def only(self):
        assert len(self.messages) == 1, [m["Subject"] for _, m in self.messages]
        return self.messages[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    def __init__(self, db_url: str):
        self.port = _free_port()
        self.inbox = Inbox(db_url)
        self.controller = None

    def start(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(app, db_url):
    server = SmtpServer(db_url)
    server.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, MAIL_FROM="广东省服务券平台 <noreply@platform.example>",
                      PUBLIC_BASE_URL="https://fwq.example.gov.cn", MAIL_MAX_ATTEMPTS=3)
    yield server
    server.stop()
    server.inbox.engine.dispose()


def body_of(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def outbox() -> list[MailOutbox]:
    """The outbox as it is now, read in a transaction that ends here (on SQLite an open one would hold the
    write lock that the sender, on its own connection, needs)."""
    db.session.expire_all()
    rows = list(db.session.execute(db.select(MailOutbox).order_by(MailOutbox.id)).scalars())
    for row in rows:
        db.session.expunge(row)
    db.session.rollback()
    return rows


def city_officer(**kw):
    user = make_user(Role.CITY, city_code="440100", **kw)
    db.session.commit()
    return user


# --------------------------------------------------------------------------- one mail per notice


def test_city_approval_mails_the_enterprise_after_the_commit(smtp, login):
    e, ent_user = make_submitted("enterprise")
    ent_user.email = "boss@factory.example"
    db.session.commit()
    c = login(city_officer())
    r = c.post(f"/city/registrations/enterprise/{e.id}/decide", data={"action": "approve"})
    assert r.status_code == 303
    rcpt, msg = smtp.inbox.only()
    assert rcpt == ["boss@factory.example"] and msg["To"] == "boss@factory.example"
    assert msg["Subject"] == "[广东省工业互联网应用服务平台] 您的注册申请已审核通过"
    assert "noreply@platform.example" in msg["From"]
    assert "https://fwq.example.gov.cn/enterprise/profile" in body_of(msg)
    # the notice was committed before the mail left: the server, on its own connection, already saw it
    assert smtp.inbox.committed_notices == [len(db.session.execute(db.select(Notice)).scalars().all())]
    [row] = outbox()
    assert (row.status, row.attempts, row.to_addr, row.user_id) == (MailStatus.SENT, 1, "boss@factory.example",
                                                                   ent_user.id)


def test_without_own_address_the_organisations_contact_email_is_used_and_english_reads_english(smtp, login):
    e, ent_user = make_submitted("enterprise")
    e.contact_email = "office@factory.example"
    ent_user.locale = "en"
    db.session.commit()
    c = login(city_officer())
    assert c.post(f"/city/registrations/enterprise/{e.id}/decide", data={"action": "approve"}).status_code == 303
    rcpt, msg = smtp.inbox.only()
    assert rcpt == ["office@factory.example"]
    assert msg["Subject"] == "[Guangdong Industrial Internet Application Service Platform] Your registration has been approved"
    text = body_of(msg)
    assert "Details: https://fwq.example.gov.cn/enterprise/profile" in text and "please do not reply" in text
    assert "请勿" not in text


def test_no_address_or_no_smtp_means_no_mail(smtp, app):
    with_address = make_user(Role.SUPPLIER, email="sales@supplier.example")
    without = make_user(Role.SUPPLIER)
    db.session.commit()
    notices.notify_users([with_address.id, without.id], "您有一条新的消息")
    db.session.commit()
    assert [m["To"] for _, m in smtp.inbox.messages] == ["sales@supplier.example"]
    app.config["SMTP_HOST"] = ""  # not configured: the notice only, no outbox row at all
    notices.notify_users([with_address.id], "第二条消息")
    db.session.commit()
    assert len(outbox()) == 1 and len(smtp.inbox.messages) == 1


def test_a_rolled_back_action_sends_nothing(smtp, app):
    e, ent_user = make_submitted("enterprise")
    ent_user.email = "boss@factory.example"
    officer = city_officer()
    with app.test_request_context():
        registration.decide(e, "approve", officer)  # writes the notice and its mail row ...
    db.session.flush()
    assert db.session.execute(db.select(sa.func.count(MailOutbox.id))).scalar_one() == 1
    db.session.rollback()  # ... and the action fails after all
    officer.display_name = "另一次提交"  # a later, unrelated commit must not send the dropped mail either
    db.session.commit()
    assert outbox() == [] and smtp.inbox.messages == []
    db.session.expire_all()
    assert e.status == RegStatus.CITY_REVIEW


# --------------------------------------------------------------------------- the server down: retries


def test_server_down_keeps_the_mail_pending_then_send_pending_delivers_it(smtp, login, app):
    e, ent_user = make_submitted("enterprise")
    ent_user.email = "boss@factory.example"
    db.session.commit()
    smtp.stop()
    c = login(city_officer())
    r = c.post(f"/city/registrations/enterprise/{e.id}/decide", data={"action": "approve"})
    assert r.status_code == 303  # the decision stands; the mail waits
    db.session.expire_all()
    assert e.status == RegStatus.APPROVED
    db.session.rollback()
    [row] = outbox()
    assert row.status == MailStatus.PENDING and row.attempts == 1 and "Connection" in row.last_error
    first_retry = row.next_try_at
    assert first_retry > timeutil.now()  # backoff: not due again at once
    runner = app.test_cli_runner()
    assert "0 sent" in runner.invoke(args=["mail", "send-pending"]).output  # not due yet: left alone
    with time_machine.travel(first_retry + dt.timedelta(seconds=1), tick=True):
        out = runner.invoke(args=["mail", "send-pending"]).output  # still down: attempt 2, longer wait
        assert "0 sent, 1 to retry" in out
        [row] = outbox()
        assert row.attempts == 2 and row.next_try_at - timeutil.now() > dt.timedelta(minutes=1, seconds=50)
    smtp.start()
    with time_machine.travel(row.next_try_at + dt.timedelta(seconds=1), tick=True):
        out = runner.invoke(args=["mail", "send-pending"]).output
    assert "1 sent" in out
    rcpt, msg = smtp.inbox.only()
    assert rcpt == ["boss@factory.example"] and "您的注册申请已审核通过" in msg["Subject"]
    [row] = outbox()
    assert row.status == MailStatus.SENT and row.attempts == 3
    assert "sent: 1" in runner.invoke(args=["mail", "status"]).output


def test_attempts_are_bounded_and_failures_are_counted(smtp, app):
    user = make_user(Role.SUPPLIER, email="sales@supplier.example")
    db.session.commit()
    smtp.stop()
    notices.notify_users([user.id], "您有一条新的消息")
    db.session.commit()  # attempt 1 (after the commit)
    runner = app.test_cli_runner()
    assert "1 to retry" in runner.invoke(args=["mail", "send-pending", "--all"]).output  # attempt 2
    assert "1 failed" in runner.invoke(args=["mail", "send-pending", "--all"]).output  # 3 = MAIL_MAX_ATTEMPTS
    [row] = outbox()
    assert row.status == MailStatus.FAILED and row.attempts == 3
    smtp.start()
    assert "0 sent" in runner.invoke(args=["mail", "send-pending", "--all"]).output  # given up: not retried
    status = runner.invoke(args=["mail", "status"]).output
    assert "failed: 1" in status and "sales@supplier.example" in status
    assert smtp.inbox.messages == []


def test_a_run_whose_rows_another_run_took_over_neither_sends_nor_marks_them(smtp, app, monkeypatch):
    # Run A claims two mails; its first send outlasts the lease and run B takes both rows over (simulated
    # right after A's first send, before A marks it). A's mark then changes nothing, A does not send the
    # second mail, and B sends and marks each once.
    a = make_user(Role.SUPPLIER, email="first@supplier.example")
    b = make_user(Role.SUPPLIER, email="second@supplier.example")
    db.session.commit()
    smtp.stop()
    notices.notify_users([a.id, b.id], "您有一条新的消息")
    db.session.commit()  # the send after the commit fails: both wait for their retry
    smtp.start()
    real_connect = mail._connect
    results = {}

    class SlowConnection:
        def __init__(self, conn, first):
            self.conn, self.first, self.sends = conn, first, 0

        def send_message(self, msg):
            self.conn.send_message(msg)
            self.sends += 1
            if self.first and self.sends == 1:  # run A, after its first send: the lease has run out meanwhile
                with db.engine.begin() as conn:
                    conn.execute(sa.update(MailOutbox).values(next_try_at=timeutil.now() - dt.timedelta(seconds=1)))
                results["B"] = mail.send_pending(due_only=False)

        def quit(self):
            self.conn.quit()

    runs = []

    def connect(cfg):
        runs.append(1)
        return SlowConnection(real_connect(cfg), first=len(runs) == 1)

    monkeypatch.setattr(mail, "_connect", connect)
    results["A"] = mail.send_pending(due_only=False)
    assert (results["B"].sent, results["A"].sent, results["A"].retry) == (2, 0, 0)
    to = sorted(m["To"] for _, m in smtp.inbox.messages)
    rows = outbox()
    # the outbox row claimed first (the lower id: the order of the two rows follows the user ids, which the
    # engines number differently) went out before A could know (same Message-ID to the reader); the other
    # went once, by B
    first_sent = min(rows, key=lambda r: r.id).to_addr
    other = ({"first@supplier.example", "second@supplier.example"} - {first_sent}).pop()
    assert to == sorted([first_sent, first_sent, other])
    assert [(r.status, r.attempts) for r in rows] == [(MailStatus.SENT, 3), (MailStatus.SENT, 3)]


def test_a_failure_mark_of_a_run_that_lost_its_claim_changes_nothing(smtp, app):
    user = make_user(Role.SUPPLIER, email="sales@supplier.example")
    db.session.commit()
    smtp.stop()
    notices.notify_users([user.id], "您有一条新的消息")
    db.session.commit()
    [row] = outbox()
    lease = mail._lease()
    with db.engine.begin() as conn:  # claimed by another run, with its own token
        conn.execute(sa.update(MailOutbox).values(status=MailStatus.SENDING, next_try_at=lease))
    result = mail.SendResult()
    with Session(db.engine) as s:
        mail._retry_or_fail(s, row, lease - dt.timedelta(microseconds=1), OSError("down"), result)
    [after] = outbox()
    assert (after.status, after.next_try_at, result.retry, result.failed) == (MailStatus.SENDING, lease, 0, 0)


def test_mail_links_never_use_the_host_the_request_names(smtp, app):
    # A forged Host header on an anonymous public message must not reach the officials' mails.
    from blueprints.core import complaints

    app.config["PUBLIC_BASE_URL"] = ""
    make_user(Role.PROVINCE, email="zh@gdei.example")
    make_user(Role.PROVINCE, email="digest@gdei.example", mail_digest=True)
    db.session.commit()
    with app.test_request_context(base_url="http://evil.example/"):
        c = complaints.create(complaints.ComplaintInput(category="complaint", text="该供应商未按合同提供云服务，请核查。"))
        db.session.commit()
        assert mail.build_digests() == 1
    rows = outbox()
    assert len(rows) == 2
    for row in rows:
        assert "evil.example" not in row.body and "http" not in row.body
        assert f"/province/complaints/{c.id}" in row.body and "请登录本平台网站" in row.body
    app.config["PUBLIC_BASE_URL"] = "https://fwq.example.gov.cn"
    with app.test_request_context(base_url="http://evil.example/"):
        _, text = mail.render_notice("zh_Hans", "标题", "", "/province/complaints/1")
    assert "https://fwq.example.gov.cn/province/complaints/1" in text and "evil.example" not in text


def test_production_refuses_to_start_with_smtp_but_no_public_base_url(db_url):
    from app import create_app

    base = {"SQLALCHEMY_DATABASE_URI": db_url.replace("postgresql://", "postgresql+psycopg://", 1),
            "SMTP_HOST": "mail.example", "TESTING": False, "DEBUG": False}
    with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL"):
        create_app({**base, "PUBLIC_BASE_URL": ""})
    assert create_app({**base, "PUBLIC_BASE_URL": "https://fwq.example.gov.cn"}).config["SMTP_HOST"]
    assert create_app({**base, "PUBLIC_BASE_URL": "", "TESTING": True})  # tests and debug runs still start
    assert create_app({**base, "PUBLIC_BASE_URL": "", "SMTP_HOST": ""})  # no mail: nothing to link


# --------------------------------------------------------------------------- the officials' digest


def test_digest_lists_overdue_items_first_instead_of_one_mail_per_notice(smtp, app):
    digest_officer = city_officer(email="reviewer@gz.example", mail_digest=True)
    other_officer = city_officer(email="other@gz.example")
    later, _ = make_submitted("enterprise")
    overdue, _ = make_submitted("enterprise")
    soon, _ = make_submitted("enterprise")
    today = timeutil.today()
    later.due_on = timeutil.add_working_days(today, 8)
    overdue.due_on = today - dt.timedelta(days=20)
    soon.due_on = timeutil.add_working_days(today, 1)
    db.session.commit()
    # each submission told the city's officers; the one who chose the digest got no mail per notice
    assert [m["To"] for _, m in smtp.inbox.messages] == ["other@gz.example"] * 3
    smtp.inbox.messages.clear()
    notices.notify_org(city_code="440100", title="有新的注册申请待审核")
    db.session.commit()
    assert [m["To"] for _, m in smtp.inbox.messages] == ["other@gz.example"]
    smtp.inbox.messages.clear()

    out = app.test_cli_runner().invoke(args=["mail", "digest"]).output
    assert "1 digest(s) queued" in out
    rcpt, msg = smtp.inbox.only()
    assert rcpt == ["reviewer@gz.example"]
    assert "每日待办：共 3 项，其中超期 1 项" in msg["Subject"]
    text = body_of(msg)
    positions = [text.index(p.name) for p in (overdue, soon, later)]
    assert positions == sorted(positions), text  # overdue first, then by the working days left
    assert "超期" in text.splitlines()[4] and overdue.name in text.splitlines()[4]
    assert f"https://fwq.example.gov.cn/city/registrations/enterprise/{overdue.id}" in text
    assert "剩 1 个工作日" in text and "您有 4 条未读消息" in text  # the 4 notices above
    # once a day: a second run the same day queues nothing
    assert "0 digest(s) queued" in app.test_cli_runner().invoke(args=["mail", "digest"]).output
    assert len(smtp.inbox.messages) == 1


def test_digest_in_english_for_an_english_official(smtp, app):
    officer = city_officer(email="reviewer@gz.example", mail_digest=True, locale="en")
    e, _ = make_submitted("enterprise")
    e.due_on = timeutil.today() - dt.timedelta(days=20)
    db.session.commit()
    assert mail.build_digests() == 1
    _, msg = smtp.inbox.only()
    assert "Daily to-do: 1 items, 1 overdue" in msg["Subject"]
    text = body_of(msg)
    assert f"Dear {officer.display_name}," in text and "working days overdue" in text
    assert "Enterprise registration" in text


def _message(category="complaint", *, city_code=None, due_on=None, status="open") -> Complaint:
    from blueprints.core import complaints

    c = Complaint(tracking_no=complaints.tracking_no(), category=category, text="该供应商未按合同提供云服务，请核查。",
                  status=status, city_code=city_code, due_on=due_on or timeutil.add_working_days(timeutil.today(), 5),
                  answer="已答复" if status == "answered" else "")
    db.session.add(c)
    db.session.flush()
    return c


def test_digest_lists_the_open_messages_forwarded_to_the_city_by_deadline(smtp, app):
    # rule: SUP-5 -- a city answers what the province forwarded to it: the digest lists those still open
    city_officer(email="reviewer@gz.example", mail_digest=True)
    today = timeutil.today()
    later = _message("consult", city_code="440100", due_on=timeutil.add_working_days(today, 3))
    overdue = _message("complaint", city_code="440100", due_on=today - dt.timedelta(days=20))
    elsewhere = _message(city_code="440300")
    answered = _message(city_code="440100", status="answered")
    own = _message()  # not forwarded: the province's
    db.session.commit()
    assert mail.build_digests() == 1
    rcpt, msg = smtp.inbox.only()
    assert rcpt == ["reviewer@gz.example"] and "每日待办：共 2 项，其中超期 1 项" in msg["Subject"]
    text = body_of(msg)
    assert text.index(overdue.tracking_no) < text.index(later.tracking_no)  # by deadline, overdue first
    assert f"留言答复（投诉）：{overdue.tracking_no}" in text and f"留言答复（咨询）：{later.tracking_no}" in text
    assert "剩 3 个工作日" in text and "超期" in text
    assert f"https://fwq.example.gov.cn/city/complaints/{overdue.id}" in text
    for c in (elsewhere, answered, own):
        assert c.tracking_no not in text


def test_digest_lists_the_provinces_own_open_messages_in_each_officials_language(smtp, app):
    # rule: SUP-5 -- the province answers the messages it has not forwarded
    make_user(Role.PROVINCE, email="zh@gdei.example", mail_digest=True)
    make_user(Role.PROVINCE, email="en@gdei.example", mail_digest=True, locale="en")
    make_user(Role.PROVINCE, email="each@gdei.example")  # one mail per notice: no digest
    today = timeutil.today()
    soon = _message("report", due_on=timeutil.add_working_days(today, 1))
    later = _message("suggestion", due_on=timeutil.add_working_days(today, 6))
    forwarded = _message(city_code="440100", due_on=timeutil.add_working_days(today, 1))
    answered = _message(status="answered")
    db.session.commit()
    assert mail.build_digests() == 2
    mails = {m["To"]: body_of(m) for _, m in smtp.inbox.messages}
    assert set(mails) == {"zh@gdei.example", "en@gdei.example"}
    zh, en = mails["zh@gdei.example"], mails["en@gdei.example"]
    assert zh.index(soon.tracking_no) < zh.index(later.tracking_no)
    assert f"[剩 1 个工作日] 留言答复（举报）：{soon.tracking_no}" in zh
    assert f"https://fwq.example.gov.cn/province/complaints/{soon.id}" in zh
    assert forwarded.tracking_no not in zh and answered.tracking_no not in zh
    assert f"[1 working days left] Public message to answer (report): {soon.tracking_no}" in en
    assert f"Public message to answer (suggestion): {later.tracking_no}" in en


def test_a_new_public_message_mails_the_province_in_each_officials_language(smtp, app):
    # rule: SUP-5 -- the notice goes by mail too, its fixed title translated; a digest reader waits for the digest
    from blueprints.core import complaints

    make_user(Role.PROVINCE, email="zh@gdei.example")
    make_user(Role.PROVINCE, email="en@gdei.example", locale="en")
    make_user(Role.PROVINCE, email="digest@gdei.example", mail_digest=True)
    db.session.commit()
    with app.test_request_context():
        c = complaints.create(complaints.ComplaintInput(category="complaint", text="该供应商未按合同提供云服务，请核查。"))
        db.session.commit()
    subjects = {m["To"]: m["Subject"] for _, m in smtp.inbox.messages}
    assert subjects == {
        "zh@gdei.example": "[广东省工业互联网应用服务平台] 收到新的公众留言，请按期答复或转交地市",
        "en@gdei.example": "[Guangdong Industrial Internet Application Service Platform] "
                           "A new public message: answer it before the deadline or forward it to a city"}
    for _, m in smtp.inbox.messages:
        assert c.tracking_no in body_of(m) and f"https://fwq.example.gov.cn/province/complaints/{c.id}" in body_of(m)


def test_digest_messages_cost_one_query_whatever_their_number(app, count_queries):
    # rule: SUP-5 -- set-based: no query per message
    officer = city_officer()
    _message(city_code="440100")
    db.session.commit()
    with app.test_request_context():
        mail.digest_items(officer)  # warm
        with count_queries() as q1:
            assert len(mail.digest_items(officer)) == 1
        for i in range(8):
            _message(city_code="440100", due_on=timeutil.add_working_days(timeutil.today(), i))
        db.session.commit()
        db.session.refresh(officer)  # loaded, as it was before the first count
        with count_queries() as q2:
            assert len(mail.digest_items(officer)) == 9
    assert len(q1.statements) == len(q2.statements), q2.statements


# --------------------------------------------------------------------------- the account page


def test_account_page_sets_a_validated_address_and_officials_choose_the_digest(login):
    e, ent_user = make_submitted("enterprise")
    e.contact_email = "office@factory.example"
    db.session.commit()
    c = login(ent_user)
    page = c.get("/account").get_data(as_text=True)
    assert "office@factory.example" in page and 'name="delivery"' not in page  # the default it falls back to
    r = c.post("/account", data={"email": "not an address"})
    assert r.status_code == 422 and "请输入有效的电子邮箱地址" in r.get_data(as_text=True)
    db.session.expire_all()
    assert ent_user.email == ""
    r = c.post("/account", data={"email": " boss@factory.example ", "delivery": "digest"})
    assert r.status_code == 303
    db.session.expire_all()
    assert ent_user.email == "boss@factory.example" and ent_user.mail_digest is False  # not an official's choice

    officer = city_officer()
    oc = login(officer)
    assert 'name="delivery"' in oc.get("/account").get_data(as_text=True)
    assert oc.post("/account", data={"email": "reviewer@gz.example", "delivery": "digest"}).status_code == 303
    db.session.expire_all()
    assert officer.email == "reviewer@gz.example" and officer.mail_digest is True
    assert oc.post("/account", data={"email": "reviewer@gz.example\r\nBcc: x@evil.example",
                                     "delivery": "each"}).status_code == 422  # no header injection


def test_an_invitation_mail_keeps_its_link_in_the_outbox_only_until_it_is_sent(smtp, app, monkeypatch):
    # The one-time link leaves in the mail; the stored copy then says it expired, in the invited
    # account's language. Other mails are stored as sent.
    from blueprints.core import team
    from tests.factories import make_enterprise

    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id, display_name="Zhang San", locale="en")
    reader = make_user(Role.ENTERPRISE, enterprise_id=ent.id, email="reader@factory.example")
    db.session.commit()
    monkeypatch.setattr(mail, "kick", lambda: None)  # queued only: sent below, by send_pending()
    with app.test_request_context():
        token = team.invite(boss, username="li.si", display_name="Li Si", phone="13800000001",
                            email="lisi@factory.example")
        notices.notify_users([reader.id], "通知", "说明 /invite/not-a-token", "/enterprise/profile")
        db.session.commit()
    assert token in next(r.body for r in outbox() if r.kind == "invite")  # not sent yet: it must carry it
    assert mail.send_pending().sent == 2
    by_rcpt = {rcpt[0]: body_of(msg) for rcpt, msg in smtp.inbox.messages}
    assert f"https://fwq.example.gov.cn/invite/{token}" in by_rcpt["lisi@factory.example"]
    invite, notice = sorted(outbox(), key=lambda r: r.kind != "invite")
    assert invite.status == MailStatus.SENT and token not in invite.body and "/invite/" not in invite.body
    assert "(this invitation link is no longer valid)" in invite.body and "li.si" in invite.body
    assert notice.status == MailStatus.SENT and "/invite/not-a-token" in notice.body  # only invitations
