"""E-mail: every in-app notice also goes by mail; officials may take a daily digest of their queues instead.

- Settings (app.Config, from the environment; README "E-mail"): SMTP_HOST (empty: no mail at all),
  SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_STARTTLS, SMTP_SSL, SMTP_TIMEOUT, MAIL_FROM, MAIL_MAX_ATTEMPTS.
- notices.notify_users() calls queue_notice(): one MailOutbox row per recipient with an address, added
  to the transaction that adds the notice, so an action that is rolled back sends nothing.
- After the commit (a session hook, never before) the send is handed to the job queue (huey); the
  consumer also sends whatever is due every minute, and `flask mail send-pending` does it by hand or
  from cron. The request never waits for the mail server (with JOBS_IMMEDIATE=1, in tests, it does).
- send_pending() claims rows (pending -> sending, with a lease: next_try_at set to a value of this run's
  own, its claim token), sends them over one SMTP connection and marks them sent; a failure puts the row
  back with exponential backoff, and after MAIL_MAX_ATTEMPTS it is failed: logged as an error and counted
  by `flask mail status`. Right before each send the row's lease is renewed, and every mark (sent, retry,
  failed) is conditional on the row still holding this run's token: a run slower than its lease whose
  rows another run took over neither sends them again nor marks them.
- An invitation's mail (kind "invite") carries a one-time link: the moment it is marked sent, the link in
  its stored text is replaced by a note that it expired (invite_link_gone); team.py does the same when the
  invitation is accepted, revoked or renewed before the mail went out, and `flask prune` (team.forget_dead_links)
  for invitations that expired and mails that failed for good.
- Links in mails: PUBLIC_BASE_URL + path, never the host a request names (a forged Host header would
  put another site into officials' mails). Without PUBLIC_BASE_URL (refused at start-up in production
  when SMTP_HOST is set) a mail carries the path and asks the reader to open it on the platform.
- build_digests() (`flask mail digest`, daily from cron): for each official who chose the digest,
  one mail listing the items waiting in their queues (registrations, reviews, open public messages),
  overdue first, with the working days left.
- The text is in the recipient's language: Chinese, or English when the account's language is English.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import secrets
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from flask import current_app, has_app_context, has_request_context, url_for
from flask_babel import force_locale, gettext
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from blueprints.core import timeutil
from blueprints.core.jobs import _app, huey
from blueprints.core.timeutil import now
from models import Enterprise, MailOutbox, MailStatus, Notice, Role, Supplier, User, db

log = logging.getLogger(__name__)

# Plain ASCII addresses only: what every SMTP server accepts without SMTPUTF8, and no header injection.
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
LEASE = dt.timedelta(minutes=10)  # a claimed row whose sender died is taken over after this
MAX_BACKOFF_MINUTES = 60
DIGEST_ROLES = (Role.CITY, Role.PROVINCE, Role.EXPERT, Role.OPERATOR)
DIGEST_MAX_ITEMS = 50
_FLAG = "mail_outbox_added"


# The one-time link in an invitation's mail text (kind "invite", queued by team.invite); shared with team.py.
INVITE_LINK_RE = re.compile(r"(?:https?://\S*?)?/invite/[A-Za-z0-9_-]+")


def invite_link_gone() -> str:
    """What stands in a stored invitation mail for its link once the link must not be kept, in the current
    language (team._forget_link uses it too)."""
    return gettext("（该邀请链接已失效）")


def _without_invite_link(s: Session, row: MailOutbox) -> str:
    """The row's text with the invitation link replaced, in the invited account's language (as team.py does)."""
    locale = s.execute(db.select(User.locale).where(User.id == row.user_id)).scalar_one_or_none()
    with force_locale(_locale(locale)):
        return INVITE_LINK_RE.sub(invite_link_gone(), row.body or "")


def valid_email(value: str) -> bool:
    return bool(value) and len(value) <= 254 and EMAIL_RE.match(value) is not None


def enabled() -> bool:
    return bool(current_app.config.get("SMTP_HOST"))


def address_of(user) -> str:
    """The account's own address, else (enterprise and supplier users) the organisation's contact e-mail."""
    if user.email:
        return user.email
    org = user.enterprise if user.enterprise_id else (user.supplier if user.supplier_id else None)
    contact = (org.contact_email or "").strip() if org is not None else ""
    return contact if valid_email(contact) else ""


def takes_digest(user) -> bool:
    return bool(user.mail_digest) and user.role in DIGEST_ROLES


def _locale(user_locale: str | None) -> str:
    return "en" if user_locale == "en" else "zh_Hans"


def _base_url() -> str:
    """PUBLIC_BASE_URL only: never request.host_url, which is whatever Host header the client sent."""
    return (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")


def _absolute(link: str) -> str:
    """The link for a mail: PUBLIC_BASE_URL + path; without it the path alone (see _open_hint)."""
    if not link or not link.startswith("/"):
        return link
    base = _base_url()
    return (base + link) if base else link


def _open_hint() -> str:
    """Said under links that are paths only (no PUBLIC_BASE_URL): where to open them."""
    return gettext("请登录本平台网站，在平台网址后接上述路径打开查看。")


def _footer() -> str:
    return gettext("这是平台自动发送的邮件，请勿直接回复。接收邮件的地址和方式可在“账户设置”中修改。")


# --------------------------------------------------------------------------- queueing (in the action's transaction)


def queue_notice(user_ids, title: str, body: str = "", link: str = "") -> int:
    """Add a mail for each of these users who has an address and has not chosen the digest."""
    if not enabled():
        return 0
    ids = list(set(user_ids))
    if not ids:
        return 0
    rows = db.session.execute(
        db.select(User.id, User.email, User.locale, User.role, User.mail_digest,
                  Enterprise.contact_email, Supplier.contact_email)
        .outerjoin(Enterprise, Enterprise.id == User.enterprise_id)
        .outerjoin(Supplier, Supplier.id == User.supplier_id)
        .where(User.id.in_(ids), User.is_active.is_(True))
    ).all()
    n = 0
    for uid, email, locale, role, digest, ent_mail, sup_mail in rows:
        if digest and role in DIGEST_ROLES:
            continue  # this official reads the daily digest instead
        to = email or next((m.strip() for m in (ent_mail, sup_mail) if m and valid_email(m.strip())), "")
        if not to:
            continue
        subject, text = render_notice(_locale(locale), title, body, link)
        db.session.add(MailOutbox(user_id=uid, kind="notice", to_addr=to, subject=subject[:300], body=text))
        n += 1
    if n:
        db.session.info[_FLAG] = True
    return n


def queue_to(user_id: int, to: str, locale: str | None, title: str, body: str = "", link: str = "",
             kind: str = "notice") -> bool:
    """One mail to an address given by a person (an invitation to an account not active yet)."""
    if not enabled() or not valid_email(to or ""):
        return False
    subject, text = render_notice(_locale(locale), title, body, link)
    db.session.add(MailOutbox(user_id=user_id, kind=kind, to_addr=to, subject=subject[:300], body=text))
    db.session.info[_FLAG] = True
    return True


def render_notice(locale: str, title: str, body: str, link: str) -> tuple[str, str]:
    with force_locale(locale):
        shown = gettext(title) if title else ""  # a fixed title has its English; a composed one stays as written
        shown = " ".join(shown.split())  # one line: a subject never carries a line break
        subject = f"[{gettext('广东省工业互联网应用服务平台')}] {shown}"
        lines = [shown, ""]
        if body:
            lines += [body, ""]
        if link:
            lines += [gettext("查看详情：") + _absolute(link)]
            if link.startswith("/") and not _base_url():
                lines += [_open_hint()]
            lines += [""]
        lines += ["--", _footer()]
    return subject, "\n".join(lines) + "\n"


@event.listens_for(Session, "after_commit")
def _after_commit(session) -> None:
    if session.info.pop(_FLAG, False):
        kick()


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the whole transaction: its mails are gone with it
        session.info.pop(_FLAG, None)


def kick() -> None:
    """Hand the send to the job queue; if the queue is down, the minute sweep or the cron sends it."""
    try:
        send_pending_task()
    except Exception:
        log.exception("could not queue the mail send; it stays pending")


@huey.task()
def send_pending_task() -> None:
    if has_app_context():  # immediate mode (tests): the caller's app
        send_pending()
    else:
        with _app().app_context():
            send_pending()


@huey.periodic_task(__import__("huey").crontab(minute="*"))
def mail_retry_task() -> None:
    with _app().app_context():
        send_pending()


# --------------------------------------------------------------------------- sending (after the commit)


@dataclasses.dataclass
class SendResult:
    sent: int = 0
    retry: int = 0
    failed: int = 0


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=min(MAX_BACKOFF_MINUTES, 2 ** max(0, attempts - 1)))


def _connect(cfg) -> smtplib.SMTP:
    host, timeout = cfg["SMTP_HOST"], cfg.get("SMTP_TIMEOUT") or 10
    if cfg.get("SMTP_SSL"):
        conn = smtplib.SMTP_SSL(host, cfg.get("SMTP_PORT") or 465, timeout=timeout,
                                context=ssl.create_default_context())
    else:
        conn = smtplib.SMTP(host, cfg.get("SMTP_PORT") or (587 if cfg.get("SMTP_STARTTLS") else 25), timeout=timeout)
        if cfg.get("SMTP_STARTTLS"):
            conn.starttls(context=ssl.create_default_context())
    if cfg.get("SMTP_USER"):
        conn.login(cfg["SMTP_USER"], cfg.get("SMTP_PASSWORD") or "")
    return conn


def _message(cfg, row: MailOutbox) -> EmailMessage:
    msg = EmailMessage()
    sender = cfg.get("MAIL_FROM") or f"noreply@{cfg['SMTP_HOST']}"
    msg["From"] = sender
    msg["To"] = row.to_addr
    msg["Subject"] = row.subject
    msg["Date"] = formatdate(localtime=False)
    # One id per outbox row: a mail sent twice (a sender died after the server took it) is one to the reader.
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = f"<outbox-{row.id}.{int(row.created_at.timestamp())}@{domain}>"
    msg.set_content(row.body)
    return msg


def _lease() -> dt.datetime:
    """A new lease end, which is also the claim's token: LEASE from now plus random microseconds, so two
    runs (even at one instant) never hold the same value. Conditional updates compare it for equality."""
    return now() + LEASE + dt.timedelta(microseconds=secrets.randbelow(1_000_000))


def _holding(ident: int, lease: dt.datetime):
    """The row is still claimed by the run whose token is `lease` (no other run took it over)."""
    return db.and_(MailOutbox.id == ident, MailOutbox.status == MailStatus.SENDING, MailOutbox.next_try_at == lease)


def _mark(s: Session, ident: int, lease: dt.datetime, **values) -> bool:
    """Set `values` on the row if this run still holds its claim; commits. False: another run took it."""
    res = s.execute(db.update(MailOutbox).where(_holding(ident, lease)).values(**values)
                    .execution_options(synchronize_session=False))
    s.commit()
    return res.rowcount == 1


def send_pending(*, limit: int = 200, due_only: bool = True) -> SendResult:
    """Send what is waiting (due_only=False: also what waits for its backoff). Own session: safe to run
    from a commit hook. Each claimed row's lease is renewed just before its send, and each mark is
    conditional on still holding it, so a mail is sent and marked by one run only."""
    result = SendResult()
    if not enabled():
        return result
    cfg = current_app.config
    with Session(db.engine, expire_on_commit=False) as s:
        t = now()
        claimable = db.or_(
            db.and_(MailOutbox.status == MailStatus.PENDING,
                    MailOutbox.next_try_at <= t if due_only else db.true()),
            db.and_(MailOutbox.status == MailStatus.SENDING, MailOutbox.next_try_at <= t))
        ids = s.execute(db.select(MailOutbox.id).where(claimable).order_by(MailOutbox.id).limit(limit)).scalars().all()
        lease = _lease()
        leases: dict[int, dt.datetime] = {}
        for ident in ids:
            res = s.execute(db.update(MailOutbox).where(MailOutbox.id == ident, claimable)
                            .values(status=MailStatus.SENDING, attempts=MailOutbox.attempts + 1, next_try_at=lease)
                            .execution_options(synchronize_session=False))
            if res.rowcount == 1:
                leases[ident] = lease
        s.commit()
        if not leases:
            return result
        rows = s.execute(db.select(MailOutbox).where(MailOutbox.id.in_(list(leases)))
                         .order_by(MailOutbox.id)).scalars().all()
        s.commit()
        conn = None
        try:
            conn = _connect(cfg)
        except Exception as e:  # the server is down or refuses us: every claimed row waits for its retry
            for row in rows:
                _retry_or_fail(s, row, leases[row.id], e, result)
            return result
        try:
            for i, row in enumerate(rows):
                # Renew the lease (a fresh token) right before the send: a row another run took over while
                # the earlier ones were sent is skipped, and the lease covers one send, not the batch.
                renewed = _lease()
                if not _mark(s, row.id, leases[row.id], next_try_at=renewed):
                    log.warning("mail %s was taken over by another run; not sent by this one", row.id)
                    continue
                leases[row.id] = renewed
                try:
                    conn.send_message(_message(cfg, row))
                except (smtplib.SMTPServerDisconnected, OSError) as e:
                    for rest in rows[i:]:  # the connection is gone: the rest wait too
                        _retry_or_fail(s, rest, leases[rest.id], e, result)
                    break
                except Exception as e:  # refused (a bad recipient): this row only
                    _retry_or_fail(s, row, leases[row.id], e, result)
                    continue
                sent = dict(status=MailStatus.SENT, sent_at=now(), last_error="")
                if row.kind == "invite":  # delivered: the one-time link is not kept in the outbox any longer
                    sent["body"] = _without_invite_link(s, row)
                if _mark(s, row.id, leases[row.id], **sent):
                    result.sent += 1
                else:  # the send outlasted the lease and another run took the row: that run marks it
                    log.warning("mail %s was taken over by another run while being sent", row.id)
        finally:
            try:
                conn.quit()
            except Exception:
                pass
    if result.sent or result.failed:
        log.info("mail: %s sent, %s to retry, %s failed", result.sent, result.retry, result.failed)
    return result


def _retry_or_fail(s: Session, row: MailOutbox, lease: dt.datetime, error: Exception, result: SendResult) -> None:
    text = f"{type(error).__name__}: {error}"[:500]
    max_attempts = current_app.config.get("MAIL_MAX_ATTEMPTS") or 8
    if row.attempts >= max_attempts:
        values = dict(status=MailStatus.FAILED, last_error=text)
    else:
        values = dict(status=MailStatus.PENDING, last_error=text, next_try_at=now() + backoff(row.attempts))
    if not _mark(s, row.id, lease, **values):  # another run holds it now: its outcome counts, not ours
        return
    if values["status"] == MailStatus.FAILED:
        result.failed += 1
        log.error("mail %s to %s failed for good after %s attempts: %s", row.id, row.to_addr, row.attempts, text)
    else:
        result.retry += 1
        log.warning("mail %s to %s not sent (attempt %s), retrying later: %s", row.id, row.to_addr, row.attempts, text)


def counts() -> dict[str, int]:
    rows = db.session.execute(db.select(MailOutbox.status, db.func.count()).group_by(MailOutbox.status)).all()
    return {str(status): int(n) for status, n in rows}


# --------------------------------------------------------------------------- the officials' daily digest


@dataclasses.dataclass
class DigestItem:
    label: str  # the queue, untranslated (gettext at rendering)
    name: str  # an empty name is a lazy text (registration.queues.UNNAMED_*), rendered in the recipient's language
    due_on: dt.date | None
    link: str
    days_left: int | None = None


def _registration_items(user) -> list[DigestItem]:
    from blueprints.core import registration as reg

    bp = "city" if user.acting_role == Role.CITY else "province"
    labels = {"enterprise": "企业注册审核", "supplier": "供应商注册审核", "change": "资料变更审核"}
    out = []
    for kind in reg.QUEUE_KINDS.get(user.acting_role, ()):
        stmt = reg.queue_select(reg.QueueArgs(kind=kind), user).limit(DIGEST_MAX_ITEMS + 1)
        for obj in db.session.execute(stmt).scalars():
            out.append(DigestItem(labels[kind], reg.display_name(obj), obj.due_on,
                                  url_for(f"{bp}.registration_detail", kind=kind, ident=obj.id)))
    return out


def _city_review_items(user) -> list[DigestItem]:
    from blueprints.core.registration.queues import UNNAMED_ENTERPRISE
    from models import AppStatus, Application, SetStatus, Settlement

    out = []
    for model, status, label, endpoint, arg in (
            (Application, AppStatus.CITY_REVIEW, "申领审核", "city.application_detail", "app_id"),
            (Settlement, SetStatus.CITY_REVIEW, "兑现审核", "city.settlement_detail", "st_id")):
        stmt = (db.select(model, Enterprise.name).join(Enterprise, Enterprise.id == model.enterprise_id)
                .where(model.city_code == user.city_code, model.status == status)
                .order_by(model.due_on.is_(None), model.due_on, model.submitted_at, model.id)
                .limit(DIGEST_MAX_ITEMS + 1))
        for obj, name in db.session.execute(stmt).all():
            out.append(DigestItem(label, name or UNNAMED_ENTERPRISE, obj.due_on, url_for(endpoint, **{arg: obj.id})))
    return out


def _expert_items(user) -> list[DigestItem]:
    from blueprints.core import registration as reg

    from blueprints.core.registration.queues import UNNAMED_SUPPLIER

    stmt = reg.expert_select(user, todo=True).limit(DIGEST_MAX_ITEMS + 1)
    return [DigestItem("专家评审", s.name or UNNAMED_SUPPLIER, s.due_on, url_for("expert.review_detail", ident=s.id))
            for s in db.session.execute(stmt).scalars()]


# The queue a public message waits in, by its category (gettext at rendering, like the other labels).
COMPLAINT_LABELS = {"consult": "留言答复（咨询）", "complaint": "留言答复（投诉）", "report": "留言答复（举报）",
                    "suggestion": "留言答复（建议）"}


def _complaint_items(user) -> list[DigestItem]:
    """Open public messages to answer: for a city, those the province forwarded to it; for the province, those
    not forwarded (its own queue). One query, by deadline."""
    # rule: SUP-5
    from blueprints.core.complaints import OPEN
    from models import Complaint

    if user.acting_role == Role.CITY:
        where, endpoint = Complaint.city_code == user.city_code, "city.complaint_detail"
    else:
        where, endpoint = Complaint.city_code.is_(None), "province.complaint_detail"
    rows = db.session.execute(
        db.select(Complaint.id, Complaint.tracking_no, Complaint.category, Complaint.due_on)
        .where(Complaint.status == OPEN, where).order_by(Complaint.due_on, Complaint.id)
        .limit(DIGEST_MAX_ITEMS + 1)).all()
    return [DigestItem(COMPLAINT_LABELS.get(category, "留言答复"), number, due_on, url_for(endpoint, c_id=ident))
            for ident, number, category, due_on in rows]


def digest_items(user) -> list[DigestItem]:
    """What waits for this official in their queues, overdue first, then by the working days left."""
    role = user.acting_role
    items: list[DigestItem] = []
    if role in (Role.CITY, Role.PROVINCE):
        items += _registration_items(user)
        items += _complaint_items(user)
    if role == Role.CITY:
        items += _city_review_items(user)
    if role == Role.EXPERT:
        items += _expert_items(user)
    left = timeutil.working_days_left_many(i.due_on for i in items)
    for i in items:
        i.days_left = left.get(i.due_on)
    items.sort(key=lambda i: (i.days_left is None, i.days_left if i.days_left is not None else 0))
    return items


def days_left_text(n: int | None) -> str:
    """The queues' time-left badge in words (templates/_macros/ui.html days_left)."""
    if n is None:
        return "—"
    if n < 0:
        return gettext("超期 %(n)s 个工作日", n=-n)
    if n == 0:
        return gettext("今天到期")
    return gettext("剩 %(n)s 个工作日", n=n)


def render_digest(user, items: list[DigestItem], unread: int) -> tuple[str, str]:
    overdue = sum(1 for i in items if i.days_left is not None and i.days_left < 0)
    with force_locale(_locale(user.locale)):
        subject = (f"[{gettext('广东省工业互联网应用服务平台')}] "
                   + gettext("每日待办：共 %(n)s 项，其中超期 %(o)s 项", n=len(items), o=overdue))
        lines = [gettext("%(name)s，您好：", name=user.display_name or user.username), "",
                 gettext("以下是您队列中等待处理的事项，超期的在前。"), ""]
        for i in items[:DIGEST_MAX_ITEMS]:
            lines += [f"- [{days_left_text(i.days_left)}] {gettext(i.label)}{gettext('：')}{i.name}",
                      f"  {_absolute(i.link)}"]
        if items and not _base_url():
            lines += ["", _open_hint()]
        if len(items) > DIGEST_MAX_ITEMS:
            lines += ["", gettext("另有 %(n)s 项未列出，请登录平台查看。", n=len(items) - DIGEST_MAX_ITEMS)]
        if unread:
            lines += ["", gettext("您有 %(n)s 条未读消息。", n=unread)]
        lines += ["", "--", _footer()]
    return subject, "\n".join(lines) + "\n"


def build_digests(on: dt.date | None = None) -> int:
    """Queue today's digest for every official who chose it and has something waiting (once a day)."""
    if not enabled():
        return 0
    on = on or timeutil.today()
    users = db.session.execute(
        db.select(User).where(User.mail_digest.is_(True), User.is_active.is_(True), User.role.in_(DIGEST_ROLES),
                              User.email != "").order_by(User.id)).scalars().all()
    queued = 0
    ctx = None
    if not has_request_context():  # cron: links are built for PUBLIC_BASE_URL
        ctx = current_app.test_request_context(base_url=current_app.config.get("PUBLIC_BASE_URL") or "http://localhost")
        ctx.push()
    try:
        for user in users:
            key = f"digest:{user.id}:{on.isoformat()}"
            if db.session.execute(db.select(MailOutbox.id).where(MailOutbox.dedupe_key == key)).first():
                continue
            items = digest_items(user)
            if not items:
                continue
            unread = db.session.execute(db.select(db.func.count(Notice.id)).where(
                Notice.user_id == user.id, Notice.read_at.is_(None))).scalar_one()
            subject, text = render_digest(user, items, unread)
            try:
                with db.session.begin_nested():
                    db.session.add(MailOutbox(user_id=user.id, kind="digest", dedupe_key=key, to_addr=user.email,
                                              subject=subject[:300], body=text))
            except IntegrityError:  # another run queued it meanwhile
                continue
            queued += 1
        if queued:
            db.session.info[_FLAG] = True
        db.session.commit()
    finally:
        if ctx is not None:
            ctx.pop()
    return queued


# --------------------------------------------------------------------------- commands


def register_cli(app) -> None:
    """`flask mail send-pending`, `flask mail digest`, `flask mail status`."""
    import click
    from flask.cli import AppGroup

    group = AppGroup("mail", help="邮件通知 (e-mail notices)")

    @group.command("send-pending")
    @click.option("--all", "send_all", is_flag=True, help="also the mails still waiting for their retry time")
    def send_pending_cmd(send_all: bool) -> None:
        """Send the mails that are due (a fallback for the job consumer; cron)."""
        if not enabled():
            click.echo("SMTP_HOST is not set: no mail is sent")
            return
        r = send_pending(limit=10_000, due_only=not send_all)
        click.echo(f"{r.sent} sent, {r.retry} to retry, {r.failed} failed")

    @group.command("digest")
    def digest_cmd() -> None:
        """Queue today's queue digest for the officials who chose it, then send it (daily, from cron)."""
        n = build_digests()
        r = send_pending(limit=10_000)
        click.echo(f"{n} digest(s) queued; {r.sent} sent, {r.retry} to retry, {r.failed} failed")

    @group.command("status")
    def status_cmd() -> None:
        """How many mails are pending, sent and failed; the latest failures."""
        c = counts()
        click.echo(", ".join(f"{k}: {c.get(k, 0)}" for k in ("pending", "sending", "sent", "failed")))
        for row in db.session.execute(db.select(MailOutbox).where(MailOutbox.status == MailStatus.FAILED)
                                      .order_by(MailOutbox.id.desc()).limit(20)).scalars():
            click.echo(f"failed #{row.id} to {row.to_addr} after {row.attempts} attempts: {row.last_error}")

    app.cli.add_command(group)
