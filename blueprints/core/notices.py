"""In-app notices: every decision reaches the people it concerns."""
from __future__ import annotations

from models import Notice, User, db


def notify_users(user_ids, title: str, body: str = "", link: str = "") -> None:
    for uid in set(user_ids):
        db.session.add(Notice(user_id=uid, title=title[:200], body=body, link=link[:300]))


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
