"""Passwords (Argon2id), login rate limits shared by all workers, idempotency keys."""
from __future__ import annotations

import datetime as dt
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError

from blueprints.core.timeutil import now
from models import IdempotencyKey, RateEvent, db

# RFC 9106 low-memory profile: above OWASP's floor (m >= 19 MiB, t >= 2, p = 1).
_hasher = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=1)

COMMON_PASSWORDS = {
    "12345678", "123456789", "1234567890", "password", "password1", "11111111", "88888888",
    "qwertyui", "qwerty123", "abc12345", "a1234567", "iloveyou", "00000000", "66666666",
    "aa123456", "12341234", "woaini1314", "admin123", "1qaz2wsx", "p@ssw0rd", "passw0rd",
}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def password_problem(password: str, username: str = "") -> str | None:
    """A Chinese message when the password is not acceptable, else None (R22)."""
    if len(password) < 10:
        return "密码至少 10 个字符"
    if len(password) > 128:
        return "密码最多 128 个字符"
    if password.lower() in COMMON_PASSWORDS or (username and username.lower() in password.lower()):
        return "密码过于常见或包含用户名，请换一个"
    if len(set(password)) < 4:
        return "密码过于简单，请换一个"
    return None


def dummy_verify() -> None:
    """Spend the same time as a real check, so unknown usernames are not revealed by timing."""
    verify_password(_DUMMY, "not-the-password")


_DUMMY = _hasher.hash("dummy-password-for-timing")


def too_many(key: str, limit: int, window: dt.timedelta) -> bool:
    since = now() - window
    count = db.session.execute(
        db.select(db.func.count(RateEvent.id)).where(RateEvent.key == key, RateEvent.at >= since)
    ).scalar_one()
    return count >= limit


def hit(key: str) -> None:
    # Old events of this key are useless: prune them as we go, so the table stays small.
    db.session.execute(db.delete(RateEvent).where(RateEvent.key == key, RateEvent.at < now() - dt.timedelta(days=1)))
    db.session.add(RateEvent(key=key, at=now()))


def clear(key: str) -> None:
    db.session.execute(db.delete(RateEvent).where(RateEvent.key == key))


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def claim_nonce(user_id: int, key: str) -> bool:
    """Claim a form nonce inside the current transaction; False when it was used before."""
    if not key:
        return True
    try:
        with db.session.begin_nested():
            db.session.add(IdempotencyKey(user_id=user_id, key=key[:64]))
        return True
    except IntegrityError:
        return False
