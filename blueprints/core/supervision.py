"""Supervision: pilot units (PIL-1, PIL-4), spot checks (SUP-2), recoveries (REL-2), sanctions
(REL-3, SUP-4) and the per-supplier yearly issuance quota.

Pilot units: the province selects an approved supplier with its plan; Supplier.is_pilot mirrors "has an
active pilot unit", which is what lets it mark applications 试点 (PIL-2). Revoking (a failed plan) clears
the flag for new applications only: vouchers already marked keep their mark.

Sanctions are rows, never overwritten: a disqualification (REL-3) blocks the cycle it is recorded in and
the next cycle (the first created after it), so the one after is free again; a suspension (SUP-4) lasts
until the province lifts it; a cancellation for fraud (骗补) is for good. eligibility.supplier_problem and
the enterprise's ELIG-8 check read them through sanction_problem().

The supplier quota works like the city's (issuance.take_city_quota): one conditional UPDATE that never
lets issued_fen pass quota_fen, with a CHECK constraint behind it, so parallel approvals cannot overshoot.
Functions only flush; callers commit.
"""
from __future__ import annotations

import datetime as dt

from blueprints.core import audit, notices
from blueprints.core.application import Refused, link
from blueprints.core.money import yuan
from blueprints.core.timeutil import now, today
from models import (
    Cycle, Enterprise, EntryStatus, ListEntry, PilotUnit, RegStatus, Recovery, Sanction, Setting, SpotCheck,
    Supplier, SupplierQuota, Voucher, db,
)

RESULTS = {"pass": "合格", "issues": "发现问题，限期整改", "fail": "不合格"}
TARGETS = {"enterprise": "企业", "supplier": "供应商", "voucher": "服务券"}
SANCTIONS = {"disqualify": "取消本批次及下一批次资格", "suspend": "暂停资格", "cancel": "取消资格（骗补）"}
QUOTA_SETTING = {True: "supplier_quota_in_province_fen", False: "supplier_quota_out_of_province_fen"}


# --------------------------------------------------------------------------- pilot units (PIL-1, PIL-4)


def select_pilot(supplier: Supplier, user, *, plan_title: str, partners: str, targets: str, starts_on, ends_on,
                 plan_file_id: int | None) -> PilotUnit:
    errors = {}
    if supplier.status != RegStatus.APPROVED:
        errors["supplier"] = "只能从已通过注册的供应商中遴选试点单位"
    if sanction_problem(supplier=supplier):
        errors["supplier"] = "该供应商的资格已被暂停或取消，不能遴选为试点单位"
    if db.session.execute(db.select(PilotUnit.id).where(PilotUnit.supplier_id == supplier.id,
                                                        PilotUnit.status == "active")).first():
        errors["supplier"] = "该供应商已是试点单位"
    if db.session.execute(db.select(PilotUnit.id).where(PilotUnit.supplier_id == supplier.id,
                                                        PilotUnit.status == "revoked")).first():
        errors["supplier"] = "该供应商曾因未完成试点方案被撤销试点单位称号，不能再申报试点"  # PIL-4
    if not (plan_title or "").strip():
        errors["plan_title"] = "请填写试点方案名称"
    if not (partners or "").strip():
        errors["partners"] = "请填写参与试点的行业伙伴（每行一个）"
    if not (targets or "").strip():
        errors["targets"] = "请填写试点目标"
    if starts_on is None or ends_on is None:
        errors["period"] = "请填写试点起止日期"
    elif ends_on <= starts_on:
        errors["period"] = "结束日期须晚于开始日期"
    if errors:
        raise FieldErrors(errors)
    p = PilotUnit(supplier_id=supplier.id, plan_title=plan_title.strip(), partners=partners.strip(),
                  targets=targets.strip(), starts_on=starts_on, ends_on=ends_on, plan_file_id=plan_file_id,
                  status="active", selected_by=getattr(user, "id", None))
    db.session.add(p)
    supplier.is_pilot = True
    db.session.flush()
    audit.record("pilot_unit", p.id, "select", actor=user, to_state="active", data={"supplier_id": supplier.id})
    audit.record("supplier", supplier.id, "pilot_select", actor=user, reason=p.plan_title)
    notices.notify_org(supplier_id=supplier.id, title="贵单位已被遴选为试点单位",
                       body=f"试点方案：{p.plan_title}（{starts_on:%Y-%m-%d} 至 {ends_on:%Y-%m-%d}）。确认客户申领时可标记为试点。")
    return p


def revoke_pilot(p: PilotUnit, user, reason: str) -> None:
    """PIL-4: the title and the right to mark new applications 试点 go; existing vouchers keep their mark."""
    reason = (reason or "").strip()
    if p.status != "active":
        raise Refused("该试点单位已被撤销")
    if not reason:
        raise Refused("请填写撤销理由（未完成试点方案的具体情形）")
    p.status, p.revoked_at, p.revoked_reason = "revoked", now(), reason
    p.supplier.is_pilot = False
    db.session.flush()
    audit.record("pilot_unit", p.id, "revoke", actor=user, from_state="active", to_state="revoked", reason=reason)
    audit.record("supplier", p.supplier_id, "pilot_revoke", actor=user, reason=reason)
    notices.notify_org(supplier_id=p.supplier_id, title="试点单位称号已被撤销",
                       body=f"{reason}。此后不能再将客户申领标记为试点，也不能再申报试点；已发放的试点服务券不受影响。")


class FieldErrors(Refused):
    def __init__(self, errors: dict):
        super().__init__("；".join(errors.values()))
        self.errors = errors


# --------------------------------------------------------------------------- spot checks (SUP-2)


def target_of(target_type: str, target_id: int):
    model = {"enterprise": Enterprise, "supplier": Supplier, "voucher": Voucher}.get(target_type)
    return db.session.get(model, target_id) if model and target_id else None


def target_city(target) -> str | None:
    return getattr(target, "city_code", None)


def record_spot_check(user, *, target_type: str, target_id: int | None, checked_on, inspectors: str, findings: str,
                      result: str, file_ids=()) -> SpotCheck:
    """A city records checks on its own enterprises, suppliers and vouchers; the province on any."""
    errors = {}
    target = target_of(target_type, target_id or 0)
    city = getattr(user, "city_code", None) if str(getattr(user, "acting_role", "")) == "city" else None
    if target is None:
        errors["target"] = "请选择核查对象（企业、供应商或服务券）"
    elif city is not None and target_city(target) != city:
        errors["target"] = "只能记录本市企业、供应商或服务券的核查"
    if checked_on is None:
        errors["checked_on"] = "请填写核查日期"
    elif checked_on > today():
        errors["checked_on"] = "核查日期不能晚于今天"
    if not (inspectors or "").strip():
        errors["inspectors"] = "请填写核查人员"
    if len((findings or "").strip()) < 5:
        errors["findings"] = "请填写核查发现（至少 5 个字）"
    if result not in RESULTS:
        errors["result"] = "请选择核查结论"
    if errors:
        raise FieldErrors(errors)
    c = SpotCheck(target_type=target_type, target_id=target.id, city_code=city, target_city=target_city(target),
                  checked_on=checked_on, inspectors=inspectors.strip()[:300], findings=findings.strip(), result=result,
                  file_ids=list(file_ids), created_by=getattr(user, "id", None))
    db.session.add(c)
    db.session.flush()
    audit.record("spot_check", c.id, "create", actor=user, to_state=result,
                 data={"target_type": target_type, "target_id": target.id})
    # On the target's own timeline (SUP-1): "spot_check" with the result and the findings.
    audit.record(target_type, target.id, "spot_check", actor=user, reason=f"{RESULTS[result]}：{c.findings}",
                 data={"spot_check_id": c.id, "checked_on": checked_on.isoformat()})
    return c


# --------------------------------------------------------------------------- recoveries (REL-2)


def paid_entry(voucher: Voucher) -> ListEntry | None:
    return db.session.execute(db.select(ListEntry).where(ListEntry.voucher_id == voucher.id,
                                                         ListEntry.status == EntryStatus.PAID)).scalar_one_or_none()


def recovered_fen(voucher_id: int) -> int:
    return int(db.session.execute(db.select(db.func.coalesce(db.func.sum(Recovery.amount_fen), 0)).where(
        Recovery.voucher_id == voucher_id)).scalar_one())


def record_recovery(voucher: Voucher, user, *, amount_fen: int | None, reason: str, finding: str,
                    spot_check_id: int | None = None) -> Recovery:
    """REL-2: recover the unreasonable part of a paid voucher; all recoveries together never exceed what
    was paid (the voucher row is locked, so two officers cannot both take the last yuan)."""
    from blueprints.core.settlement import lock_voucher

    lock_voucher(voucher.id)
    errors = {}
    entry = paid_entry(voucher)
    if entry is None:
        raise Refused("该服务券尚未支付，不能登记收回")
    left = entry.amount_fen - recovered_fen(voucher.id)
    if amount_fen is None or amount_fen <= 0:
        errors["amount"] = "请填写收回金额（大于 0）"
    elif amount_fen > left:
        errors["amount"] = f"收回金额不能超过已支付且尚未收回的 {yuan(left)}"
    if not (reason or "").strip():
        errors["reason"] = "请填写收回理由（不合理部分的说明）"
    if not (finding or "").strip() and spot_check_id is None:
        errors["finding"] = "请填写所依据的审计或核查结论"
    if spot_check_id is not None:
        c = db.session.get(SpotCheck, spot_check_id)
        if c is None or not (c.target_type == "voucher" and c.target_id == voucher.id
                             or c.target_type == "enterprise" and c.target_id == voucher.enterprise_id
                             or c.target_type == "supplier" and c.target_id == voucher.supplier_id):
            errors["spot_check"] = "所选核查记录与该服务券无关"
    if errors:
        raise FieldErrors(errors)
    r = Recovery(voucher_id=voucher.id, entry_id=entry.id, city_code=voucher.city_code, amount_fen=amount_fen,
                 reason=reason.strip(), finding=(finding or "").strip(), spot_check_id=spot_check_id,
                 recorded_by=getattr(user, "id", None))
    db.session.add(r)
    db.session.flush()
    audit.record("voucher", voucher.id, "recovery", actor=user, reason=f"收回 {yuan(amount_fen)}：{r.reason}",
                 data={"recovery_id": r.id, "amount_fen": amount_fen})
    body = f"服务券 {voucher.code} 经审计核定不合理部分 {yuan(amount_fen)} 须退回：{r.reason}"
    notices.notify_org(enterprise_id=voucher.enterprise_id, title="服务券资金收回通知", body=body,
                       link=link("enterprise.voucher_detail", voucher_id=voucher.id))
    notices.notify_org(supplier_id=voucher.supplier_id, title="客户服务券资金收回通知", body=body)
    return r


def recovery_returned(r: Recovery, user, returned_on, ref: str) -> None:
    if r.returned_on is not None:
        raise Refused("该笔收回已登记退回")
    if returned_on is None or returned_on > today():
        raise FieldErrors({"returned_on": "请填写退回日期（不晚于今天）"})
    if not (ref or "").strip():
        raise FieldErrors({"returned_ref": "请填写退回的银行流水号"})
    r.returned_on, r.returned_ref = returned_on, ref.strip()[:60]
    db.session.flush()
    audit.record("voucher", r.voucher_id, "recovery_returned", actor=user,
                 reason=f"已退回 {yuan(r.amount_fen)}（{returned_on:%Y-%m-%d}，{r.returned_ref}）")


def recoveries_of(voucher_id: int) -> list[Recovery]:
    return list(db.session.execute(db.select(Recovery).where(Recovery.voucher_id == voucher_id)
                                   .order_by(Recovery.id)).scalars())


# --------------------------------------------------------------------------- sanctions (REL-3, SUP-4)


def _next_cycle_id(cycle_id: int) -> int | None:
    return db.session.execute(db.select(Cycle.id).where(Cycle.id > cycle_id).order_by(Cycle.id).limit(1)).scalar()


def active_sanctions(*, enterprise_id: int | None = None, supplier_id: int | None = None) -> list[Sanction]:
    q = db.select(Sanction).where(Sanction.lifted_at.is_(None))
    q = q.where(Sanction.enterprise_id == enterprise_id) if enterprise_id is not None else \
        q.where(Sanction.supplier_id == supplier_id)
    return list(db.session.execute(q.order_by(Sanction.id)).scalars())


def sanction_problem(*, enterprise: Enterprise | None = None, supplier: Supplier | None = None,
                     cycle_id: int | None = None) -> str | None:
    """Why a sanction stops this party in this cycle (None: it does not)."""
    party = enterprise if enterprise is not None else supplier
    if party is None or party.id is None:
        return None
    rows = active_sanctions(enterprise_id=party.id) if enterprise is not None else active_sanctions(supplier_id=party.id)
    for s in rows:
        if s.kind == "cancel":
            return f"“{party.name}”因骗补已被取消资格"
        if s.kind == "suspend":
            return f"“{party.name}”的资格已被省级暂停（{s.reason}）"
        if s.kind == "disqualify" and cycle_id is not None:
            if cycle_id == s.cycle_id or cycle_id == _next_cycle_id(s.cycle_id):
                return f"“{party.name}”因隐瞒关联关系，本批次及下一批次被取消资格"
    return None


def impose(user, *, kind: str, reason: str, enterprise: Enterprise | None = None, supplier: Supplier | None = None,
           cycle_id: int | None = None) -> Sanction:
    """REL-3 (disqualify: the given cycle and the next; suppliers only), SUP-4 (suspend, cancel)."""
    reason = (reason or "").strip()
    party = enterprise if enterprise is not None else supplier
    errors = {}
    if party is None:
        errors["party"] = "请选择企业或供应商"
    if kind not in SANCTIONS:
        errors["kind"] = "请选择措施"
    elif kind == "disqualify":
        if supplier is None:
            errors["kind"] = "隐瞒关联关系取消资格适用于供应商"
        if cycle_id is None or db.session.get(Cycle, cycle_id) is None:
            errors["cycle"] = "请选择取消资格的批次（本批次及下一批次）"
    if not reason:
        errors["reason"] = "请填写理由"
    if errors:
        raise FieldErrors(errors)
    s = Sanction(enterprise_id=getattr(enterprise, "id", None), supplier_id=getattr(supplier, "id", None), kind=kind,
                 cycle_id=cycle_id if kind == "disqualify" else None, reason=reason, created_by=getattr(user, "id", None))
    db.session.add(s)
    db.session.flush()
    entity = "enterprise" if enterprise is not None else "supplier"
    audit.record(entity, party.id, f"sanction_{kind}", actor=user, reason=reason, data={"sanction_id": s.id})
    title = f"{SANCTIONS[kind]}通知"
    body = f"{SANCTIONS[kind]}：{reason}" + ("。省级解除后恢复。" if kind == "suspend" else "")
    if enterprise is not None:
        notices.notify_org(enterprise_id=enterprise.id, title=title, body=body)
    else:
        notices.notify_org(supplier_id=supplier.id, title=title, body=body)
    return s


def lift(s: Sanction, user, reason: str) -> None:
    """SUP-4: the province lifts a suspension once the party has improved (a cancellation is final)."""
    reason = (reason or "").strip()
    if s.lifted_at is not None:
        raise Refused("该措施已解除")
    if s.kind == "cancel":
        raise Refused("因骗补取消资格不能解除")
    if not reason:
        raise Refused("请填写解除理由（整改情况）")
    s.lifted_at, s.lifted_by, s.lift_reason = now(), getattr(user, "id", None), reason
    db.session.flush()
    entity, pid = ("enterprise", s.enterprise_id) if s.enterprise_id else ("supplier", s.supplier_id)
    audit.record(entity, pid, "sanction_lift", actor=user, reason=reason, data={"sanction_id": s.id})
    if s.enterprise_id:
        notices.notify_org(enterprise_id=s.enterprise_id, title="资格已恢复", body=reason)
    else:
        notices.notify_org(supplier_id=s.supplier_id, title="资格已恢复", body=reason)


def public_sanctions(supplier_ids) -> dict[int, list[Sanction]]:
    """Supplier sanctions shown on the public supplier list (SUP-4): active ones, and past disqualifications."""
    ids = list(supplier_ids)
    out: dict[int, list[Sanction]] = {i: [] for i in ids}
    if ids:
        for s in db.session.execute(db.select(Sanction).where(Sanction.supplier_id.in_(ids),
                                                              Sanction.lifted_at.is_(None))).scalars():
            out[s.supplier_id].append(s)
    return out


# --------------------------------------------------------------------------- supplier quota


def default_quota(in_province: bool) -> int | None:
    v = db.session.get(Setting, QUOTA_SETTING[bool(in_province)])
    return int(v.value) if v is not None and v.value.strip() else None


def set_default_quota(user, *, in_province: bool, amount_fen: int | None, reason: str) -> None:
    if amount_fen is not None and amount_fen <= 0:
        raise FieldErrors({"amount": "金额须大于 0（留空表示不设上限）"})
    if not (reason or "").strip():
        raise FieldErrors({"reason": "请填写理由"})
    key = QUOTA_SETTING[bool(in_province)]
    row = db.session.get(Setting, key)
    before = row.value if row else ""
    if row is None:
        row = Setting(key=key, value="")
        db.session.add(row)
    row.value = "" if amount_fen is None else str(amount_fen)
    db.session.flush()
    audit.record("setting", 0, "set", actor=user, reason=reason, data={"key": key, "before": before, "after": row.value})


def _quota_row(supplier: Supplier, year: int) -> SupplierQuota | None:
    """The supplier's quota for the year, made from the default for its type on first use (None: no cap)."""
    row = db.session.execute(db.select(SupplierQuota).where(SupplierQuota.supplier_id == supplier.id,
                                                            SupplierQuota.year == year)).scalar_one_or_none()
    if row is not None:
        return row
    default = default_quota(supplier.in_province)
    if default is None:
        return None
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(SupplierQuota).values(supplier_id=supplier.id, year=year, quota_fen=default,
                                                    issued_fen=0).on_conflict_do_nothing())
    return db.session.execute(db.select(SupplierQuota).where(SupplierQuota.supplier_id == supplier.id,
                                                             SupplierQuota.year == year)).scalar_one()


def take_supplier_quota(supplier: Supplier, year: int, amount_fen: int) -> str | None:
    """Add to the supplier's issued amount for the year while it stays within its quota; the refusal's
    message, or None when taken (or when no quota applies)."""
    row = _quota_row(supplier, year)
    if row is None:
        return None
    res = db.session.execute(db.update(SupplierQuota).where(
        SupplierQuota.id == row.id, SupplierQuota.issued_fen + amount_fen <= SupplierQuota.quota_fen).values(
        issued_fen=SupplierQuota.issued_fen + amount_fen).execution_options(synchronize_session=False))
    if res.rowcount == 1:
        db.session.expire(row)
        return None
    db.session.refresh(row)
    return (f"供应商“{supplier.name}”{year} 年的服务券发放上限已用完（上限 {yuan(row.quota_fen)}，已发放 "
            f"{yuan(row.issued_fen)}，本券需 {yuan(amount_fen)}），不能发放；如需调整请联系省级")


def give_back_supplier_quota(v: Voucher) -> None:
    db.session.execute(db.update(SupplierQuota).where(
        SupplierQuota.supplier_id == v.supplier_id, SupplierQuota.year == v.cycle.year).values(
        issued_fen=db.func.max(SupplierQuota.issued_fen - v.face_value_fen, 0)
        if db.session.get_bind().dialect.name == "sqlite" else
        db.func.greatest(SupplierQuota.issued_fen - v.face_value_fen, 0)).execution_options(synchronize_session=False))


def set_supplier_quota(supplier: Supplier, year: int, user, amount_fen: int | None, reason: str) -> SupplierQuota:
    """An adjustment with a reason (e.g. after an evaluation); never below what was already issued."""
    if amount_fen is None or amount_fen <= 0:
        raise FieldErrors({"amount": "请填写上限金额（大于 0）"})
    if not (reason or "").strip():
        raise FieldErrors({"reason": "请填写调整理由"})
    row = db.session.execute(db.select(SupplierQuota).where(SupplierQuota.supplier_id == supplier.id,
                                                            SupplierQuota.year == year).with_for_update()
                             ).scalar_one_or_none()
    if row is None:
        row = SupplierQuota(supplier_id=supplier.id, year=year, quota_fen=amount_fen, issued_fen=0)
        db.session.add(row)
        before = None
    else:
        if amount_fen < row.issued_fen:
            raise FieldErrors({"amount": f"不能低于已发放的 {yuan(row.issued_fen)}"})
        before = row.quota_fen
        row.quota_fen = amount_fen
    db.session.flush()
    audit.record("supplier", supplier.id, "quota_set", actor=user, reason=reason,
                 data={"year": year, "before": before, "after": amount_fen})
    return row


def quotas_for(year: int, supplier_ids) -> dict[int, SupplierQuota]:
    ids = list(supplier_ids)
    if not ids:
        return {}
    return {q.supplier_id: q for q in db.session.execute(db.select(SupplierQuota).where(
        SupplierQuota.year == year, SupplierQuota.supplier_id.in_(ids))).scalars()}


def voucher_year(v: Voucher) -> int:
    return v.cycle.year


def days_ago(d: dt.datetime | None) -> int | None:
    return None if d is None else (today() - d.date()).days
