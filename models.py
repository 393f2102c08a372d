"""The data model of the service platform: one module, typed SQLAlchemy models.

Money is integer fen (BigInteger), never float. Times are timezone-aware UTC through
UTCDateTime; deadlines are local dates. Status values are lower_snake and never renamed
(a rename strands records). Models never import flask.request.

Sections: foundation (cities, users, audit, notices, files, calendar, rate limits),
registration (enterprise, supplier), catalog and cycles, applications and vouchers.
Later issues (settlement, verification, payout, supervision) add their own sections.
"""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Optional

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    literal_column,
    or_,
    select,
    text as sa_text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC; returns aware UTC datetimes on every engine."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: use timeutil.now()")
        value = value.astimezone(dt.timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


def _now() -> dt.datetime:
    """The column default: the current instant in UTC, as timeutil.now (models imports nothing from blueprints)."""
    return dt.datetime.now(dt.timezone.utc)


class Role(enum.StrEnum):
    ENTERPRISE = "enterprise"
    SUPPLIER = "supplier"
    CITY = "city"
    PROVINCE = "province"
    EXPERT = "expert"
    OPERATOR = "operator"


ROLE_LABELS = {
    Role.ENTERPRISE: "工业企业",
    Role.SUPPLIER: "供应商",
    Role.CITY: "地市经信部门",
    Role.PROVINCE: "省工业和信息化厅",
    Role.EXPERT: "专家",
    Role.OPERATOR: "第三方机构",
}

PROVINCE_BODY = "province"


# --------------------------------------------------------------------------- foundation


class City(db.Model):
    """One of Guangdong's 21 prefecture-level cities (code = administrative division code)."""

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(20), unique=True)
    name_en: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer, default=0)


class User(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), index=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    # Scope: an enterprise or supplier user belongs to one organisation; a city officer
    # (and an operator acting for a city) to one city; an operator with no city acts for
    # the province.
    enterprise_id: Mapped[Optional[int]] = mapped_column(ForeignKey("enterprise.id"), index=True)
    supplier_id: Mapped[Optional[int]] = mapped_column(ForeignKey("supplier.id"), index=True)
    city_code: Mapped[Optional[str]] = mapped_column(ForeignKey("city.code"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on logout (all sessions), password change and disable: every older cookie dies.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    # Second factor (R21): the TOTP secret (base32) once enrolled, and the last time step accepted,
    # so a code works once. Required for officials (blueprints/core/two_factor.py), optional for others.
    totp_secret: Mapped[Optional[str]] = mapped_column(String(64))
    totp_enabled_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[Optional[int]] = mapped_column(BigInteger)
    locale: Mapped[str] = mapped_column(String(10), default="zh_Hans")
    # Notices also go by e-mail to this address (an enterprise's or supplier's user without one gets
    # them at the organisation's contact e-mail); an official may take one daily digest of the queues
    # instead of a mail per notice (blueprints/core/mail.py).
    email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    mail_digest: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    password_changed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    # Colleagues: an enterprise's or supplier's first account manages its members (invites, disables,
    # marks signatories); only a signatory (legal representative or authorised signatory) makes the
    # organisation's declarations and commitments; the others prepare. Officials ignore both flags.
    is_org_admin: Mapped[bool] = mapped_column(Boolean, default=True)
    is_signatory: Mapped[bool] = mapped_column(Boolean, default=True)

    enterprise: Mapped[Optional["Enterprise"]] = relationship(foreign_keys=[enterprise_id])
    supplier: Mapped[Optional["Supplier"]] = relationship(foreign_keys=[supplier_id])
    city: Mapped[Optional[City]] = relationship()

    # Flask-Login protocol (written out so the session id carries the version).
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def acting_role(self) -> Role:
        """The role whose permissions this user exercises (an operator borrows its body's)."""
        if self.role == Role.OPERATOR:
            return Role.CITY if self.city_code else Role.PROVINCE
        return Role(self.role)

    @property
    def body(self) -> str:
        """The body the user acts for, as recorded in the audit trail."""
        if self.acting_role == Role.CITY:
            return f"city:{self.city_code}"
        if self.acting_role in (Role.PROVINCE, Role.EXPERT):
            return PROVINCE_BODY
        if self.enterprise_id:
            return f"enterprise:{self.enterprise_id}"
        if self.supplier_id:
            return f"supplier:{self.supplier_id}"
        return ""


class RecoveryCode(db.Model):
    """A one-time recovery code of the second factor (R21): only its SHA-256 is kept; shown once."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    used_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)


class TrustedDevice(db.Model):
    """A browser whose second factor is remembered for 30 days (R21): the cookie holds a random token,
    the database its SHA-256. Resetting or turning off the second factor, or a new password, forgets all."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AuditEvent(db.Model):
    """Append-only, hash-chained trail of every state change (SUP-1).

    UPDATE and DELETE are refused by database triggers (see blueprints/core/audit.py);
    row_hash = sha256(prev_hash + canonical row), so an edited row breaks the chain.
    """

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    actor_role: Mapped[str] = mapped_column(String(16), default="")
    body: Mapped[str] = mapped_column(String(40), default="")
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str] = mapped_column(String(40), default="")
    to_state: Mapped[str] = mapped_column(String(40), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[Optional[dict]] = mapped_column(JSON)
    ip: Mapped[str] = mapped_column(String(64), default="")
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    row_hash: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (Index("ix_audit_entity", "entity_type", "entity_id", "id"),)


class Notice(db.Model):
    """An in-app notice to one user (decisions, returns, deadlines)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(300), default="")
    read_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_notice_user_unread", "user_id", "read_at", "id"),
        Index("ix_notice_user", "user_id", "id"),  # the notice list, newest first
    )


class TeamInvite(db.Model):
    """An invitation for a colleague to join an enterprise or supplier: the account exists (inactive)
    from the invitation on; the colleague sets a password through a one-time link (only its SHA-256
    is stored), valid for INVITE_DAYS."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(120), default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    user: Mapped["User"] = relationship(foreign_keys=[user_id])
    created_by: Mapped["User"] = relationship(foreign_keys=[created_by_id])


class StoredFile(db.Model):
    """An uploaded or generated document; bytes live in UPLOAD_DIR under their SHA-256.

    owner_type/owner_id name the record the file belongs to; it is served only through
    that record's access check (DOC-3).
    """

    __tablename__ = "stored_file"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    mime: Mapped[str] = mapped_column(String(100))  # xlsx: 65 characters
    original_name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(40), default="")
    owner_type: Mapped[str] = mapped_column(String(40), default="")
    owner_id: Mapped[Optional[int]] = mapped_column(Integer)
    uploaded_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)

    __table_args__ = (Index("ix_file_owner", "owner_type", "owner_id"),)


class CalendarDay(db.Model):
    """An admin override of the official working-day calendar (SLA-4)."""

    __tablename__ = "calendar_day"
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(100), default="")
    set_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))


class RateEvent(db.Model):
    """One counted attempt (login, lookup); shared by every worker because it is in the DB."""

    __tablename__ = "rate_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)

    # ix_rate_at: pruning deletes by age across every key (security.prune_rate_events).
    __table_args__ = (Index("ix_rate_key_at", "key", "at"), Index("ix_rate_at", "at"))


class IdempotencyKey(db.Model):
    """A form nonce claimed in the same transaction as its effect: a replay does nothing."""

    __tablename__ = "idempotency_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    key: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)

    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idem_user_key"),)


class Setting(db.Model):
    """Scheme settings the province can change (targets, dates); defaults in core/settings."""

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class FigureSnapshot(db.Model):
    """Province-wide figures computed once and shared by every worker and server (blueprints/core/snapshots.py).

    payload is the JSON of the figures as of computed_at; mark is the change marker they were
    computed at (a newer change or an age over the limit makes them stale); refreshing_since is
    set while one worker recomputes them, so the others keep serving the previous payload.
    """

    __tablename__ = "figure_snapshot"
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    payload: Mapped[Optional[Any]] = mapped_column(JSON)
    mark: Mapped[str] = mapped_column(String(200), default="")
    computed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    refreshing_since: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)


# --------------------------------------------------------------------------- registration


class RegStatus(enum.StrEnum):
    DRAFT = "draft"
    CITY_REVIEW = "city_review"
    PROVINCE_REVIEW = "province_review"
    RETURNED = "returned"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # only a profile change (REG-9) can be withdrawn


class Enterprise(db.Model):
    """An industrial enterprise's profile (REG-1). Fields hold the facts in force."""

    id: Mapped[int] = mapped_column(primary_key=True)
    uscc: Mapped[Optional[str]] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    city_code: Mapped[Optional[str]] = mapped_column(ForeignKey("city.code"), index=True)
    legal_rep: Mapped[str] = mapped_column(String(50), default="")
    established_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    revenue_fen: Mapped[Optional[int]] = mapped_column(BigInteger)
    contact_name: Mapped[str] = mapped_column(String(50), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    contact_email: Mapped[str] = mapped_column(String(120), default="")
    dcmm_certified: Mapped[bool] = mapped_column(Boolean, default=False)
    dcmm_subsidy_received: Mapped[bool] = mapped_column(Boolean, default=False)
    no_violation_declared: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default=RegStatus.DRAFT, index=True)
    submitted_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    due_on: Mapped[Optional[dt.date]] = mapped_column(Date, index=True)
    decided_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    # Sanctions set by later issues; eligibility honours them now (ELIG-4, ELIG-8).
    violation_recorded: Mapped[bool] = mapped_column(Boolean, default=False)
    suspended_until_cycle_id: Mapped[Optional[int]] = mapped_column(Integer)
    disqualified: Mapped[bool] = mapped_column(Boolean, default=False)
    # Documents a reviewer needs (DOC-3): the business licence and, when claimed, the DCMM certificate.
    # stored_file ids, set only by blueprints/core/registration/ after checking the file's owner. No
    # FOREIGN KEY: enterprise -> stored_file -> user -> enterprise would make the tables a cycle.
    licence_file_id: Mapped[Optional[int]] = mapped_column(Integer)
    dcmm_file_id: Mapped[Optional[int]] = mapped_column(Integer)
    # The latest return, every reason at once (REG-5): [{"field", "label", "text"}]; older
    # returns are in the audit trail (action "return", data["reasons"]).
    return_reasons: Mapped[list] = mapped_column(JSON, default=list)
    returned_by: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    city: Mapped[Optional[City]] = relationship()
    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_enterprise_queue", "city_code", "status", "due_on"),
        Index("ix_enterprise_directory", "status", "city_code", "name", "id"),  # the province directory
    )


class Supplier(db.Model):
    """A cloud / industrial-internet supplier's profile (REG-2)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    uscc: Mapped[Optional[str]] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    in_province: Mapped[bool] = mapped_column(Boolean, default=True)
    city_code: Mapped[Optional[str]] = mapped_column(ForeignKey("city.code"), index=True)
    categories: Mapped[list] = mapped_column(JSON, default=list)
    endpoints: Mapped[list] = mapped_column(JSON, default=list)
    contact_name: Mapped[str] = mapped_column(String(50), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    contact_email: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[str] = mapped_column(String(20), default=RegStatus.DRAFT, index=True)
    submitted_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    due_on: Mapped[Optional[dt.date]] = mapped_column(Date, index=True)
    decided_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    is_pilot: Mapped[bool] = mapped_column(Boolean, default=False)
    disqualified_until_cycle_id: Mapped[Optional[int]] = mapped_column(Integer)
    disqualified: Mapped[bool] = mapped_column(Boolean, default=False)
    licence_file_id: Mapped[Optional[int]] = mapped_column(Integer)  # stored_file id, as Enterprise's
    capability_file_id: Mapped[Optional[int]] = mapped_column(Integer)
    # Bumped at every submission: expert reviews belong to one round (REG-4).
    review_round: Mapped[int] = mapped_column(Integer, default=0)
    return_reasons: Mapped[list] = mapped_column(JSON, default=list)  # as Enterprise.return_reasons
    returned_by: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    city: Mapped[Optional[City]] = relationship()
    related_parties: Mapped[list["RelatedParty"]] = relationship(
        back_populates="supplier", cascade="all, delete-orphan", order_by="RelatedParty.id"
    )
    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_supplier_queue", "city_code", "status", "due_on"),
        Index("ix_supplier_directory", "status", "city_code", "name", "id"),  # the province directory
    )


# The city's registration queue with every status, in its order (core/registration/queues.py queue_select).
Index("ix_enterprise_review_order", Enterprise.city_code, Enterprise.due_on.is_(None), Enterprise.due_on,
      Enterprise.submitted_at, Enterprise.id)


class RelatedParty(db.Model):
    """A related party (关联方) a supplier declares (REG-2, REL-1)."""

    __tablename__ = "related_party"
    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), index=True)
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    name: Mapped[str] = mapped_column(String(200))

    supplier: Mapped[Supplier] = relationship(back_populates="related_parties")


class ProfileChange(db.Model):
    """A change to an approved profile, reviewed before it applies (REG-9).

    `proposed` holds the new values (model attribute -> JSON value; dates as ISO strings);
    the Enterprise/Supplier row keeps the facts in force until the change is approved.
    city_code is the reviewing city (the one in force at submission; None for a supplier
    outside the province, which goes straight to the province).
    """

    __tablename__ = "profile_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[Optional[int]] = mapped_column(ForeignKey("enterprise.id"), index=True)
    supplier_id: Mapped[Optional[int]] = mapped_column(ForeignKey("supplier.id"), index=True)
    city_code: Mapped[Optional[str]] = mapped_column(ForeignKey("city.code"))
    proposed: Mapped[dict] = mapped_column(JSON, default=dict)
    previous: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=RegStatus.DRAFT, index=True)
    submitted_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    due_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    decided_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    return_reasons: Mapped[list] = mapped_column(JSON, default=list)
    returned_by: Mapped[str] = mapped_column(String(16), default="")
    created_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    enterprise: Mapped[Optional[Enterprise]] = relationship()
    supplier: Mapped[Optional[Supplier]] = relationship()
    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_profile_change_queue", "city_code", "status", "due_on"),
        CheckConstraint("(enterprise_id IS NULL) <> (supplier_id IS NULL)", name="ck_change_one_owner"),
    )

    @property
    def owner(self):
        return self.enterprise or self.supplier


class ExpertReview(db.Model):
    """An expert's score (0-100) and opinion on a supplier's service capability (REG-4).

    One per expert and review round; the province decides with these in view.
    """

    __tablename__ = "expert_review"
    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    round: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    opinion: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)

    expert: Mapped[User] = relationship()
    __table_args__ = (
        UniqueConstraint("supplier_id", "expert_id", "round", name="uq_expert_review_round"),
        CheckConstraint("score >= 0 AND score <= 100", name="ck_expert_score_range"),
    )


# --------------------------------------------------------------------------- catalog, cycles


class CatalogStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


CATALOG_CATEGORIES = (
    "研发设计",
    "生产管控",
    "经营管理",
    "售后服务",
    "云基础资源",
    "工业互联网平台",
    "工业SaaS",
    "工业App",
)


class CatalogVersion(db.Model):
    """A numbered catalog version (CAT-1, CAT-2): a draft is edited, a published one never is."""

    __tablename__ = "catalog_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default=CatalogStatus.DRAFT)
    cumulative_cap_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    published_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    created_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))

    items: Mapped[list["CatalogItem"]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="CatalogItem.position"
    )


class CatalogItem(db.Model):
    __tablename__ = "catalog_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalog_version.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text, default="")
    cap_fen: Mapped[int] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(Integer, default=0)

    version: Mapped[CatalogVersion] = relationship(back_populates="items")
    __table_args__ = (UniqueConstraint("version_id", "code", name="uq_catalog_item_code"),)


class Cycle(db.Model):
    """A voucher cycle (发放批次) with its two announced deadlines (CYC-1, CYC-2, DL-1)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    announced_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    application_deadline: Mapped[dt.date] = mapped_column(Date)
    settlement_deadline: Mapped[dt.date] = mapped_column(Date)
    verification_days: Mapped[int] = mapped_column(Integer, default=5)
    # SLA-3: the city's settlement review time, announced with the cycle (working days).
    settlement_review_days: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)


class CityTarget(db.Model):
    """A city's yearly target and issuance quota (CYC-3); issued_fen can never pass quota_fen."""

    __tablename__ = "city_target"
    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"))
    year: Mapped[int] = mapped_column(Integer)
    target_enterprises: Mapped[int] = mapped_column(Integer, default=0)
    target_amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    quota_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    issued_fen: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        UniqueConstraint("city_code", "year", name="uq_city_target_year"),
        CheckConstraint("issued_fen >= 0 AND issued_fen <= quota_fen", name="ck_quota_not_exceeded"),
    )


class Budget(db.Model):
    """A city's payout budget or pilot fund for a settlement period (CYC-4, PIL-3)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"))
    period: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10), default="general")  # general | pilot
    cap_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    committed_fen: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        UniqueConstraint("city_code", "period", "kind", name="uq_budget_period_kind"),
        CheckConstraint(
            "committed_fen >= 0 AND committed_fen <= cap_fen", name="ck_budget_not_overspent"
        ),
    )


class CycleNotice(db.Model):
    """A public announcement of a cycle's deadlines: the first one and every change (CYC-2, DL-1).

    The previous deadlines are kept so anyone can see what moved, when, and why.
    """

    __tablename__ = "cycle_notice"
    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    kind: Mapped[str] = mapped_column(String(20), default="announce")  # announce | change
    application_deadline: Mapped[dt.date] = mapped_column(Date)
    settlement_deadline: Mapped[dt.date] = mapped_column(Date)
    previous_application_deadline: Mapped[Optional[dt.date]] = mapped_column(Date)
    previous_settlement_deadline: Mapped[Optional[dt.date]] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))

    cycle: Mapped[Cycle] = relationship()


# --------------------------------------------------------------------------- applications


class AppStatus(enum.StrEnum):
    DRAFT = "draft"
    SUPPLIER_REVIEW = "supplier_review"
    CITY_REVIEW = "city_review"
    RETURNED = "returned"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Application(db.Model):
    """A voucher application (申领) backed by one signed contract (APP-1)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), index=True)
    supplier_id: Mapped[Optional[int]] = mapped_column(ForeignKey("supplier.id"), index=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), index=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"))
    catalog_version_id: Mapped[Optional[int]] = mapped_column(ForeignKey("catalog_version.id"))
    catalog_item_id: Mapped[Optional[int]] = mapped_column(ForeignKey("catalog_item.id"))
    contract_no: Mapped[str] = mapped_column(String(64), default="")
    contract_signed_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    contract_fee_fen: Mapped[Optional[int]] = mapped_column(BigInteger)
    contract_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    place_in_guangdong: Mapped[bool] = mapped_column(Boolean, default=True)
    single_fund_declared: Mapped[bool] = mapped_column(Boolean, default=False)
    related_party: Mapped[bool] = mapped_column(Boolean, default=False)
    enterprise_fair_price: Mapped[bool] = mapped_column(Boolean, default=False)
    supplier_fair_price: Mapped[bool] = mapped_column(Boolean, default=False)
    pilot: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default=AppStatus.DRAFT, index=True)
    # First submission time: orders amounts (APP-2, AMT-2); kept across returns.
    submitted_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    item_amount_fen: Mapped[Optional[int]] = mapped_column(BigInteger)
    due_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The enterprise's own related-party declaration (REL-1: "declared by either").
    related_declared: Mapped[bool] = mapped_column(Boolean, default=False)
    # The latest return, listed once and in full (一次性告知); older ones are in the audit trail.
    return_reasons: Mapped[list] = mapped_column(JSON, default=list)
    returned_by: Mapped[str] = mapped_column(String(16), default="")
    confirmed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    decided_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    enterprise: Mapped[Enterprise] = relationship()
    supplier: Mapped[Optional[Supplier]] = relationship()
    cycle: Mapped[Cycle] = relationship()
    catalog_item: Mapped[Optional[CatalogItem]] = relationship()
    catalog_version: Mapped[Optional[CatalogVersion]] = relationship()
    contract_file: Mapped[Optional[StoredFile]] = relationship()
    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_application_city_queue", "city_code", "status", "due_on"),
        Index("ix_application_supplier_queue", "supplier_id", "status"),
        Index("ix_application_enterprise_cycle", "enterprise_id", "cycle_id", "status"),
        # The province's overview, newest submission first (all cities, or one).
        Index("ix_application_submitted", "submitted_at", "id"),
        Index("ix_application_city_submitted", "city_code", "submitted_at", "id"),
    )


# The review queues' orders as indexes, so a page is read in order and stops after 20 rows
# instead of sorting every matching row per view. The expressions must match the ORDER BY
# word for word (blueprints/city/applications.py QUEUE_ORDER, supplier/applications.py with
# APPLICATION_WAITING_LAST); the city's queue only ever shows applications its supplier confirmed, hence
# the partial index (IS NOT NULL terms have no parameters, so SQLite can prove it applies).
_SUBMITTED_AND_CONFIRMED = and_(Application.submitted_at.is_not(None), Application.confirmed_at.is_not(None))
Index("ix_application_city_order", Application.city_code, Application.due_on.is_(None), Application.due_on,
      Application.submitted_at, Application.id,
      sqlite_where=_SUBMITTED_AND_CONFIRMED, postgresql_where=_SUBMITTED_AND_CONFIRMED)
Index("ix_application_city_status_order", Application.city_code, Application.status, Application.due_on.is_(None),
      Application.due_on, Application.submitted_at, Application.id,
      sqlite_where=_SUBMITTED_AND_CONFIRMED, postgresql_where=_SUBMITTED_AND_CONFIRMED)
APPLICATION_WAITING_LAST = Application.status != literal_column("'supplier_review'")
Index("ix_application_supplier_order", Application.supplier_id, APPLICATION_WAITING_LAST,
      Application.submitted_at, Application.id,
      sqlite_where=Application.submitted_at.is_not(None), postgresql_where=Application.submitted_at.is_not(None))


class VoucherStatus(enum.StrEnum):
    ISSUED = "issued"
    VOID = "void"  # 作废: counts for DL-3/DL-4
    RELEASED = "released"  # given back before the application deadline: not counted (DL-2 decision)


class Voucher(db.Model):
    """An issued service voucher: bound forever to its enterprise, contract and supplier (APP-6)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), index=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), index=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"), index=True)
    face_value_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default=VoucherStatus.ISSUED, index=True)
    pilot: Mapped[bool] = mapped_column(Boolean, default=False)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    pdf_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    # DL-2: when and why the voucher became void or was released.
    ended_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    end_reason: Mapped[str] = mapped_column(Text, default="", server_default="")

    application: Mapped[Application] = relationship()
    enterprise: Mapped[Enterprise] = relationship()
    supplier: Mapped[Supplier] = relationship()
    cycle: Mapped[Cycle] = relationship()
    pdf_file: Mapped[Optional[StoredFile]] = relationship()
    __table_args__ = (
        # DL-3/DL-4: an enterprise's void vouchers, in the order they became void.
        Index("ix_voucher_enterprise_status", "enterprise_id", "status", "ended_at"),
        CheckConstraint("face_value_fen > 0", name="ck_voucher_positive"),
        # The voucher lists, newest first: a city's (the busiest city holds ~10,000) and the province's.
        Index("ix_voucher_city_issued", "city_code", "issued_at", "id"),
        Index("ix_voucher_issued", "issued_at", "id"),
    )


class ContractClaim(db.Model):
    """The contract a submitted application stands on (ELIG-6), claimed race-free.

    One row per submitted application; the UNIQUE constraints refuse a second application on
    the same contract (number + supplier) or the same file (SHA-256), even under concurrent
    submissions. The row is deleted when the application is withdrawn or rejected.
    """

    __tablename__ = "contract_claim"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), unique=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"))
    contract_no: Mapped[str] = mapped_column(String(64))
    file_sha256: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("supplier_id", "contract_no", name="uq_claim_supplier_contract"),
        UniqueConstraint("file_sha256", name="uq_claim_file"),
    )


class EnterpriseCycleCounter(db.Model):
    """One row per enterprise and cycle, updated first by every issuance (AMT-2, AMT-3).

    The conditional UPDATE of this row is the per-enterprise lock: concurrent approvals for
    one enterprise compute its remaining cumulative cap one after the other (PostgreSQL row
    lock; SQLite's BEGIN IMMEDIATE already serialises writers).
    """

    __tablename__ = "enterprise_cycle_counter"
    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"))
    issuances: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("enterprise_id", "cycle_id", name="uq_counter_enterprise_cycle"),)


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(db.Model):
    """A piece of long work run outside the request (large export, long PDF, import).

    The state lives here, not in the queue: any worker of any server answers its progress,
    and a job whose consumer died is found by its stale heartbeat and run again.
    """

    __tablename__ = "job"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200), default="")
    params: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    result_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    started_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    finished_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    user: Mapped["User"] = relationship()
    result_file: Mapped[Optional["StoredFile"]] = relationship()

    __table_args__ = (
        Index("ix_job_user", "user_id", "id"),
        Index("ix_job_status_heartbeat", "status", "heartbeat_at"),
    )

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    @property
    def percent(self) -> int:
        if self.status == JobStatus.DONE:
            return 100
        return min(99, self.done * 100 // self.total) if self.total else 0


class MailStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender until next_try_at (a sender that died is taken over then)
    SENT = "sent"
    FAILED = "failed"  # out of attempts: logged, counted by `flask mail status`


class MailOutbox(db.Model):
    """An e-mail waiting to be sent (blueprints/core/mail.py). Written in the transaction of the notice
    it carries, so an action rolled back sends nothing; sent after the commit, retried with backoff."""

    __tablename__ = "mail_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    kind: Mapped[str] = mapped_column(String(16), default="notice")  # notice | digest
    # A digest is one per person and day: the unique key makes a second run of the cron a no-op.
    dedupe_key: Mapped[Optional[str]] = mapped_column(String(64), unique=True)
    to_addr: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default=MailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    sent_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_mail_outbox_status_next", "status", "next_try_at"),)


# --------------------------------------------------------------------------- settlement


class SetStatus(enum.StrEnum):
    DRAFT = "draft"
    SUPPLIER_REVIEW = "supplier_review"
    VERIFICATION = "verification"  # 等待用量核验 (SET-5)
    CITY_REVIEW = "city_review"
    RETURNED = "returned"
    APPROVED = "approved"
    REJECTED = "rejected"


class Settlement(db.Model):
    """A voucher's settlement (兑现) application: invoices, payments and material (SET-1..6).

    One per voucher. submitted_at is stamped once, at the first submission, and orders payouts
    (SET-3, PAY-2); a withdrawal or a return keeps it.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("voucher.id"), unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"))
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), index=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"))
    status: Mapped[str] = mapped_column(String(20), default=SetStatus.DRAFT, index=True)
    submitted_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    last_submitted_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    verified_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    verified_how: Mapped[str] = mapped_column(String(20), default="")  # usage | override
    reached_city_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    due_on: Mapped[Optional[dt.date]] = mapped_column(Date)  # SLA-3, while with the city
    returned_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    resubmit_by: Mapped[Optional[dt.date]] = mapped_column(Date)  # DL-2: 5 working days after a return
    # The latest return, every reason at once: [{"row": "inv-3" | "pay-1" | "", "text": "..."}].
    return_reasons: Mapped[list] = mapped_column(JSON, default=list)
    returned_by: Mapped[str] = mapped_column(String(16), default="")
    decided_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    invoiced_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    bonus_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # AMT-4, paid with this settlement (PAY-7)
    acceptance_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    voucher: Mapped[Voucher] = relationship()
    enterprise: Mapped[Enterprise] = relationship()
    supplier: Mapped[Supplier] = relationship()
    cycle: Mapped[Cycle] = relationship()
    acceptance_file: Mapped[Optional[StoredFile]] = relationship()
    invoices: Mapped[list["SettlementInvoice"]] = relationship(
        back_populates="settlement", order_by="SettlementInvoice.id", cascade="all, delete-orphan")
    payments: Mapped[list["SettlementPayment"]] = relationship(
        back_populates="settlement", order_by="SettlementPayment.id", cascade="all, delete-orphan")
    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_settlement_city_queue", "city_code", "status", "due_on", "submitted_at", "id"),
        Index("ix_settlement_supplier_queue", "supplier_id", "status", "submitted_at", "id"),
        Index("ix_settlement_city_submitted", "city_code", "submitted_at", "id"),
        Index("ix_settlement_submitted", "status", "submitted_at", "id"),
    )

    @property
    def filing_deadline(self) -> dt.date:
        """The last day it may be (re)submitted: the cycle's settlement deadline, or after a return the
        later of that and 5 working days from the return (DL-2 decision)."""
        deadline = self.cycle.settlement_deadline
        if self.status == SetStatus.RETURNED and self.resubmit_by is not None:
            return max(deadline, self.resubmit_by)
        return deadline


class SettlementInvoice(db.Model):
    """One invoice row of a settlement (SET-1); read_data holds what the file itself says."""

    __tablename__ = "settlement_invoice"
    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"), index=True)
    number: Mapped[str] = mapped_column(String(20), default="")
    code: Mapped[str] = mapped_column(String(12), default="")
    issued_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    seller_name: Mapped[str] = mapped_column(String(200), default="")
    seller_uscc: Mapped[str] = mapped_column(String(18), default="")
    total_fen: Mapped[Optional[int]] = mapped_column(BigInteger)
    file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    read_data: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)

    settlement: Mapped[Settlement] = relationship(back_populates="invoices")
    file: Mapped[Optional[StoredFile]] = relationship()


class SettlementPayment(db.Model):
    """One payment proof row of a settlement (SET-1)."""

    __tablename__ = "settlement_payment"
    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"), index=True)
    paid_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    payee_name: Mapped[str] = mapped_column(String(200), default="")
    payee_account: Mapped[str] = mapped_column(String(40), default="")
    amount_fen: Mapped[Optional[int]] = mapped_column(BigInteger)
    file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))

    settlement: Mapped[Settlement] = relationship(back_populates="payments")
    file: Mapped[Optional[StoredFile]] = relationship()


class InvoiceClaim(db.Model):
    """An invoice a submitted settlement stands on, claimed race-free (SET-6).

    One row per invoice key: "no:<issuer USCC>:<number>" and "file:<sha256>". The UNIQUE key
    refuses the same invoice on a second settlement anywhere on the platform, even under
    concurrent submissions. Rows go when the settlement is withdrawn; a rejected settlement
    (false material) keeps them.
    """

    __tablename__ = "invoice_claim"
    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"), index=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)


class BonusGrant(db.Model):
    """The 两化融合 bonus (AMT-4): at most one row per enterprise, ever (UNIQUE)."""

    __tablename__ = "bonus_grant"
    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), unique=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)


# --------------------------------------------------------------------------- usage verification


class VoucherAddress(db.Model):
    """An enterprise-side address the enterprise declared for a voucher (VER-1): a public IP address,
    a CIDR range (at most /24 IPv4, /48 IPv6) or a carrier's line number (专线号). value is normalised."""

    __tablename__ = "voucher_address"
    id: Mapped[int] = mapped_column(primary_key=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("voucher.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # ip | net | line
    value: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)

    __table_args__ = (UniqueConstraint("voucher_id", "value", name="uq_voucher_address"),)


class DataOrg(db.Model):
    """An organisation that pushes connection records by API (VER-2): a supplier or a network operator
    the province registered."""

    __tablename__ = "data_org"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="operator")  # supplier | operator
    supplier_id: Mapped[Optional[int]] = mapped_column(ForeignKey("supplier.id"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)

    supplier: Mapped[Optional[Supplier]] = relationship()


class ApiToken(db.Model):
    """A bearer token of a data organisation: shown once, stored only as its SHA-256, revocable."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("data_org.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # the first characters, to recognise it in a list
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    created_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    revoked_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    last_used_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    org: Mapped[DataOrg] = relationship()


class ConnectionImport(db.Model):
    """One intake of connection records (a CSV file, or an API batch) and what it added (VER-2).

    The records themselves are never stored: only the distinct days they prove (usage_day)."""

    __tablename__ = "connection_import"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(8))  # csv | cli | api
    org_id: Mapped[Optional[int]] = mapped_column(ForeignKey("data_org.id"))
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    sha256: Mapped[Optional[str]] = mapped_column(String(64), unique=True)  # a file imports once
    batch_id: Mapped[Optional[str]] = mapped_column(String(100))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    matched_rows: Mapped[int] = mapped_column(Integer, default=0)
    new_days: Mapped[int] = mapped_column(Integer, default=0)
    vouchers_completed: Mapped[int] = mapped_column(Integer, default=0)
    millis: Mapped[int] = mapped_column(Integer, default=0)  # how long it took (integers only: no float column)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)

    __table_args__ = (UniqueConstraint("org_id", "batch_id", name="uq_import_org_batch"),)

    @property
    def seconds(self) -> float:
        return (self.millis or 0) / 1000

    @seconds.setter
    def seconds(self, value: float) -> None:
        self.millis = round(value * 1000)


class UsageDay(db.Model):
    """A Beijing-time calendar day on which a voucher's enterprise reached its supplier (VER-3)."""

    __tablename__ = "usage_day"
    voucher_id: Mapped[int] = mapped_column(ForeignKey("voucher.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    import_id: Mapped[Optional[int]] = mapped_column(ForeignKey("connection_import.id"))


class VoucherUsage(db.Model):
    """A voucher's usage at a glance (VER-3, VER-4): days counted, first and last seen, the province's
    override either way with its reason."""

    __tablename__ = "voucher_usage"
    voucher_id: Mapped[int] = mapped_column(ForeignKey("voucher.id"), primary_key=True)
    days: Mapped[int] = mapped_column(Integer, default=0)
    first_day: Mapped[Optional[dt.date]] = mapped_column(Date)
    last_day: Mapped[Optional[dt.date]] = mapped_column(Date)
    verified_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)  # when the data first sufficed
    override: Mapped[str] = mapped_column(String(16), default="")  # "" | verified | not_verified
    override_reason: Mapped[str] = mapped_column(Text, default="")
    override_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    override_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    warned_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)  # the 15-day health notice


class CompletionTable(db.Model):
    """A city's 企业“上云上平台”完成情况表 for a cycle (VER-4, DOC-2), as generated and sent."""

    __tablename__ = "completion_table"
    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"))
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"))
    generated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    generated_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    pdf_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    xlsx_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    sent_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    cycle: Mapped[Cycle] = relationship()
    pdf_file: Mapped[Optional[StoredFile]] = relationship(foreign_keys=[pdf_file_id])
    xlsx_file: Mapped[Optional[StoredFile]] = relationship(foreign_keys=[xlsx_file_id])
    __table_args__ = (Index("ix_completion_table_city", "city_code", "cycle_id", "id"),)


# --------------------------------------------------------------------------- publicity and payout


class ListStatus(enum.StrEnum):
    DRAFT = "draft"  # gathered, not yet public; can be discarded
    PUBLISHED = "published"  # public; objections until publicity_ends_on, payable after it (PUB-1)


class SettlementList(db.Model):
    """A city's settlement list (结算清单) for a settlement period (DOC-2, PUB-1); several may follow each
    other in one period (seq)."""

    __tablename__ = "settlement_list"
    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"))
    period: Mapped[str] = mapped_column(String(20))  # "2026-1", as Budget.period
    seq: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default=ListStatus.DRAFT)
    publicity_days: Mapped[int] = mapped_column(Integer, default=7)
    created_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    published_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    published_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    # The last full day of publicity (Beijing): objections until the end of it, payout from the day after.
    publicity_ends_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    entries_count: Mapped[int] = mapped_column(Integer, default=0)
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    pdf_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    xlsx_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))

    city: Mapped["City"] = relationship()
    pdf_file: Mapped[Optional[StoredFile]] = relationship(foreign_keys=[pdf_file_id])
    xlsx_file: Mapped[Optional[StoredFile]] = relationship(foreign_keys=[xlsx_file_id])
    __table_args__ = (
        UniqueConstraint("city_code", "period", "seq", name="uq_settlement_list_seq"),
        Index("ix_settlement_list_public", "status", "publicity_ends_on", "id"),
        Index("ix_settlement_list_city", "city_code", "id"),
        CheckConstraint("publicity_days >= 7", name="ck_publicity_at_least_7_days"),
    )

    @property
    def title(self) -> str:
        from blueprints.core.cycles import period_label

        return f"{self.city.name}{period_label(self.period)}结算清单（第 {self.seq} 批）"

    @property
    def display_title(self) -> str:
        """The title in the reader's language, for pages; `title` stays Chinese for documents and notices."""
        from flask_babel import gettext

        from blueprints.core.cycles import period_label_shown

        return gettext("%(city)s%(period)s结算清单（第 %(seq)s 批）", city=self.city.name,
                       period=period_label_shown(self.period), seq=self.seq)


class EntryStatus(enum.StrEnum):
    LISTED = "listed"  # on a list: in publicity, or after it waiting for payout
    HELD = "held"  # under an unresolved objection (PUB-4)
    REMOVED = "removed"  # taken off the list: an upheld objection, or its draft discarded
    COMMITTED = "committed"  # in a confirmed payout batch: the money is committed (PAY-1)
    PAID = "paid"  # the payment is recorded


class ListEntry(db.Model):
    """One settlement on a settlement list, and its way through publicity and payout (PUB-1..4, PAY-1..7)."""

    __tablename__ = "list_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("settlement_list.id"))
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"), index=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("voucher.id"))
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"))
    seq: Mapped[int] = mapped_column(Integer)  # its row on the list (submission order)
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the settlement's: orders the payout (PAY-2)
    face_fen: Mapped[int] = mapped_column(BigInteger)
    bonus_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # AMT-4, paid with it (PAY-7)
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # face + bonus
    pilot: Mapped[bool] = mapped_column(Boolean, default=False)  # PIL-2: paid first from the pilot fund
    status: Mapped[str] = mapped_column(String(16), default=EntryStatus.LISTED)
    batch_id: Mapped[Optional[int]] = mapped_column(ForeignKey("payout_batch.id"))
    fund: Mapped[str] = mapped_column(String(10), default="")  # pilot | general, once committed
    budget_id: Mapped[Optional[int]] = mapped_column(ForeignKey("budget.id"))
    paid_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    bank_ref: Mapped[str] = mapped_column(String(60), default="")
    paid_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    paid_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    settlement_list: Mapped[SettlementList] = relationship()
    settlement: Mapped["Settlement"] = relationship()
    voucher: Mapped[Voucher] = relationship()
    batch: Mapped[Optional["PayoutBatch"]] = relationship()
    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # The city's payout queue, in submission order (PAY-2).
        Index("ix_list_entry_queue", "city_code", "status", "submitted_at", "id"),
        Index("ix_list_entry_list", "list_id", "seq"),
        # A settlement is on at most one live entry: never listed (so never paid) twice (PAY-6).
        Index("uq_list_entry_live", "settlement_id", unique=True,
              sqlite_where=sa_text("status != 'removed'"), postgresql_where=sa_text("status != 'removed'")),
        CheckConstraint("amount_fen = face_fen + bonus_fen AND amount_fen > 0", name="ck_entry_amount"),
    )


class PayoutBatch(db.Model):
    """A confirmed payout batch of a city for a settlement period (PAY-1..6)."""

    __tablename__ = "payout_batch"
    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"), index=True)
    period: Mapped[str] = mapped_column(String(20))
    entries_count: Mapped[int] = mapped_column(Integer, default=0)
    pilot_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    general_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    waiting_count: Mapped[int] = mapped_column(Integer, default=0)  # left waiting, carried over (PAY-3, PAY-4)
    confirmed_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    confirmed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)


class ObjStatus(enum.StrEnum):
    OPEN = "open"  # with the city
    ESCALATED = "escalated"  # with the province (PUB-3)
    UPHELD = "upheld"  # 成立: the entries are taken off the list
    DISMISSED = "dismissed"  # 不成立: the entries are released


class Objection(db.Model):
    """An objection against entries of a published list (PUB-2, PUB-3): from a logged-in enterprise or
    supplier, or from the public page with a contact; looked up by its tracking number."""

    __tablename__ = "objection"
    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_no: Mapped[str] = mapped_column(String(20), unique=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("settlement_list.id"), index=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"))
    status: Mapped[str] = mapped_column(String(16), default=ObjStatus.OPEN)
    raised_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    enterprise_id: Mapped[Optional[int]] = mapped_column(ForeignKey("enterprise.id"))
    supplier_id: Mapped[Optional[int]] = mapped_column(ForeignKey("supplier.id"))
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact: Mapped[str] = mapped_column(String(100), default="")  # phone or e-mail (public objections)
    text: Mapped[str] = mapped_column(Text)
    file_ids: Mapped[list] = mapped_column(JSON, default=list)  # material (StoredFile ids)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    answer: Mapped[str] = mapped_column(Text, default="")  # the city's answer, or the province's outcome
    answered_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    answered_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    escalated_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    escalation_note: Mapped[str] = mapped_column(Text, default="")
    site_check_on: Mapped[Optional[dt.date]] = mapped_column(Date)  # PUB-3: the experts' on-site check
    site_check_findings: Mapped[str] = mapped_column(Text, default="")

    settlement_list: Mapped[SettlementList] = relationship()
    entries: Mapped[list[ListEntry]] = relationship(secondary="objection_entry", order_by="ListEntry.seq")
    __table_args__ = (Index("ix_objection_city_status", "city_code", "status", "id"),)


class ObjectionEntry(db.Model):
    __tablename__ = "objection_entry"
    objection_id: Mapped[int] = mapped_column(ForeignKey("objection.id"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("list_entry.id"), primary_key=True, index=True)


# --------------------------------------------------------------------------- supervision


class PilotUnit(db.Model):
    """A supplier the province selected as a pilot unit, with its plan (PIL-1); revoked when it fails the
    plan (PIL-4). Supplier.is_pilot mirrors "has an active pilot unit" (PIL-2 reads it)."""

    __tablename__ = "pilot_unit"
    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), index=True)
    plan_title: Mapped[str] = mapped_column(String(200))
    partners: Mapped[str] = mapped_column(Text, default="")  # industry partners, one per line
    targets: Mapped[str] = mapped_column(Text, default="")
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    plan_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | revoked
    selected_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    selected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    revoked_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str] = mapped_column(Text, default="")

    supplier: Mapped[Supplier] = relationship()
    plan_file: Mapped[Optional[StoredFile]] = relationship()


class SpotCheck(db.Model):
    """An on-site spot check by the province or a city (SUP-2): target, date, inspectors, findings, result."""

    __tablename__ = "spot_check"
    id: Mapped[int] = mapped_column(primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16))  # enterprise | supplier | voucher
    target_id: Mapped[int] = mapped_column(Integer)
    city_code: Mapped[Optional[str]] = mapped_column(ForeignKey("city.code"))  # the recording city; None: province
    target_city: Mapped[Optional[str]] = mapped_column(ForeignKey("city.code"))  # the target's city (scope)
    checked_on: Mapped[dt.date] = mapped_column(Date)
    inspectors: Mapped[str] = mapped_column(String(300))
    findings: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(16))  # pass | issues | fail
    file_ids: Mapped[list] = mapped_column(JSON, default=list)
    created_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    __table_args__ = (Index("ix_spot_check_target", "target_type", "target_id"),
                      Index("ix_spot_check_city", "target_city", "id"))


class Recovery(db.Model):
    """A recovery (收回) of the unreasonable part of a paid voucher found by an audit (REL-2)."""

    __tablename__ = "recovery"
    id: Mapped[int] = mapped_column(primary_key=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("voucher.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("list_entry.id"), index=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    spot_check_id: Mapped[Optional[int]] = mapped_column(ForeignKey("spot_check.id"))
    finding: Mapped[str] = mapped_column(Text, default="")  # the audit finding it rests on
    recorded_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    returned_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    returned_ref: Mapped[str] = mapped_column(String(60), default="")
    __table_args__ = (CheckConstraint("amount_fen > 0", name="ck_recovery_positive"),)


class Sanction(db.Model):
    """A measure against an enterprise or a supplier (REL-3, SUP-4): disqualified for a cycle and the next
    (kind "disqualify", cycle_id), suspended until lifted ("suspend"), or cancelled for fraud ("cancel")."""

    __tablename__ = "sanction"
    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[Optional[int]] = mapped_column(ForeignKey("enterprise.id"), index=True)
    supplier_id: Mapped[Optional[int]] = mapped_column(ForeignKey("supplier.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # disqualify | suspend | cancel
    cycle_id: Mapped[Optional[int]] = mapped_column(ForeignKey("cycle.id"))  # disqualify: from this cycle
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    lifted_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    lifted_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    lift_reason: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (CheckConstraint("(enterprise_id IS NULL) <> (supplier_id IS NULL)", name="ck_sanction_one_party"),)


class SupplierRating(db.Model):
    """An enterprise's rating of its supplier (1-5, comment) once its settlement is approved (SUP-3)."""

    __tablename__ = "supplier_rating"
    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"), unique=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    stars: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    __table_args__ = (CheckConstraint("stars BETWEEN 1 AND 5", name="ck_rating_stars"),)


class SupplierAward(db.Model):
    """广东省工业互联网优秀供应商 for a year (SUP-3)."""

    __tablename__ = "supplier_award"
    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    awarded_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    awarded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    __table_args__ = (UniqueConstraint("supplier_id", "year", name="uq_supplier_award_year"),)


class SupplierQuota(db.Model):
    """A supplier's yearly cap on face value issued through it; issued_fen never passes quota_fen (the
    province's default per supplier type, adjusted with a reason)."""

    __tablename__ = "supplier_quota"
    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"))
    year: Mapped[int] = mapped_column(Integer)
    quota_fen: Mapped[int] = mapped_column(BigInteger)
    issued_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    __table_args__ = (
        UniqueConstraint("supplier_id", "year", name="uq_supplier_quota_year"),
        CheckConstraint("issued_fen >= 0 AND issued_fen <= quota_fen", name="ck_supplier_quota_not_exceeded"),
    )


class Complaint(db.Model):
    """A public message or complaint (SUP-5): a tracking number, the province's (or a city's) answer
    within a working-day deadline; a complaint about a supplier counts in its evaluation once upheld."""

    __tablename__ = "complaint"
    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_no: Mapped[str] = mapped_column(String(20), unique=True)
    category: Mapped[str] = mapped_column(String(20))  # consult | complaint | report | suggestion
    text: Mapped[str] = mapped_column(Text)
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact: Mapped[str] = mapped_column(String(100), default="")
    supplier_id: Mapped[Optional[int]] = mapped_column(ForeignKey("supplier.id"), index=True)  # about a supplier
    file_ids: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | answered
    city_code: Mapped[Optional[str]] = mapped_column(ForeignKey("city.code"))  # forwarded to this city
    due_on: Mapped[dt.date] = mapped_column(Date)
    upheld: Mapped[Optional[bool]] = mapped_column(Boolean)  # for a complaint: found justified
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id"))
    answered_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    __table_args__ = (Index("ix_complaint_queue", "status", "city_code", "due_on", "id"),)
