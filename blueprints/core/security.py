"""Passwords (Argon2id), login rate limits shared by all workers, idempotency keys."""
from __future__ import annotations

import datetime as dt
import math
import secrets
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text
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


# Rate events older than this count for no limit (the longest window is signup's hour) and are pruned.
RATE_RETENTION = dt.timedelta(days=1)
# Each hit deletes at most this many expired events, of any key: a hundred times the inflow of one
# row per hit, so a backlog drains quickly and a request never does unbounded work.
PRUNE_PER_HIT = 100


def serialize(*keys: str) -> None:
    """Count-then-hit must not interleave between requests for the same key, or a burst of
    parallel guesses (on several workers or servers) would all see a count under the limit.
    SQLite: a POST's transaction already holds the write lock. PostgreSQL: a transaction-level
    advisory lock per key (in a key space of its own), taken in a fixed order; held to commit."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        db.session.execute(text("SELECT pg_advisory_xact_lock(7151, hashtext(:k))"), {"k": key})


def too_many(key: str, limit: int, window: dt.timedelta) -> bool:
    if window > RATE_RETENTION:  # the events would be pruned before the window ends: the limit would leak
        raise ValueError(f"rate window {window} is longer than RATE_RETENTION {RATE_RETENTION}")
    since = now() - window
    count = db.session.execute(
        db.select(db.func.count(RateEvent.id)).where(RateEvent.key == key, RateEvent.at >= since)
    ).scalar_one()
    return count >= limit


def prune_rate_events(batch: int = PRUNE_PER_HIT) -> int:
    """Delete expired rate events of every key (ix_rate_at), at most `batch` of them; returns how many.

    Addresses that never come back used to keep their rows forever. On PostgreSQL, rows another
    transaction is already deleting are skipped rather than waited for, so concurrent logins never
    queue behind each other's pruning.
    """
    expired = (db.select(RateEvent.id).where(RateEvent.at < now() - RATE_RETENTION)
               .order_by(RateEvent.at).limit(batch).with_for_update(skip_locked=True))
    result = db.session.execute(
        db.delete(RateEvent).where(RateEvent.id.in_(expired)).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def hit(key: str) -> None:
    # Prune as we go (one bounded DELETE, as before when it pruned only this key), so the table
    # holds about one day of attempts however many addresses have come and gone.
    prune_rate_events()
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


@dataclass(frozen=True)
class Limit:
    """How many attempts `key` may make. A window limit refuses once `limit` attempts fall within `window`.
    A soft limit (`delay` set) lets the first `limit` through, then makes each further attempt wait `delay`
    after the latest one, doubled for every attempt beyond the limit, never longer than `longest`."""

    key: str
    limit: int
    window: dt.timedelta
    delay: dt.timedelta | None = None
    longest: dt.timedelta | None = None


@dataclass
class Attempt:
    """What attempt() decided: `wait` > 0 means refused (nothing was counted); else `ids` are the rows
    that count this attempt, and `before[key]` how many attempts the key had in its window before it."""

    wait: dt.timedelta
    ids: list[int] = field(default_factory=list)
    before: dict[str, int] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return self.wait > dt.timedelta(0)

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.wait.total_seconds() / 60))


def _wait(lim: Limit, at: dt.datetime) -> tuple[dt.timedelta, int]:
    """How long `lim.key` must still wait at `at`, and how many attempts it has in its window."""
    if lim.window > RATE_RETENTION:  # the events would be pruned before the window ends: the limit would leak
        raise ValueError(f"rate window {lim.window} is longer than RATE_RETENTION {RATE_RETENTION}")
    inside = (RateEvent.key == lim.key, RateEvent.at >= at - lim.window)
    count, latest = db.session.execute(
        db.select(db.func.count(RateEvent.id), db.func.max(RateEvent.at)).where(*inside)).one()
    zero = dt.timedelta(0)
    if count < lim.limit:
        return zero, count
    if lim.delay is None:  # until enough of the counted attempts have left the window
        oldest = db.session.execute(db.select(RateEvent.at).where(*inside).order_by(RateEvent.at)
                                    .offset(count - lim.limit).limit(1)).scalar_one()
        return max(zero, oldest + lim.window - at), count
    pause = min(lim.delay * 2 ** min(count - lim.limit, 20), lim.longest or lim.window)
    return max(zero, latest + pause - at), count


def attempt(*limits: Limit) -> Attempt:
    """Count one attempt under every limit, or refuse it, as one atomic step (R24, F14).

    Runs in a short write transaction of its own, committed before the caller checks anything (a
    password): the keys are locked (SQLite: BEGIN IMMEDIATE; PostgreSQL: advisory locks), counted, and
    either all get a row for this attempt or none does. A burst on any number of workers or servers
    therefore lets exactly `limit` attempts through. A success can take its rows back (forget(ids)).
    """
    from blueprints.core.sqlite_tx import write_transaction

    with write_transaction():
        serialize(*(lim.key for lim in limits))
        at = now()
        wait, before = dt.timedelta(0), {}
        for lim in limits:
            w, before[lim.key] = _wait(lim, at)
            wait = max(wait, w)
        if wait:
            db.session.rollback()
            return Attempt(wait, before=before)
        prune_rate_events()
        rows = [RateEvent(key=lim.key, at=at) for lim in limits]
        db.session.add_all(rows)
        db.session.flush()
        ids = [r.id for r in rows]
        db.session.commit()
    return Attempt(dt.timedelta(0), ids, before)


def forget(ids: list[int]) -> None:
    """Take back the rows of an attempt that succeeded (in the caller's transaction)."""
    if ids:
        db.session.execute(db.delete(RateEvent).where(RateEvent.id.in_(ids)))


def address_limited(kind: str, limit: int, window: dt.timedelta) -> bool:
    """Count this request of the client's address under `kind`; True when the address is over `limit` for
    the window. For public pages (look-ups, objections): one short write transaction of its own."""
    from flask import request

    return attempt(Limit(f"{kind}:addr:{request.remote_addr}", limit, window)).refused
