"""Password attempts: a soft lock shared by every worker and server (R24, F14).

Each attempt is counted before its password is checked (security.attempt: one atomic step under
the keys' lock), so guesses sent in parallel to any number of workers see each other.

- account + address: the first LOGIN_LIMIT_PER_ACCOUNT failures are checked at once; after that each
  attempt waits LOGIN_DELAY_SECONDS after the latest, doubled for every further failure, never more
  than LOGIN_WINDOW_MINUTES. Failures are remembered for a day; a success forgets them.
- address (any account): LOGIN_LIMIT_PER_ADDRESS failures per window; account (any address):
  LOGIN_LIMIT_ACCOUNT_TOTAL failures per window.
- a known device (a signed cookie set at a successful login, naming the accounts that logged in on it)
  is held by none of these, so guessing from elsewhere cannot lock the owner out; its own failures
  have a soft lock of their own, per device and account.
- the owner is told (a notice) when the soft lock begins, at most once per window.
Refusals read the same whether or not the account exists.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field

from flask import after_this_request, current_app, request, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from blueprints.core import notices, security
from blueprints.core.timeutil import now
from models import RateEvent, User, db

DEVICE_DAYS = 180
DEVICE_ACCOUNTS = 5  # accounts remembered per device (a shared office computer)
_SALT = "known-device"


def _key(*parts: str) -> str:
    key = ":".join(parts)
    return key if len(key) <= 120 else f"{parts[0]}:h:{hashlib.sha256(key.encode()).hexdigest()[:40]}"


def _cookie_name() -> str:
    return "__Host-device" if current_app.config.get("COOKIE_SECURE") else "device"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=_SALT)


def _device() -> dict:
    raw = request.cookies.get(_cookie_name(), "")
    if not raw:
        return {}
    try:
        data = _serializer().loads(raw, max_age=DEVICE_DAYS * 86400)
    except BadSignature:
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("u"), list) else {}


def known_device(user: User | None) -> str | None:
    """This browser's device id when the account logged in on it before, else None."""
    data = _device()
    return str(data.get("d")) if user is not None and user.id in data.get("u", []) else None


def remember_device(user: User) -> None:
    """Mark this browser as a known device of the account (the cookie goes with this request's response)."""
    data = _device()
    ids = [i for i in data.get("u", []) if i != user.id][-(DEVICE_ACCOUNTS - 1):] + [user.id]
    value = _serializer().dumps({"d": data.get("d") or secrets.token_urlsafe(12), "u": ids})
    secure = bool(current_app.config.get("COOKIE_SECURE"))

    @after_this_request
    def _set(resp):
        resp.set_cookie(_cookie_name(), value, max_age=DEVICE_DAYS * 86400, httponly=True, samesite="Lax",
                        secure=secure, path="/")
        return resp


@dataclass
class Gate:
    """One password attempt: refused (wait), or counted under `limits` until it succeeds."""

    attempt: security.Attempt
    soft: security.Limit
    totals: list[security.Limit] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return self.attempt.refused

    @property
    def message(self) -> str:
        return _("尝试次数过多，请 %(n)s 分钟后再试", n=self.attempt.minutes)


def _soft(key: str) -> security.Limit:
    cfg = current_app.config
    return security.Limit(key, cfg["LOGIN_LIMIT_PER_ACCOUNT"], security.RATE_RETENTION,
                          delay=dt.timedelta(seconds=cfg["LOGIN_DELAY_SECONDS"]),
                          longest=dt.timedelta(minutes=cfg["LOGIN_WINDOW_MINUTES"]))


def enter_login(username: str, user: User | None) -> Gate:
    """Count a login attempt for `username` from this address (commits), or refuse it."""
    cfg = current_app.config
    window = dt.timedelta(minutes=cfg["LOGIN_WINDOW_MINUTES"])
    name, addr = username.lower(), request.remote_addr or ""
    device = known_device(user)
    if device:
        soft, totals = _soft(_key("login:device", device, "user", str(user.id))), []
    else:
        soft = _soft(_key("login:user", name, "addr", addr))
        totals = [security.Limit(_key("login:user", name), cfg["LOGIN_LIMIT_ACCOUNT_TOTAL"], window),
                  security.Limit(_key("login:addr", addr), cfg["LOGIN_LIMIT_PER_ADDRESS"], window)]
    return Gate(security.attempt(soft, *totals), soft, totals)


def enter_password_check(user: User) -> Gate:
    """Count a check of the signed-in user's current password (commits), or refuse it."""
    soft = _soft(_key("password:user", str(user.id)))
    return Gate(security.attempt(soft), soft)


def succeeded(gate: Gate) -> None:
    """The password was right: forget this key's failures and take this attempt off the totals."""
    security.clear(gate.soft.key)
    security.forget(gate.attempt.ids)


def failed(gate: Gate, user: User | None) -> None:
    """The password was wrong: the attempt stays counted; the owner is told when the soft lock begins."""
    before = gate.attempt.before
    starts = before.get(gate.soft.key) == gate.soft.limit - 1 or any(
        before.get(t.key) == t.limit - 1 for t in gate.totals[:1])
    if user is None or not starts:
        return
    told = _key("login:told", str(user.id))
    window = dt.timedelta(minutes=current_app.config["LOGIN_WINDOW_MINUTES"])
    if security.too_many(told, 1, window):
        return
    db.session.add(RateEvent(key=told, at=now()))
    notices.notify_users(
        [user.id], "您的账号有多次密码错误的登录尝试",
        f"来自地址 {request.remote_addr or '未知'} 的多次尝试使用了错误的密码，我们已暂时放慢这些尝试。"
        "在您以前登录过的设备上仍可正常登录。如果这不是您本人，请尽快修改密码。",
        url_for("auth.password_change"))
