"""The province's view of the mail outbox (blueprints/province/mail.py): what is waiting or failed, and
putting failed mails back in the queue. Sending itself stays in blueprints/core/mail.py.

- outbox_select(): the failed and the waiting mails (failed first, newest first), searched by recipient
  address or title. Plain columns of one table: no per-row load.
- retry_failed(): failed -> pending, due now, attempts back to 0 (mail._retry_or_fail gives a mail up once
  its attempts reach MAIL_MAX_ATTEMPTS; without the reset a retried mail would fail again at the first
  error). Conditional on the row still being failed, so a double click or two officials at once change a
  row once; the caller writes the audit record and commits.
- failed_count(): one COUNT for the home-page panel.
"""
from __future__ import annotations

import re

from sqlalchemy import Select

from blueprints.core.timeutil import now
from models import MailOutbox, MailStatus, db

OPEN = (MailStatus.FAILED, MailStatus.PENDING, MailStatus.SENDING)
WAITING = (MailStatus.PENDING, MailStatus.SENDING)  # a mail being sent right now still waits, to the reader
ERROR_CHARS = 160
_SUBJECT_PREFIX = re.compile(r"^\[[^\]]*\]\s*")


def outbox_select(q: str = "", status: str = "") -> Select:
    """Failed and waiting mails (status "failed" or "pending": one of them), failed first, then newest first."""
    stmt = db.select(MailOutbox)
    if status == MailStatus.FAILED:
        stmt = stmt.where(MailOutbox.status == MailStatus.FAILED)
    elif status == MailStatus.PENDING:
        stmt = stmt.where(MailOutbox.status.in_(WAITING))
    else:
        stmt = stmt.where(MailOutbox.status.in_(OPEN))
    q = (q or "").strip().lower()
    if q:
        stmt = stmt.where(db.or_(db.func.lower(MailOutbox.to_addr).contains(q, autoescape=True),
                                 db.func.lower(MailOutbox.subject).contains(q, autoescape=True)))
    failed_first = db.case((MailOutbox.status == MailStatus.FAILED, 0), else_=1)
    return stmt.order_by(failed_first, MailOutbox.id.desc())


def retry_failed(ids: list[int] | None = None) -> list[int]:
    """Put failed mails (those of `ids`, or every one) back in the queue, due now, attempts reset.
    Only rows still failed change; returns their ids. Flushes nothing else, commits nothing."""
    stmt = db.update(MailOutbox).where(MailOutbox.status == MailStatus.FAILED)
    if ids is not None:
        stmt = stmt.where(MailOutbox.id.in_(ids))
    stmt = (stmt.values(status=MailStatus.PENDING, attempts=0, next_try_at=now())
            .returning(MailOutbox.id).execution_options(synchronize_session=False))
    return sorted(db.session.execute(stmt).scalars().all())


def failed_count() -> int:
    return db.session.execute(
        db.select(db.func.count(MailOutbox.id)).where(MailOutbox.status == MailStatus.FAILED)).scalar_one()


def title_of(subject: str) -> str:
    """A mail's title without the platform's "[…]" prefix every subject carries."""
    return _SUBJECT_PREFIX.sub("", subject or "", count=1) or (subject or "")


def short_error(text: str, limit: int = ERROR_CHARS) -> str:
    """The last error on one short line: from a traceback only its final line (the exception), never the stack."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        lines = lines[-1:]
    one = " ".join(" ".join(lines).split())
    return one if len(one) <= limit else one[: limit - 1].rstrip() + "…"
