"""The second factor of logins (R21): TOTP enrolled by a QR code, recovery codes, remembered devices.

Officials (province, city, operator, expert) must use it; enterprises and suppliers may turn it on from
their account page. After the password a session is only half open: gate() sends it to the code step
(or, for an official not yet enrolled, to enrolment) and lets it reach nothing else until the second
factor is done, which marks the session (session["mfa"] == the user's id).

A TOTP code is accepted for its own 30-second step only, and once: the last step used is stored and
moved forward by one conditional UPDATE, so two workers cannot both accept the same code.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta

import pyotp
import segno
from flask import current_app, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy.orm.attributes import set_committed_value

from blueprints.core.timeutil import now
from models import RecoveryCode, Role, TrustedDevice, User, db

REQUIRED_ROLES = frozenset({Role.PROVINCE, Role.CITY, Role.OPERATOR, Role.EXPERT})
ISSUER = "广东省工业互联网应用服务平台"
STEP_SECONDS = 30
RECOVERY_CODES = 10
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no i, l, o, 0, 1: read off paper without doubt
# While the second factor is pending: its own steps, logging out, the language switch and static files.
PENDING_ENDPOINTS = frozenset({"auth.two_factor_code", "auth.two_factor_enrol", "auth.logout", "auth.lang_set",
                               "static"})


# --------------------------------------------------------------------------- who, and where a session stands


def required(user) -> bool:
    """Officials must use a second factor (TOTP_REQUIRED=0 turns this off, for a local demo only)."""
    return user.role in REQUIRED_ROLES and bool(current_app.config.get("TOTP_REQUIRED", True))


def enabled(user) -> bool:
    return bool(user.totp_secret)


def done(user) -> bool:
    return session.get("mfa") == user.id


def mark_done(user) -> None:
    session["mfa"] = user.id


def pending(user) -> bool:
    """Past the password, not yet past the second factor it needs."""
    return (required(user) or enabled(user)) and not done(user)


def step_endpoint(user) -> str:
    return "auth.two_factor_code" if enabled(user) else "auth.two_factor_enrol"


def gate():
    """before_request: a half-open session reaches only the second-factor steps (and logout)."""
    if request.endpoint is None or request.endpoint in PENDING_ENDPOINTS or request.blueprint == "api":
        return None  # the API authenticates by its bearer token alone: a session opens nothing there
    if not current_user.is_authenticated or not pending(current_user):
        return None
    from blueprints.auth import safe_next
    from blueprints.core.htmx import is_htmx
    from htmx_flask import make_response as hx_response

    back = safe_next(request.full_path.rstrip("?")) if request.method == "GET" and not is_htmx() else None
    target = url_for(step_endpoint(current_user), next=back)
    if is_htmx():
        return hx_response("", 204, redirect=target)
    return redirect(target)


def after_password(user, next_url: str | None):
    """Where the password step leads: the code step, enrolment, or (no second factor needed, or a
    remembered device) the page asked for."""
    from blueprints.core.nav import home_endpoint

    if enabled(user) and device_remembered(user):
        mark_done(user)
    if pending(user):
        return redirect(url_for(step_endpoint(user), next=next_url), 303)
    return redirect(next_url or url_for(home_endpoint(user)), 303)


def template_globals() -> dict:
    """mfa_pending: the layout shows a half-open session only the way out."""
    from flask import has_request_context

    ok = has_request_context() and current_user.is_authenticated
    return {"mfa_pending": bool(ok and pending(current_user))}


# --------------------------------------------------------------------------- TOTP


def setup_secret(user) -> str:
    """The secret offered during enrolment, the same on every reload until confirmed or abandoned.

    The session (signed, not encrypted: its cookie is readable) holds only a random nonce; the secret is
    derived from it with the server's key, so the cookie never shows a secret that will become permanent."""
    nonce = session.get("totp_setup")
    if not nonce or len(nonce) > 64:
        nonce = session["totp_setup"] = secrets.token_urlsafe(16)
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    digest = hmac.new(key, f"totp-setup\0{user.id}\0{nonce}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:32]  # 32 base32 characters: 160 bits


def forget_setup() -> None:
    session.pop("totp_setup", None)


def provisioning_uri(user, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def qr_svg(user, secret: str) -> str:
    """The enrolment QR code as inline SVG, drawn here (segno): the secret never leaves the server."""
    return segno.make(provisioning_uri(user, secret), error="m").svg_inline(scale=4, dark="#000", light="#fff")


def grouped(secret: str) -> str:
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def current_step() -> int:
    return int(now().timestamp()) // STEP_SECONDS


def normalise(code: str) -> str:
    return "".join(ch for ch in (code or "") if ch.isalnum()).lower()


def code_matches(secret: str, code: str, step: int) -> bool:
    code = normalise(code)
    if len(code) != 6 or not code.isdigit():
        return False
    return hmac.compare_digest(pyotp.TOTP(secret).at(step * STEP_SECONDS), code)


def use_totp(user, code: str) -> bool:
    """True when `code` is this step's and the step was not used before; the step is then spent."""
    step = current_step()
    if not user.totp_secret or not code_matches(user.totp_secret, code, step):
        return False
    spent = db.session.execute(
        db.update(User)
        .where(User.id == user.id, db.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


# --------------------------------------------------------------------------- recovery codes


def _hash(value: str) -> str:
    return hashlib.sha256(normalise(value).encode()).hexdigest()


def new_recovery_codes(user, *, locked: bool = False) -> list[str]:
    """Replace the user's recovery codes with 10 new ones (about 79 bits each); only hashes are kept.
    Two renewals at once take turns on the user's row, so exactly one set of 10 remains."""
    if not locked:
        _lock(user)
    db.session.execute(db.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["-".join("".join(secrets.choice(_CODE_ALPHABET) for _ in range(4)) for _ in range(4))
             for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash(c)) for c in codes)
    return codes


def use_recovery_code(user, code: str) -> bool:
    if len(normalise(code)) != 16:
        return False
    spent = db.session.execute(
        db.update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash(code), RecoveryCode.used_at.is_(None))
        .values(used_at=now())
        .execution_options(synchronize_session=False)
    )
    return spent.rowcount == 1


def recovery_codes_left(user) -> int:
    return db.session.execute(
        db.select(db.func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).scalar_one()


def use_code(user, code: str) -> str | None:
    """Check a code from the code step: "totp", "recovery", or None when it is neither."""
    if use_totp(user, code):
        return "totp"
    if use_recovery_code(user, code):
        return "recovery"
    return None


# --------------------------------------------------------------------------- enrolment and turning off


def _lock(user) -> None:
    """Hold the user's row (PostgreSQL: FOR UPDATE; SQLite: a POST already holds the write lock) and read it
    afresh, so two requests changing the second factor at once take turns and see each other's result."""
    db.session.execute(db.select(User.id).where(User.id == user.id).with_for_update())
    db.session.refresh(user)


def enrol(user, secret: str, step: int) -> list[str] | None:
    """Save a confirmed secret (the confirming code's step is spent); returns the new recovery codes, or
    None when another request enrolled the account meanwhile (its codes stand; nothing is changed)."""
    _lock(user)
    if user.totp_secret:
        return None
    user.totp_secret = secret
    user.totp_enabled_at = now()
    user.totp_last_step = step
    forget_devices(user)
    return new_recovery_codes(user, locked=True)


def forget_code_failures(user) -> None:
    """A new password ends any guessing of codes: the account's wrong-code counts start again (the
    limits' keys are those of auth_two_factor._attempt; the caller commits)."""
    from blueprints.core import security

    for key in (f"2fa:user:{user.id}", f"2fa:day:{user.id}"):
        security.clear(key)


def turn_off(user) -> None:
    """Remove the second factor with its recovery codes and remembered devices."""
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(db.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    forget_devices(user)


# --------------------------------------------------------------------------- remembered devices


def device_cookie() -> str:
    return "__Host-mfa_device" if current_app.config.get("COOKIE_SECURE") else "mfa_device"


def remember_device(user) -> str:
    """A new remembered device for this user; returns the token for the cookie (set_device_cookie)."""
    db.session.execute(db.delete(TrustedDevice).where(TrustedDevice.user_id == user.id, TrustedDevice.expires_at <= now()))
    token = secrets.token_urlsafe(32)
    days = current_app.config.get("TRUSTED_DEVICE_DAYS", 30)
    db.session.add(TrustedDevice(user_id=user.id, token_hash=_hash_token(token), expires_at=now() + timedelta(days=days)))
    return token


def set_device_cookie(response, token: str) -> None:
    days = current_app.config.get("TRUSTED_DEVICE_DAYS", 30)
    response.set_cookie(device_cookie(), token, max_age=days * 86400, path="/", httponly=True,
                        secure=bool(current_app.config.get("COOKIE_SECURE")), samesite="Lax")


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def device_remembered(user) -> bool:
    token = request.cookies.get(device_cookie())
    if not token or len(token) > 100:
        return False
    return db.session.execute(
        db.select(TrustedDevice.id).where(TrustedDevice.token_hash == _hash_token(token),
                                          TrustedDevice.user_id == user.id, TrustedDevice.expires_at > now())
    ).first() is not None


def devices_count(user) -> int:
    return db.session.execute(
        db.select(db.func.count(TrustedDevice.id)).where(TrustedDevice.user_id == user.id, TrustedDevice.expires_at > now())
    ).scalar_one()


def forget_devices(user) -> None:
    db.session.execute(db.delete(TrustedDevice).where(TrustedDevice.user_id == user.id))
