"""In-app notices: every decision reaches the people it concerns (by e-mail too: core/mail.py)."""
from __future__ import annotations

from flask import current_app, has_request_context, url_for

from models import Notice, User, db


def link(endpoint: str, **values) -> str:
    """A path for a notice link, also outside a request (tests, CLI)."""
    if has_request_context():
        return url_for(endpoint, **values)
    return current_app.url_map.bind("").build(endpoint, values)


def notify_users(user_ids, title: str, body: str = "", link: str = "") -> None:
    """A notice per user, and (SMTP configured) a mail in the same transaction, sent after the commit."""
    from blueprints.core import mail

    ids = set(user_ids)
    for uid in ids:
        db.session.add(Notice(user_id=uid, title=title[:200], body=body, link=link[:300]))
    mail.queue_notice(ids, title, body, link)


def notify_org(*, enterprise_id: int | None = None, supplier_id: int | None = None,
               city_code: str | None = None, title: str, body: str = "", link: str = "") -> None:
    """Notify every active user of an enterprise, a supplier or a city office."""
    q = db.select(User.id).where(User.is_active.is_(True))
    if enterprise_id is not None:
        q = q.where(User.enterprise_id == enterprise_id)
    elif supplier_id is not None:
        q = q.where(User.supplier_id == supplier_id)
    elif city_code is not None:
        q = q.where(User.city_code == city_code)
    else:
        return
    notify_users(db.session.execute(q).scalars().all(), title, body, link)
