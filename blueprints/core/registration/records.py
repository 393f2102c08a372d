"""What the record pages read: history, returns, files, the decision panel, the owner's view, home-page panels."""
from __future__ import annotations

from sqlalchemy import or_

from blueprints.core import audit, workflow
from blueprints.core.registration.changes import change_rows
from blueprints.core.registration.common import ENTITY_TYPES, KIND_LABELS, KIND_MODELS, R, kind_of, owner_kind
from blueprints.core.registration.experts import expert_reviews
from blueprints.core.registration.fields import ACTION_LABELS, REASON_FIELDS, city_names
from blueprints.core.registration.files import docs_for, files_by_id
from blueprints.core.registration.lifecycle import completeness, edit_mode, open_change
from blueprints.core.registration.queues import expert_select, queue_counts
from blueprints.core.registration.workdays import calendar_warning, days_left_many
from models import AuditEvent, Enterprise, ProfileChange, Role, StoredFile, Supplier, db


# --------------------------------------------------------------------------- record pages


def history(obj) -> list:
    """The record's audit trail; a profile's includes the events of its change requests (REG-9)."""
    if isinstance(obj, ProfileChange):
        return audit.timeline("profile_change", obj.id)
    col = ProfileChange.enterprise_id if isinstance(obj, Enterprise) else ProfileChange.supplier_id
    changes = db.select(ProfileChange.id).where(col == obj.id).scalar_subquery()
    return list(db.session.execute(
        db.select(AuditEvent).where(or_(
            (AuditEvent.entity_type == kind_of(obj)) & (AuditEvent.entity_id == obj.id),
            (AuditEvent.entity_type == "profile_change") & AuditEvent.entity_id.in_(changes),
        )).order_by(AuditEvent.id)
    ).scalars())


def returns_history(obj, events) -> list:
    """Every return of this record, oldest first (REG-5: the history of returns is kept)."""
    entity = ENTITY_TYPES[kind_of(obj)]
    return [ev for ev in events if ev.action == "return" and ev.entity_type == entity]


def record_files(obj) -> dict[str, StoredFile]:
    owner = obj.owner if isinstance(obj, ProfileChange) else obj
    found = files_by_id(getattr(owner, d.attr) for d in docs_for(owner_kind(obj)))
    return {d.attr: found.get(getattr(owner, d.attr)) for d in docs_for(owner_kind(obj))}


def decision_context(obj, user) -> dict:
    """What a reviewer's record page needs: actions allowed now, the reason fields, expert scores."""
    transitions = workflow.actions_for(obj, user)
    ctx = {
        "kind": kind_of(obj), "okind": owner_kind(obj), "obj": obj,
        "owner": obj.owner if isinstance(obj, ProfileChange) else obj,
        "can": {t.action: t for t in transitions},
        "reason_fields": REASON_FIELDS[owner_kind(obj)],
        "files": record_files(obj), "cities": city_names(),
        "wd_left": days_left_many([obj.due_on]).get(obj.due_on),
        "events": history(obj), "action_labels": ACTION_LABELS,
        "reviews": [], "change_rows": change_rows(obj) if isinstance(obj, ProfileChange) else [],
        "awaiting_experts": False,
    }
    ctx["returns"] = returns_history(obj, ctx["events"])
    if isinstance(obj, Supplier) and user.acting_role in (Role.PROVINCE, Role.EXPERT):
        ctx["reviews"] = expert_reviews(obj)
        ctx["awaiting_experts"] = obj.status == R.PROVINCE_REVIEW and not workflow.experts_scored(obj)
    return ctx


def load(kind: str, ident: int):
    """The record of `kind` if this user may see it, else 404 (ROLE-8)."""
    from flask import abort

    from blueprints.core.access import get_visible_or_404

    if kind not in KIND_MODELS:
        abort(404)
    return get_visible_or_404(KIND_MODELS[kind], ident)


def owner_view_context(owner, user) -> dict:
    """The applicant's own page: status, open change, files, eligibility facts, history."""
    events = [ev for ev in history(owner) if ev.action != "expert_review"]  # experts' notes are internal
    change = open_change(owner)
    rejected = [ev for ev in events if ev.action == "reject"]
    ctx = {
        "owner": owner, "okind": kind_of(owner), "mode": edit_mode(owner), "change": change,
        "change_rows": change_rows(change) if change else [], "files": record_files(owner),
        "cities": city_names(), "events": events, "action_labels": ACTION_LABELS,
        "wd_left": days_left_many([owner.due_on]).get(owner.due_on),
        "reject_reason": rejected[-1].reason if rejected else "",
        "missing": completeness(owner) if owner.status in (R.DRAFT, R.RETURNED) else [], "checks": [],
    }
    if isinstance(owner, Enterprise):
        from blueprints.core import eligibility

        ctx["checks"] = [c for c in eligibility.check(owner) if c.rule in ("ELIG-1", "ELIG-2", "ELIG-3", "ELIG-4")]
    return ctx


# --------------------------------------------------------------------------- home-page panels


def owner_panel(owner, okind: str) -> dict:
    change = open_change(owner) if owner is not None and owner.status == R.APPROVED else None
    due = owner.due_on if owner is not None else None
    return {"owner": owner, "okind": okind, "change": change, "days_left": days_left_many([due]).get(due),
            "missing": completeness(owner) if owner is not None and owner.status in (R.DRAFT, R.RETURNED) else []}


def reviewer_panel(user) -> dict:
    # SLA-4: only the province can enter the holiday schedule, so only the province is warned.
    warning = calendar_warning() if user.acting_role == Role.PROVINCE else None
    return {"counts": queue_counts(user), "labels": KIND_LABELS, "warning": warning}


def expert_panel(user) -> dict:
    todo = db.session.execute(db.select(db.func.count()).select_from(expert_select(user).subquery())).scalar_one()
    return {"todo": todo}
