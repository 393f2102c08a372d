"""A profile's life cycle: draft saves, completeness, submission with its working-day deadline (SLA-1), the
submission's snapshot and what changed since a return."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field as dc_field

from flask import url_for

from blueprints.core import audit, notices, timeutil, workflow
from blueprints.core.registration.checks import uscc_problem
from blueprints.core.registration.common import KIND_LABELS, OPEN_CHANGE, R, SLA_WORKING_DAYS, kind_of
from blueprints.core.registration.fields import ATTR_LABELS, FILE_ATTRS, display
from blueprints.core.registration.files import docs_for, files_by_id
from models import Enterprise, ProfileChange, RelatedParty, Supplier, db


# --------------------------------------------------------------------------- life cycle


def edit_mode(owner) -> str | None:
    """'draft' while the registration may be edited, 'change' after approval, None meanwhile."""
    if owner.status in (R.DRAFT, R.RETURNED):
        return "draft"
    if owner.status == R.APPROVED:
        change = open_change(owner)
        return "change" if change is None or change.status == R.RETURNED else None
    return None


def not_editable_message(owner) -> str:
    if owner.status == R.REJECTED:
        return "注册申请已被驳回（最终决定），资料不能再修改"
    if owner.status == R.APPROVED:
        return "资料变更正在审核中，请等待结果或先撤回变更"
    return "资料正在审核中，暂不能修改"


def open_change(owner) -> ProfileChange | None:
    col = ProfileChange.enterprise_id if isinstance(owner, Enterprise) else ProfileChange.supplier_id
    return db.session.execute(
        db.select(ProfileChange).where(col == owner.id, ProfileChange.status.in_(OPEN_CHANGE))
        .order_by(ProfileChange.id.desc()).limit(1)
    ).scalar_one_or_none()


def _set_related(s: Supplier, parties: list[tuple[str, str]]) -> bool:
    before = [(p.uscc, p.name) for p in s.related_parties]
    if before == list(parties):
        return False
    s.related_parties.clear()
    db.session.flush()
    for code, name in parties:
        s.related_parties.append(RelatedParty(uscc=code, name=name))
    return True


def _assign(owner, values: dict) -> list[str]:
    changed = []
    for attr, value in values.items():
        if attr == "related_parties":
            if _set_related(owner, value):
                changed.append(attr)
        elif getattr(owner, attr) != value:
            setattr(owner, attr, value)
            changed.append(attr)
    return changed


def save_profile(owner, values: dict, user) -> list[str]:
    """Save a draft or returned registration as entered (validated first); audited."""
    changed = _assign(owner, values)
    if changed:
        db.session.flush()
        audit.record(kind_of(owner), owner.id, "edit", actor=user, data={"fields": changed})
    return changed


def completeness(owner) -> list[str]:
    """What a registration still lacks before it can be submitted (a second line behind the form)."""
    kind = kind_of(owner)
    problems = []
    if not owner.name:
        problems.append("名称")
    if uscc_problem(owner.uscc):
        problems.append("统一社会信用代码")
    if kind == "enterprise":
        for attr, label in (("city_code", "注册地"), ("legal_rep", "法定代表人"), ("established_on", "成立日期"),
                            ("revenue_fen", "上年度主营业务收入"), ("contact_name", "联系人"),
                            ("contact_phone", "联系电话")):
            if getattr(owner, attr) in (None, ""):
                problems.append(label)
        if not owner.no_violation_declared:
            problems.append("无违规声明")
    else:
        if owner.in_province and not owner.city_code:
            problems.append("所在地市")
        for attr, label in (("categories", "服务类别"), ("endpoints", "云服务地址"), ("contact_name", "联系人"),
                            ("contact_phone", "联系电话")):
            if not getattr(owner, attr):
                problems.append(label)
    for d in docs_for(kind):
        needed = d.required or (d.required_when and getattr(owner, d.required_when))
        if needed and not getattr(owner, d.attr):
            problems.append(d.label)
    return problems


def _due() -> dt.date:
    return timeutil.add_working_days(timeutil.today(), SLA_WORKING_DAYS)


def submit(owner, user) -> None:
    """Submit (or resubmit) a registration: deadline 5 working days (SLA-1), reviewers told."""
    missing = completeness(owner)
    if missing:
        raise workflow.NotAllowed("资料不完整，请补充：" + "、".join(missing))
    snap = snapshot(owner)
    data = {"snapshot": snap}
    if owner.status == R.RETURNED:  # the reviewer sees what changed since the return, field by field
        data["changes"] = changes_since(previous_snapshot(owner), snap)
    workflow.apply(owner, "submit", user, data=data)
    owner.submitted_at = timeutil.now()
    owner.due_on = _due()
    owner.return_reasons = []
    if isinstance(owner, Supplier):
        owner.review_round = (owner.review_round or 0) + 1
    _tell_reviewers(owner, f"新的{KIND_LABELS[kind_of(owner)]}待审核：{owner.name}")


def snapshot(owner) -> dict[str, str]:
    """A registration's facts as the reviewer reads them (text), kept in its submission's audit event."""
    kind = kind_of(owner)
    attrs = [a for a in ATTR_LABELS if hasattr(owner, a) and a not in FILE_ATTRS]
    files = files_by_id(getattr(owner, d.attr) for d in docs_for(kind))
    snap = {a: display(a, getattr(owner, a)) for a in attrs}
    for d in docs_for(kind):
        f = files.get(getattr(owner, d.attr))
        # The name alone would hide a new file of the same name: its size tells them apart.
        snap[d.attr] = f"{f.original_name or d.label}（{f.size:,} 字节）" if f is not None else "—"
    if isinstance(owner, Supplier):
        snap["related_parties"] = "、".join(f"{p.name}（{p.uscc}）" for p in owner.related_parties) or "—"
    return snap


def previous_snapshot(owner) -> dict | None:
    """The facts of the registration's last submission, or None when that submission did not keep them."""
    return audit.last_snapshot(kind_of(owner), owner.id)


def changes_since(before: dict | None, after: dict) -> list[dict]:
    """Field by field what differs since the last submission."""
    return audit.field_changes(before, after, dict(ATTR_LABELS, related_parties="关联方"))


def _tell_reviewers(obj, title: str) -> None:
    city = obj.city_code if not isinstance(obj, Supplier) or obj.in_province else None
    if obj.status == R.CITY_REVIEW and city:
        notices.notify_org(city_code=city, title=title,
                           link=url_for("city.registration_detail", kind=kind_of(obj), ident=obj.id))


@dataclass
class Outcome:
    ok: bool
    errors: dict = dc_field(default_factory=dict)
    message: str = ""
