"""Bearer tokens of data organisations (VER-2): issued by the province, shown once, stored only as SHA-256.

A token is "gdv_" and 43 URL-safe characters (256 random bits). The database keeps its SHA-256 and its
first characters (to recognise it in a list); the token itself exists only on the page that issued it.
A plain hash suffices (no salt, no slow hash): the secret is random and long, not a password.
Functions only flush; the route commits.
"""
from __future__ import annotations

import hashlib
import secrets

from blueprints.core import audit
from blueprints.core.timeutil import now
from models import ApiToken, DataOrg, db

TOKEN_PREFIX = "gdv_"
PREFIX_CHARS = 12  # ApiToken.prefix: "gdv_" and 8 characters
MAX_TOKEN_CHARS = 200  # anything longer is not one of ours (no hashing of megabyte headers)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(org: DataOrg, label: str, user) -> tuple[ApiToken, str]:
    """A new token for `org`: (the stored row, the token to show once)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(org_id=org.id, token_hash=digest(token), prefix=token[:PREFIX_CHARS], label=(label or "").strip()[:100],
                   created_by=getattr(user, "id", None))
    db.session.add(row)
    db.session.flush()
    audit.record("data_org", org.id, "token_issue", actor=user, reason=row.label,
                 data={"token_id": row.id, "prefix": row.prefix})
    return row, token


def revoke(row: ApiToken, user) -> bool:
    """Revoke a token (it gets 401 from then on); False when it was already revoked."""
    if row.revoked_at is not None:
        return False
    row.revoked_at = now()
    audit.record("data_org", row.org_id, "token_revoke", actor=user, reason=row.label,
                 data={"token_id": row.id, "prefix": row.prefix})
    return True


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, value = (header or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > MAX_TOKEN_CHARS:
        return None
    return value


def authenticate(header: str | None) -> ApiToken | None:
    """The live token the header carries, or None (missing, unknown or revoked)."""
    token = bearer(header)
    if token is None:
        return None
    row = db.session.execute(db.select(ApiToken).where(ApiToken.token_hash == digest(token))).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return row
