"""The navigation per role and the unread-notice badge.

Each role blueprint registers its menu with register_nav(); the base layout shows the
items of the user's acting role.
"""
from __future__ import annotations

from flask import url_for

from models import Notice, Role, db

NAV: dict[Role, list[tuple[str, str]]] = {}


def register_nav(role: Role, items: list[tuple[str, str]]) -> None:
    """items: (label, endpoint) pairs in menu order."""
    NAV.setdefault(role, []).extend(items)


def nav_for(user) -> list[tuple[str, str]]:
    return [(label, url_for(endpoint)) for label, endpoint in NAV.get(user.acting_role, [])]


def home_endpoint(user) -> str:
    return {
        Role.ENTERPRISE: "enterprise.home",
        Role.SUPPLIER: "supplier.home",
        Role.CITY: "city.home",
        Role.PROVINCE: "province.home",
        Role.EXPERT: "expert.home",
    }[user.acting_role]


UNREAD_CAP = 100  # the badge says "99+" beyond this


def unread_notices(user) -> int:
    """Unread notices, counted up to UNREAD_CAP only: the badge is on every page, and a user
    with thousands of unread notices must not cost a count of all of them per request."""
    unread = (db.select(Notice.id).where(Notice.user_id == user.id, Notice.read_at.is_(None))
              .limit(UNREAD_CAP).subquery())
    return db.session.execute(db.select(db.func.count()).select_from(unread)).scalar_one()


# Home-page panels: each feature adds its own (a template and a function giving its data).
PANELS: dict[Role, list[tuple[int, str, object]]] = {}


def register_panel(role: Role, template: str, context=None, order: int = 50) -> None:
    """template is included on the role's home page with `p` = context(user) (a dict)."""
    PANELS.setdefault(role, []).append((order, template, context or (lambda user: {})))


def panels_for(user) -> list[tuple[str, dict]]:
    items = sorted(PANELS.get(user.acting_role, []), key=lambda x: x[0])
    return [(tpl, fn(user)) for _, tpl, fn in items]
