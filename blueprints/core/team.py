"""Colleagues: several users per enterprise or supplier.

The organisation's first account manages its members: it invites colleagues (the account exists,
inactive, until the colleague sets a password through a one-time link), disables and re-enables
them, and marks who may sign. Declarations and commitments — submitting a registration, a change,
an application or a settlement, a supplier's confirmation — are made by a signatory (the legal
representative or an authorised signatory); the other members prepare drafts.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy.exc import IntegrityError

from blueprints.core import audit, mail, security
from blueprints.core.timeutil import now
from blueprints.core.workflow import NOT_SIGNATORY, NotAllowed
from models import Enterprise, MailOutbox, MailStatus, Role, Supplier, TeamInvite, User, db

INVITE_DAYS = 7
ORG_ROLES = (Role.ENTERPRISE, Role.SUPPLIER)
# A revoked invitation keeps its row (who invited whom, when: the audit trail names the account) but
# its token_hash becomes this prefix plus random hex: never a SHA-256 hex digest, so no link matches it.
REVOKED = "revoked-"
# A revoked, never-used account gives its username back: it is renamed to name + this mark + its id. "~"
# is outside every username a form accepts (sign-up, invitation, staff accounts: [A-Za-z0-9_.-]), so no
# one can take the new name, and the old one can be invited again. The page shows the part before it.
REVOKED_NAME_MARK = "~已撤销-"
# The invitation link inside a queued mail's text (mail_outbox.body, kind "invite").
_LINK_RE = mail.INVITE_LINK_RE
# The invitation mail's title: a fixed text, translated into the invited account's language by
# mail.render_notice (its English is in the .po).
INVITE_TITLE = "邀请您加入广东省工业互联网应用服务平台"


class TeamError(ValueError):
    """A refused member change, with a message for the page."""


class UsernameTaken(TeamError):
    pass


def org_filter(user):
    """The WHERE clause selecting the members of user's organisation."""
    if user.role == Role.ENTERPRISE:
        return User.enterprise_id == user.enterprise_id
    return User.supplier_id == user.supplier_id


def members(user) -> list[User]:
    return list(db.session.execute(
        db.select(User).where(User.role == user.role, org_filter(user)).order_by(User.id)).scalars())


def member_or_none(user, member_id: int) -> User | None:
    """A member of user's own organisation (anything else is not found, ROLE-8)."""
    return db.session.execute(
        db.select(User).where(User.id == member_id, User.role == user.role, org_filter(user))).scalar_one_or_none()


def pending_invites(user) -> dict[int, TeamInvite]:
    """Invitations of the organisation not accepted (open, expired or revoked), by invited user id."""
    rows = db.session.execute(
        db.select(TeamInvite).join(User, User.id == TeamInvite.user_id)
        .where(User.role == user.role, org_filter(user), TeamInvite.accepted_at.is_(None))).scalars()
    return {inv.user_id: inv for inv in rows}


def may_sign(user) -> bool:
    return user.role not in ORG_ROLES or bool(user.is_signatory)


def require_signatory(user) -> None:
    if not may_sign(user):
        raise NotAllowed(NOT_SIGNATORY)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def shown_username(user: User) -> str:
    """The username as the members page shows it: a revoked account's original name, without the mark."""
    return user.username.split(REVOKED_NAME_MARK, 1)[0]


def is_revoked(inv: TeamInvite) -> bool:
    return inv.token_hash.startswith(REVOKED)


def _require_admin(admin, member: User | None = None) -> None:
    """Only an active manager changes members. The organisation's row is locked first (PostgreSQL; on
    SQLite a writing transaction holds the write lock from its BEGIN IMMEDIATE), then the manager and
    the member are read again: both were loaded before the lock, and another manager may have changed
    them since (two managers removing each other's rights at the same moment: the second one, read
    again, is no longer a manager and is refused; nobody is left without a manager)."""
    if admin.role not in ORG_ROLES or not admin.is_org_admin:
        raise TeamError("只有本单位的管理账号可以管理成员")
    org = Enterprise if admin.role == Role.ENTERPRISE else Supplier
    org_id = admin.enterprise_id if admin.role == Role.ENTERPRISE else admin.supplier_id
    db.session.execute(db.select(org.id).where(org.id == org_id).with_for_update())
    db.session.refresh(admin)
    if member is not None and member is not admin:
        db.session.refresh(member)
    if not (admin.is_active and admin.is_org_admin):
        raise TeamError("只有本单位的管理账号可以管理成员")


def invite(admin, *, username: str, display_name: str, phone: str, email: str = "",
           signatory: bool = False) -> str:
    """Create the colleague's (inactive) account and its invitation; returns the one-time token."""
    _require_admin(admin)
    if db.session.execute(db.select(User.id).where(db.func.lower(User.username) == username.lower())).first():
        raise UsernameTaken("该用户名已被使用")
    member = User(username=username, password_hash="!", role=admin.role, display_name=display_name,
                  phone=phone, enterprise_id=admin.enterprise_id, supplier_id=admin.supplier_id,
                  is_active=False, is_org_admin=False, is_signatory=bool(signatory),
                  locale=admin.locale)
    db.session.add(member)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:  # the same name taken in a parallel request
        raise UsernameTaken("该用户名已被使用") from None
    member.email = email
    token = secrets.token_urlsafe(32)
    db.session.add(TeamInvite(user_id=member.id, token_hash=_token_hash(token), email=email,
                              created_by_id=admin.id, expires_at=now() + dt.timedelta(days=INVITE_DAYS)))
    audit.record("user", member.id, "team_invite", actor=admin, to_state="invited",
                 data={"username": username, "signatory": bool(signatory)})
    _mail_invite(admin, member, token)
    return token


def _mail_invite(admin, member: User, token: str) -> bool:
    """The link also goes to the colleague's e-mail, when one was given and mail is set up (after commit).

    Written in the invited account's language (inherited from the inviting manager, see invite()), as
    mail.py writes every other mail: the title is a fixed text render_notice translates, the body is
    composed here under that language."""
    from flask_babel import force_locale, gettext

    from blueprints.core.application import link

    org = (admin.enterprise.name if admin.enterprise else admin.supplier.name if admin.supplier else "")
    locale = mail._locale(member.locale)
    with force_locale(locale):
        body = gettext("%(inviter)s 邀请您以 %(username)s 的用户名加入 %(org)s。请在 %(days)s 天内打开下面的链接设置密码。",
                       inviter=admin.display_name, username=member.username, org=org or gettext("本单位"),
                       days=INVITE_DAYS)
    return mail.queue_to(member.id, member.email, locale, INVITE_TITLE, body, link("team.accept", token=token),
                         kind="invite")


def _forget_link(member: User) -> None:
    """Take the link out of the invitation mails queued for member (only the token's hash is kept).

    Called when the link stops working: accepted, revoked, or replaced by a renewed one. The residual
    window: a mail must carry the link until it is sent, so from the invitation until one of these
    the live link is in mail_outbox.body (kind "invite", user_id = the invited account). An invitation
    left to expire, and a mail that failed for good, are swept by `flask prune` (forget_dead_links).
    A mail not yet sent then goes out saying the link expired."""
    from flask_babel import force_locale

    rows = db.session.execute(db.select(MailOutbox).where(
        MailOutbox.kind == "invite", MailOutbox.user_id == member.id)).scalars().all()
    if not rows:
        return
    with force_locale("en" if member.locale == "en" else "zh_Hans"):
        note = mail.invite_link_gone()
    for row in rows:
        row.body = _LINK_RE.sub(note, row.body or "")


def forget_dead_links() -> int:
    """`flask prune`: take the link out of every stored invitation mail that no longer needs it — its
    invitation expired, was accepted or revoked (the link is dead), or the mail itself failed for good (it
    is never sent; the manager renews the link instead). Each in the invited account's language. Returns
    how many mails were changed; a second run changes none."""
    from flask_babel import force_locale

    dead = db.select(TeamInvite.user_id).where(db.or_(
        TeamInvite.accepted_at.is_not(None), TeamInvite.expires_at <= now(),
        TeamInvite.token_hash.startswith(REVOKED)))
    rows = db.session.execute(
        db.select(MailOutbox, User.locale).join(User, User.id == MailOutbox.user_id)
        .where(MailOutbox.kind == "invite", MailOutbox.body.contains("/invite/", autoescape=True),
               db.or_(MailOutbox.user_id.in_(dead), MailOutbox.status == MailStatus.FAILED))).all()
    changed = 0
    for row, locale in rows:
        with force_locale(mail._locale(locale)):
            body = _LINK_RE.sub(mail.invite_link_gone(), row.body or "")
        if body != row.body:
            row.body = body
            changed += 1
    return changed


def _invite_of(member: User) -> TeamInvite | None:
    return db.session.execute(db.select(TeamInvite).where(TeamInvite.user_id == member.id)
                              .execution_options(populate_existing=True)).scalar_one_or_none()


def _set_if_open(inv: TeamInvite, **values) -> bool:
    """Change an invitation only if nobody accepted, revoked or renewed it since it was read: one
    conditional UPDATE, so of two changes at the same moment exactly one wins (rowcount 1)."""
    won = db.session.execute(
        db.update(TeamInvite).where(TeamInvite.id == inv.id, TeamInvite.token_hash == inv.token_hash,
                                    TeamInvite.accepted_at.is_(None)).values(**values)
        .execution_options(synchronize_session=False)).rowcount == 1
    db.session.expire(inv)
    return won


def _pending_invite(admin, member: User, *, accepted: str, revoked: str) -> TeamInvite:
    """The member's invitation, checked to be still open, for a manager of its organisation (else TeamError
    with the caller's wording)."""
    _require_admin(admin, member)
    inv = _invite_of(member)
    if inv is None or inv.accepted_at is not None:
        raise TeamError(accepted)
    if is_revoked(inv):
        raise TeamError(revoked)
    return inv


def renew_invite(admin, member: User) -> str:
    """A new link (the old one stops working) for an invitation not yet accepted."""
    inv = _pending_invite(admin, member, accepted="该成员已接受邀请", revoked="该邀请已撤销，不能重新生成链接")
    token = secrets.token_urlsafe(32)
    if not _set_if_open(inv, token_hash=_token_hash(token), expires_at=now() + dt.timedelta(days=INVITE_DAYS)):
        raise TeamError("该邀请刚刚已被接受、撤销或重新生成，请刷新页面")
    audit.record("user", member.id, "team_invite_renew", actor=admin)
    _forget_link(member)  # the old mail's link is dead; before the new mail is queued
    _mail_invite(admin, member, token)
    return token


def revoke_invite(admin, member: User) -> None:
    """Withdraw an invitation not yet accepted: the link stops working at once and the account,
    never used, stays inactive for good (kept, not deleted: the audit trail names it)."""
    inv = _pending_invite(admin, member, accepted="该成员已接受邀请，不能撤销；如需停止其使用，请停用该账号",
                          revoked="该邀请已撤销")
    if not _set_if_open(inv, token_hash=REVOKED + secrets.token_hex(28), expires_at=now()):
        raise TeamError("该邀请刚刚已被接受、撤销或重新生成，请刷新页面")
    username = member.username
    suffix = f"{REVOKED_NAME_MARK}{member.id}"
    member.username = username[:64 - len(suffix)] + suffix  # the username is free for a new invitation
    audit.record("user", member.id, "team_invite_revoke", actor=admin, from_state="invited", to_state="revoked",
                 data={"username": username})
    _forget_link(member)


def open_invite(token: str) -> TeamInvite | None:
    """The invitation a link names, if it is still open and unexpired."""
    if not token or len(token) > 100:
        return None
    inv = db.session.execute(
        db.select(TeamInvite).where(TeamInvite.token_hash == _token_hash(token))).scalar_one_or_none()
    if inv is None or inv.accepted_at is not None or inv.expires_at <= now():
        return None
    return inv


def accept(inv: TeamInvite, password: str) -> User | None:
    """The colleague sets a password: the account becomes active. Caller has checked the password.
    None when the link was used, revoked, renewed or expired since it was opened: acceptance is one
    conditional UPDATE (accepted_at IS NULL AND expires_at > now), so of two at the same moment
    exactly one wins."""
    member = inv.user
    at = now()
    won = db.session.execute(
        db.update(TeamInvite).where(TeamInvite.id == inv.id, TeamInvite.token_hash == inv.token_hash,
                                    TeamInvite.accepted_at.is_(None), TeamInvite.expires_at > at)
        .values(accepted_at=at).execution_options(synchronize_session=False)).rowcount
    db.session.expire(inv)
    if won != 1:
        return None
    member.password_hash = security.hash_password(password)
    member.password_changed_at = now()
    member.is_active = True
    audit.record("user", member.id, "team_join", actor=member, from_state="invited", to_state="active")
    _forget_link(member)
    return member


def _active_count(admin, *conds) -> int:
    return db.session.execute(db.select(db.func.count()).select_from(User).where(
        User.role == admin.role, org_filter(admin), User.is_active.is_(True), *conds)).scalar_one()


def set_active(admin, member: User, active: bool) -> None:
    _require_admin(admin, member)
    if member.id == admin.id:
        raise TeamError("不能停用自己的账号")
    if member.is_active == active:
        return
    if not active and member.is_org_admin and _active_count(admin, User.is_org_admin.is_(True)) <= 1:
        raise TeamError("本单位至少要保留一个启用的管理账号")
    if not active and member.is_signatory and _active_count(admin, User.is_signatory.is_(True)) <= 1:
        raise TeamError("本单位至少要保留一名签字人，否则无法提交申请")
    inv = _invite_of(member) if active else None
    if inv is not None and inv.accepted_at is None:
        raise TeamError("该邀请已撤销，该账号不能启用" if is_revoked(inv) else "该成员尚未接受邀请，不能启用")
    member.is_active = active
    if not active:
        member.session_version += 1  # every open session of the member ends now
    audit.record("user", member.id, "team_enable" if active else "team_disable", actor=admin,
                 from_state="disabled" if active else "active", to_state="active" if active else "disabled")


def set_flags(admin, member: User, *, signatory: bool, org_admin: bool) -> None:
    _require_admin(admin, member)
    if member.id == admin.id and not org_admin:
        raise TeamError("不能取消自己的管理权限，请由另一位管理账号操作")
    if member.is_org_admin and not org_admin and member.is_active and _active_count(
            admin, User.is_org_admin.is_(True)) <= 1:
        raise TeamError("本单位至少要保留一个启用的管理账号")
    if member.is_signatory and not signatory and member.is_active and _active_count(
            admin, User.is_signatory.is_(True)) <= 1:
        raise TeamError("本单位至少要保留一名签字人，否则无法提交申请")
    changed = {k: v for k, v in (("signatory", signatory), ("org_admin", org_admin))
               if bool(getattr(member, "is_signatory" if k == "signatory" else "is_org_admin")) != v}
    if not changed:
        return
    member.is_signatory = signatory
    member.is_org_admin = org_admin
    audit.record("user", member.id, "team_roles", actor=admin, data=changed)
