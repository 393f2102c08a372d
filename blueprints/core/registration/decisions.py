"""Reviewers' decisions: approve, return with every reason at once, reject (REG-3..6), one by one or in bulk."""
from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from blueprints.core import notices, timeutil, workflow
from blueprints.core.access import can_see
from blueprints.core.registration.changes import apply_change
from blueprints.core.registration.common import KIND_MODELS, R, kind_of, owner_kind
from blueprints.core.registration.fields import REASON_FIELDS
from blueprints.core.registration.lifecycle import _due
from blueprints.core.registration.queues import display_name
from models import Enterprise, ProfileChange, Supplier, db


# --------------------------------------------------------------------------- decisions


class DecisionError(ValueError):
    """A decision sent without what it needs (reasons); shown next to the form (422)."""


MAX_REASONS = 30


def parse_reasons(kind: str, fields: list[str], texts: list[str]) -> list[dict]:
    """Rows of (field, text) from the return form -> [{"field", "label", "text"}] (REG-5)."""
    labels = dict(REASON_FIELDS[kind])
    out = []
    for key, text in zip(fields, texts):
        text = (text or "").strip()
        if not text:
            continue
        key = key if key in labels else "other"
        out.append({"field": key, "label": labels[key], "text": text[:500]})
    if len(out) > MAX_REASONS:
        raise DecisionError(f"退回理由最多 {MAX_REASONS} 条")
    return out


def _owner_link(obj) -> str:
    return url_for("enterprise.profile_view" if owner_kind(obj) == "enterprise" else "supplier.profile_view")


def _notify_owner(obj, title: str, body: str = "") -> None:
    owner = obj.owner if isinstance(obj, ProfileChange) else obj
    key = "enterprise_id" if isinstance(owner, Enterprise) else "supplier_id"
    notices.notify_org(**{key: owner.id}, title=title, body=body, link=_owner_link(obj))


def reasons_text(reasons: list[dict]) -> str:
    return "\n".join(f"{i}. 【{r['label']}】{r['text']}" for i, r in enumerate(reasons, 1))


def decide(obj, action: str, user, reasons: list[dict] | None = None, reason: str = "") -> None:
    """Approve, return (every reason at once, REG-5) or reject (final, REG-6) a registration or change."""
    kind = kind_of(obj)
    what = "资料变更" if kind == "change" else "注册申请"
    if action == "return":
        if not reasons:
            raise DecisionError("请逐条填写退回理由或缺少的材料（至少一条）")
        workflow.apply(obj, "return", user, reasons_text(reasons), data={"reasons": reasons})
        obj.return_reasons = reasons
        obj.returned_by = str(user.acting_role)
        obj.due_on, obj.decided_at = None, timeutil.now()
        _notify_owner(obj, f"您的{what}被退回，请按意见一次性修改后重新提交",
                      "退回意见：\n" + reasons_text(reasons))
    elif action == "reject":
        reason = (reason or "").strip()
        if not reason:
            raise DecisionError("请填写驳回理由")
        workflow.apply(obj, "reject", user, reason[:2000])
        obj.due_on, obj.decided_at = None, timeutil.now()
        title = "您的资料变更不予通过（原登记资料继续有效）" if kind == "change" else "您的注册申请被驳回"
        _notify_owner(obj, title, "理由：" + reason[:2000])
    elif action == "approve":
        if isinstance(obj, Supplier) and obj.status == R.PROVINCE_REVIEW and not workflow.experts_scored(obj):
            raise workflow.NotAllowed(f"“{obj.name}”尚无专家评分，请待专家评分后再决定")
        workflow.apply(obj, "approve", user)
        if obj.status == R.PROVINCE_REVIEW:
            obj.due_on = _due()
            _notify_owner(obj, f"您的{what}已通过地市审核，已报省级复核")
        else:
            obj.due_on, obj.decided_at = None, timeutil.now()
            if kind == "change":
                apply_change(obj, user)
                _notify_owner(obj, "您的资料变更已审核通过，新资料已生效")
            else:
                _notify_owner(obj, "您的注册申请已审核通过",
                              "可以办理服务券业务了。" if kind == "enterprise" else "贵单位已列入登记供应商名录。")
    else:
        raise workflow.NotAllowed("不支持该操作")


def withdraw_change(change: ProfileChange, user) -> None:
    workflow.apply(change, "withdraw", user)
    change.due_on = None


@dataclass
class BulkResult:
    ident: str
    name: str
    ok: bool
    message: str


def bulk_decide(kind: str, ids: list[str], action: str, user) -> list[BulkResult]:
    """Apply one decision to many items, each in its own savepoint: one failure never hides another."""
    model = KIND_MODELS.get(kind)
    results: list[BulkResult] = []
    if model is None:
        return results
    seen = set()
    for raw in ids[:200]:
        if raw in seen:
            continue
        seen.add(raw)
        obj = db.session.get(model, int(raw)) if str(raw).isdigit() else None
        if obj is None or not can_see(user, obj):
            # A row number means nothing to the officer: the row says what happened instead.
            results.append(BulkResult(raw, gettext("所选记录"), False, gettext("已不存在或无权处理")))
            continue
        name = display_name(obj)
        try:
            with db.session.begin_nested():
                decide(obj, action, user)
            results.append(BulkResult(raw, name, True, "已通过" if obj.status == R.APPROVED else "已报省级复核"))
        except (workflow.NotAllowed, DecisionError) as exc:
            results.append(BulkResult(raw, name, False, str(exc)))
        except StaleDataError:
            results.append(BulkResult(raw, name, False, "已被他人处理，请刷新"))
        except IntegrityError:  # this item's savepoint is rolled back; the others stand
            results.append(BulkResult(raw, name, False, "与已有记录冲突（如统一社会信用代码重复），未处理，请单独核查"))
    return results
