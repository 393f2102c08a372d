"""Changes to an approved profile (ProfileChange, REG-9): proposal, application, the rows a reviewer compares."""
from __future__ import annotations

from blueprints.core import audit, notices, timeutil, workflow
from blueprints.core.registration import checks
from blueprints.core.registration.checks import duplicate_message
from blueprints.core.registration.common import kind_of, owner_kind
from blueprints.core.registration.fields import ATTR_LABELS, FILE_ATTRS, IMMEDIATE_ATTRS, display
from blueprints.core.registration.files import files_by_id
from blueprints.core.registration.lifecycle import Outcome, _assign, _due, _tell_reviewers, open_change
from blueprints.core.registration.mapping import _decode, _encode
from models import ProfileChange, db


# --------------------------------------------------------------------------- changes (REG-9)


def propose_change(owner, values: dict, user) -> Outcome:
    """After approval: contact details apply at once; other facts become a reviewed change."""
    kind = kind_of(owner)
    immediate = {k: v for k, v in values.items() if k in IMMEDIATE_ATTRS}
    reviewed = {k: v for k, v in values.items() if k not in IMMEDIATE_ATTRS and getattr(owner, k) != v}
    changed_now = _assign(owner, immediate)
    if changed_now:
        db.session.flush()
        action = "related_edit" if changed_now == ["related_parties"] else "contact_edit"
        audit.record(kind, owner.id, action, actor=user, data={"fields": changed_now})
    if not reviewed:
        if not changed_now:
            return Outcome(False, {}, "资料没有变化")
        return Outcome(True, message="联系方式已更新")
    change = open_change(owner)
    if change is None:
        change = ProfileChange(created_by=user.id, **({"enterprise_id": owner.id} if kind == "enterprise"
                                                      else {"supplier_id": owner.id}))
        db.session.add(change)
    change.city_code = owner.city_code if kind == "enterprise" or owner.in_province else None
    change.proposed = _encode(reviewed)
    change.previous = _encode({k: getattr(owner, k) for k in reviewed})
    db.session.flush()
    workflow.apply(change, "submit", user)
    change.submitted_at = timeutil.now()
    change.due_on = _due()
    change.return_reasons = []
    audit.record(kind, owner.id, "change_submit", actor=user, data={"change_id": change.id, "fields": list(reviewed)})
    _tell_reviewers(change, f"新的资料变更待审核：{owner.name}")
    return Outcome(True, message="变更已提交审核；审核通过前，原登记资料继续有效。")


def apply_change(change: ProfileChange, user) -> None:
    owner = change.owner
    values = _decode(change.proposed or {})
    if "uscc" in values and checks.uscc_taken(type(owner), values["uscc"], owner.id):
        raise workflow.NotAllowed(duplicate_message(owner_kind(change)))
    old_city = owner.city_code
    before = {k: getattr(owner, k) for k in values}
    _assign(owner, values)
    db.session.flush()
    audit.record(kind_of(owner), owner.id, "change_applied", actor=user,
                 data={"change_id": change.id, "before": _encode(before), "after": change.proposed})
    if owner.city_code and owner.city_code != old_city:
        notices.notify_org(city_code=owner.city_code, title=f"{owner.name} 的注册地已变更为本市",
                           body="该单位的资料变更已审核通过，今后由本市负责审核其业务。")


def change_rows(change: ProfileChange) -> list[dict]:
    """The diff of a change: label, value in force, proposed value (files as file objects)."""
    proposed = _decode(change.proposed or {})
    previous = _decode(change.previous or {})
    files = files_by_id([v for k, v in list(proposed.items()) + list(previous.items()) if k in FILE_ATTRS])
    rows = []
    for attr, new in proposed.items():
        old = previous.get(attr)
        if attr in FILE_ATTRS:
            rows.append({"label": ATTR_LABELS.get(attr, attr), "old_file": files.get(old), "new_file": files.get(new),
                         "old": "", "new": ""})
        else:
            rows.append({"label": ATTR_LABELS.get(attr, attr), "old": display(attr, old), "new": display(attr, new),
                         "old_file": None, "new_file": None})
    return rows


def change_summary(change: ProfileChange) -> str:
    return "、".join(ATTR_LABELS.get(a, a) for a in (change.proposed or {}))
