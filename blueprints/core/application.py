"""The voucher application (申领) from draft to decision (APP-1..4, APP-7, DL-5, ELIG-6, REL-1, PIL-2).

Each act is one function that checks the rules, moves the record through
workflow.APPLICATION, writes the audit row and notifies whoever acts next. Approval and the
voucher itself live in issuance.py. Functions only flush; the route commits.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from blueprints.core import amounts, audit, catalog, eligibility, notices, timeutil, workflow
from blueprints.core.catalog import version_in_force
from blueprints.core.locks import lock_enterprise_cycle
from blueprints.core.money import yuan
from blueprints.core.notices import link  # noqa: F401  (the other core modules import it from here too)
from blueprints.core.timeutil import now, today
from models import (
    AppStatus, Application, CatalogItem, CatalogVersion, ContractClaim, Cycle, Enterprise,
    RegStatus, Role, StoredFile, Supplier, db,
)

REVIEW_WORKING_DAYS = 10  # SLA-2
EDITABLE = (AppStatus.DRAFT, AppStatus.RETURNED)
ENTITY = "application"

CLOUD_FEE_FALLBACK = (
    "上云上平台费用包括公有云资源、平台服务、应用服务、网络，以及上云所需的实施、设备接入和网络改造费用；"
    "不包括购买自动化设备或非云化软件的费用。"
)

# What the enterprise should do next, per status (shown in its lists).
NEXT_STEP = {
    AppStatus.DRAFT: "继续填写合同信息并提交",
    AppStatus.SUPPLIER_REVIEW: "等待供应商确认合同",
    AppStatus.CITY_REVIEW: "等待地市经信部门审核",
    AppStatus.RETURNED: "按退回原因修改后重新提交",
    AppStatus.APPROVED: "服务券已发放：实施完成后，在兑现截止日前申请兑现",
    AppStatus.REJECTED: "申领已被驳回",
    AppStatus.WITHDRAWN: "申领已撤回",
}

# One-time lists of return reasons (一次性告知): common ones to tick, plus free lines.
SUPPLIER_RETURN_REASONS = (
    "合同不是与本单位签订的，或本单位不是合同的主要实施方",
    "合同编号与合同不一致",
    "合同签订日期与合同不一致",
    "上云上平台费用与合同不一致",
    "所选目录服务项与合同内容不符",
)
CITY_RETURN_REASONS = (
    "合同扫描件或照片不清晰、不完整",
    "合同未单独列明上云上平台费用",
    "填报的上云上平台费用与合同不一致",
    "合同编号或签订日期与合同不一致",
    "企业信息与实际不符，请先更新企业资料",
)


class Refused(Exception):
    """A rule refuses the act; the message (Chinese) says which and why."""


def cloud_fee_definition() -> str:
    return getattr(catalog, "CLOUD_FEE_DEFINITION", CLOUD_FEE_FALLBACK)


# --------------------------------------------------------------------------- cycles and drafts


def open_cycle() -> Cycle | None:
    """The announced cycle that takes applications today (earliest deadline first)."""
    return db.session.execute(
        db.select(Cycle)
        .where(Cycle.announced_at.is_not(None), Cycle.announced_at <= now(), Cycle.application_deadline >= today())
        .order_by(Cycle.application_deadline, Cycle.id)
        .limit(1)
    ).scalar_one_or_none()


def deadline_passed(cycle: Cycle) -> bool:
    """DL-5: nothing is submitted after the cycle's application deadline (local date)."""
    return today() > cycle.application_deadline


def unsaved(enterprise: Enterprise) -> Application:
    """The blank form's application, not in the session: a draft exists only from its first save.
    Refused when there is no open cycle or the enterprise itself is not eligible."""
    cycle = open_cycle()
    if cycle is None:
        raise Refused("目前没有正在受理申领的批次")
    failed = eligibility.failures(eligibility.check(enterprise, cycle_id=cycle.id))
    if failed:
        raise Refused("不符合申领条件：" + "；".join(c.reason for c in failed))
    return Application(enterprise_id=enterprise.id, enterprise=enterprise, cycle_id=cycle.id, cycle=cycle,
                       city_code=enterprise.city_code, status=AppStatus.DRAFT, place_in_guangdong=False,
                       single_fund_declared=False, related_declared=False, enterprise_fair_price=False,
                       related_party=False, return_reasons=[], contract_no="")


def start(enterprise: Enterprise, user) -> Application:
    """A new draft in the open cycle (at the form's first save); refused like unsaved()."""
    a = unsaved(enterprise)
    db.session.add(a)
    db.session.flush()
    audit.record(ENTITY, a.id, "create", actor=user, to_state=AppStatus.DRAFT)
    return a


def form_version(a: Application) -> CatalogVersion | None:
    """The catalog version the application uses: in force at (first) submission, or now (CAT-3)."""
    if a.catalog_version_id is not None:
        return a.catalog_version
    return version_in_force(a.submitted_at or now())


def item_in(version: CatalogVersion | None, item_id: int | None) -> CatalogItem | None:
    if version is None or not item_id:
        return None
    item = db.session.get(CatalogItem, item_id)
    return item if item is not None and item.version_id == version.id else None


def selectable_supplier(supplier_id: int | None, cycle_id: int | None) -> Supplier | None:
    s = db.session.get(Supplier, supplier_id) if supplier_id else None
    if s is None or eligibility.supplier_problem(s, cycle_id):
        return None
    return s


def search_suppliers(q: str, cycle_id: int | None, limit: int = 8) -> list[Supplier]:
    """Registered suppliers not disqualified, by name or USCC (ELIG-8, REL-4)."""
    stmt = db.select(Supplier).where(Supplier.status == RegStatus.APPROVED, Supplier.disqualified.is_(False))
    if cycle_id is not None:
        stmt = stmt.where(db.or_(Supplier.disqualified_until_cycle_id.is_(None),
                                 Supplier.disqualified_until_cycle_id < cycle_id))
    q = (q or "").strip()[:50]
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(db.or_(Supplier.name.like(like), Supplier.uscc.like(like)))
    return list(db.session.execute(stmt.order_by(Supplier.name).limit(limit)).scalars())


@dataclass
class DraftData:
    contract_no: str | None = None
    contract_signed_on: dt.date | None = None
    contract_fee_fen: int | None = None
    catalog_item_id: int | None = None
    supplier_id: int | None = None
    place_in_guangdong: bool = False
    single_fund_declared: bool = False
    related_declared: bool = False
    enterprise_fair_price: bool = False


class DraftRefused(Refused):
    """The draft names a catalog item or supplier that cannot be chosen; errors = {field: Chinese message}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("；".join(errors.values()))
        self.errors = errors


def draft_choice_errors(a: Application, catalog_item_id: int | None, supplier_id: int | None) -> dict[str, str]:
    """Only an item of the form's catalog version (in force, CAT-3) and a selectable supplier (ELIG-8, REL-4)."""
    errors = {}
    if catalog_item_id and item_in(form_version(a), catalog_item_id) is None:
        errors["catalog_item_id"] = "所选目录服务项不存在或不属于当前生效的目录版本，请重新选择"
    if supplier_id and selectable_supplier(supplier_id, a.cycle_id) is None:
        errors["supplier_id"] = "所选供应商不存在、未通过登记或已被取消资格，请重新选择"
    return errors


def save_draft(a: Application, data: DraftData, contract_file: StoredFile | None, user) -> None:
    """Store what the enterprise entered (a draft may be incomplete). Raises DraftRefused (nothing
    changed) for an unknown or unselectable catalog item or supplier."""
    if a.status not in EDITABLE:
        raise workflow.NotAllowed("该申领已提交，不能修改")
    errors = draft_choice_errors(a, data.catalog_item_id, data.supplier_id)
    if errors:
        raise DraftRefused(errors)
    a.contract_no = (data.contract_no or "").strip()
    a.contract_signed_on = data.contract_signed_on
    a.contract_fee_fen = data.contract_fee_fen
    a.catalog_item_id = data.catalog_item_id or None
    a.supplier_id = data.supplier_id or None
    a.place_in_guangdong = data.place_in_guangdong
    a.single_fund_declared = data.single_fund_declared
    a.related_declared = data.related_declared
    a.enterprise_fair_price = data.enterprise_fair_price
    if contract_file is not None:
        a.contract_file_id = contract_file.id
    a.related_party = eligibility.is_related(a.enterprise, db.session.get(Supplier, a.supplier_id)
                                             if a.supplier_id else None, a.related_declared)
    db.session.flush()
    db.session.expire(a, ["supplier", "catalog_item", "contract_file"])


# --------------------------------------------------------------------------- submission


def missing_for_submit(a: Application) -> list[str]:
    """APP-1: the contract, its number, date and fee, the catalog item and the supplier."""
    missing = []
    if a.contract_file_id is None:
        missing.append("请上传合同（PDF 或照片）")
    if not a.contract_no:
        missing.append("请填写合同编号")
    if a.contract_signed_on is None:
        missing.append("请填写合同签订日期")
    if not a.contract_fee_fen:
        missing.append("请填写合同所列上云上平台费用")
    if a.catalog_item_id is None:
        missing.append("请选择目录服务项")
    if a.supplier_id is None:
        missing.append("请选择供应商")
    if a.related_party and not a.enterprise_fair_price:
        missing.append("与供应商存在关联关系的，企业须承诺合同价格公允")
    return missing


def recheck_related(a: Application) -> bool:
    """REL-1: the relation is re-read at every step (submit, supplier confirm, city approval), since
    the supplier may list the enterprise as a related party after the draft was saved. Once
    related, the application stays flagged."""
    if not a.related_party and eligibility.is_related(a.enterprise, a.supplier, a.related_declared):
        a.related_party = True
    return bool(a.related_party)


def related_commitments_missing(a: Application) -> str | None:
    """REL-1 at city approval: a related-party application needs both fair-price commitments."""
    if not recheck_related(a):
        return None
    missing = []
    if not a.enterprise_fair_price:
        missing.append("企业")
    if not a.supplier_fair_price:
        missing.append("供应商")
    if not missing:
        return None
    return (f"该申领企业与供应商存在关联关系，但缺少{'和'.join(missing)}的合同价格公允承诺，"
            "不能通过，请退回补充")


def _claim_contract(a: Application) -> None:
    """ELIG-6, race-free: the UNIQUE constraints of contract_claim decide, not a prior read."""
    db.session.execute(db.delete(ContractClaim).where(ContractClaim.application_id == a.id))
    claim = ContractClaim(application_id=a.id, supplier_id=a.supplier_id, contract_no=eligibility.contract_key(a.contract_no),
                          file_sha256=a.contract_file.sha256)
    try:
        with db.session.begin_nested():
            db.session.add(claim)
    except IntegrityError:
        raise Refused(eligibility.claim_conflict(a) or "该合同已用于另一项申领，一份合同只能申领一张服务券") from None


def submitted_supplier_id(a: Application) -> int | None:
    """The supplier the application was last submitted to (its contract claim), or None."""
    return db.session.execute(
        db.select(ContractClaim.supplier_id).where(ContractClaim.application_id == a.id)
    ).scalar_one_or_none()


def release_contract(a: Application) -> None:
    db.session.execute(db.delete(ContractClaim).where(ContractClaim.application_id == a.id))


def submit(a: Application, user) -> None:
    """Submit (or resubmit) for supplier confirmation (APP-1, APP-2, DL-5, ELIG-1..9, CAT-3)."""
    if not getattr(user, "is_signatory", True):
        raise Refused(workflow.NOT_SIGNATORY)  # the declarations are the signatory's (the draft is kept)
    workflow.find(a, "submit", user)
    if deadline_passed(a.cycle):
        raise Refused(f"本批次申领已于 {a.cycle.application_deadline:%Y-%m-%d} 截止，不能再提交")
    recheck_related(a)  # REL-1: missing_for_submit then asks for the enterprise's commitment
    missing = missing_for_submit(a)
    if missing:
        raise Refused("；".join(missing))
    version = version_in_force(a.submitted_at or now())
    if version is None:
        raise Refused("目前没有生效的应用服务目录，暂不能提交")
    item = item_in(version, a.catalog_item_id)
    if item is None:
        raise Refused("所选目录服务项不属于当前生效的目录版本，请重新选择")
    failed = [c for c in eligibility.check(a.enterprise, a) if c.ok is not True]
    if failed:
        raise Refused("不符合申领条件：" + "；".join(c.reason for c in failed))
    _claim_contract(a)
    # A (re)submission changes what the enterprise's pending applications hold (AMT-3): take the same
    # per-enterprise lock as issuance so the two never interleave.
    lock_enterprise_cycle(a.enterprise_id, a.cycle_id)
    first = a.submitted_at is None
    if first:
        a.submitted_at = now()  # APP-2: kept on resubmission
    a.catalog_version_id = version.id
    a.item_amount_fen = amounts.item_amount(item.cap_fen, a.contract_fee_fen)
    a.return_reasons = []
    a.returned_by = ""
    a.due_on = None
    a.confirmed_at = None
    snap = snapshot(a)
    data = {"item_amount_fen": a.item_amount_fen, "catalog_version_id": version.id, "resubmitted": not first,
            "snapshot": snap}
    if not first:  # the reviewer sees what changed since the return, field by field
        data["changes"] = changes_since(previous_snapshot(a), snap)
    workflow.apply(a, "submit", user, data=data)
    notices.notify_org(supplier_id=a.supplier_id, title="有新的客户申领待您确认",
                       body=f"{a.enterprise.name} 提交了服务券申领（合同编号 {a.contract_no}）。",
                       link=link("supplier.application_detail", app_id=a.id))


# What a reviewer compares between two submissions, in the form's order (labels as on the review page).
SNAPSHOT_LABELS = {
    "contract_file": "合同文件", "contract_no": "合同编号", "contract_signed_on": "合同签订日期",
    "contract_fee": "上云上平台费用", "catalog_item": "目录服务项", "supplier": "供应商",
    "place_in_guangdong": "实施地点在广东省内", "single_fund_declared": "只申请一项专项资金",
    "related_declared": "申报关联关系", "enterprise_fair_price": "企业承诺价格公允",
}


def snapshot(a: Application) -> dict[str, str]:
    """The submitted facts as the reviewer reads them (text), kept in the submission's audit event."""
    f = a.contract_file
    return {
        # The name alone would hide a new file of the same name: its size tells them apart.
        "contract_file": f"{f.original_name or '合同文件'}（{f.size:,} 字节）" if f is not None else "",
        "contract_no": a.contract_no or "",
        "contract_signed_on": a.contract_signed_on.isoformat() if a.contract_signed_on else "",
        "contract_fee": yuan(a.contract_fee_fen) if a.contract_fee_fen is not None else "",
        "catalog_item": f"{a.catalog_item.code} {a.catalog_item.name}" if a.catalog_item else "",
        "supplier": a.supplier.name if a.supplier else "",
        "place_in_guangdong": "是" if a.place_in_guangdong else "否",
        "single_fund_declared": "是" if a.single_fund_declared else "否",
        "related_declared": "是" if a.related_declared else "否",
        "enterprise_fair_price": "是" if a.enterprise_fair_price else "否",
    }


def previous_snapshot(a: Application) -> dict | None:
    """The facts of the last submission (before the return), or None for a record submitted before
    submissions kept them."""
    return audit.last_snapshot(ENTITY, a.id)


def changes_since(before: dict | None, after: dict) -> list[dict]:
    """Field by field what differs since the last submission (the form's order)."""
    return audit.field_changes(before, after, SNAPSHOT_LABELS)


def withdraw(a: Application, user) -> None:
    """APP-7: until the city approves; frees the contract and the amount it held (AMT-3)."""
    was_submitted = a.status != AppStatus.DRAFT
    if a.status == AppStatus.RETURNED:
        # ROLE-8: a supplier chosen while returned never received it; the withdrawn record names
        # the supplier it was last submitted to.
        submitted_to = submitted_supplier_id(a)
        if submitted_to is not None:
            a.supplier_id = submitted_to
    workflow.apply(a, "withdraw", user)
    release_contract(a)
    a.due_on = None
    if was_submitted and a.supplier_id:
        notices.notify_org(supplier_id=a.supplier_id, title="客户已撤回服务券申领",
                           body=f"{a.enterprise.name} 撤回了申领（合同编号 {a.contract_no}）。")


# --------------------------------------------------------------------------- supplier and city decisions


def confirm(a: Application, user, *, pilot: bool = False, fair_price: bool = False) -> None:
    """APP-3 by the contract's supplier; REL-1 fair-price commitment; PIL-2 pilot mark; REL-4."""
    problem = eligibility.supplier_problem(a.supplier, a.cycle_id)
    if problem:
        raise Refused(problem + "，不能确认申领")
    if not getattr(user, "is_signatory", True):
        raise Refused(workflow.NOT_SIGNATORY)  # the confirmation and commitment are the signatory's
    workflow.find(a, "confirm", user)
    if recheck_related(a) and not fair_price:
        raise Refused("该申领为关联交易，须承诺合同价格为公允的市场价格后才能确认")
    if pilot and not a.supplier.is_pilot:
        raise Refused("只有试点单位才能将申领标记为试点")
    a.pilot = bool(pilot)
    a.supplier_fair_price = bool(fair_price) if a.related_party else False
    a.confirmed_at = now()
    a.due_on = timeutil.add_working_days(today(), REVIEW_WORKING_DAYS)  # SLA-2
    workflow.apply(a, "confirm", user, data={"pilot": a.pilot, "supplier_fair_price": a.supplier_fair_price})
    notices.notify_org(city_code=a.city_code, title="有新的服务券申领待审核",
                       body=f"{a.enterprise.name}（{'关联交易，' if a.related_party else ''}"
                            f"{a.due_on:%Y-%m-%d} 前审结）",
                       link=link("city.application_detail", app_id=a.id))
    notices.notify_org(enterprise_id=a.enterprise_id, title="供应商已确认您的申领，已提交地市审核",
                       link=link("enterprise.application_detail", app_id=a.id))


def parse_reasons(ticked: list[str], other: str, allowed: tuple[str, ...]) -> list[str]:
    """The one-time list: ticked common reasons (only known ones) then each non-empty line."""
    reasons = [r for r in allowed if r in set(ticked)]
    reasons += [line.strip()[:300] for line in (other or "").splitlines() if line.strip()]
    return reasons[:30]


def return_(a: Application, user, reasons: list[str]) -> None:
    """APP-3/APP-4: back to the enterprise with every reason at once (一次性告知)."""
    if not reasons:
        raise Refused("请至少列出一条退回原因")
    workflow.apply(a, "return", user, reason="\n".join(reasons), data={"reasons": reasons})
    a.return_reasons = list(reasons)
    a.returned_by = str(user.acting_role)
    a.due_on = None
    who = "供应商" if user.acting_role == Role.SUPPLIER else "地市经信部门"
    notices.notify_org(enterprise_id=a.enterprise_id, title=f"{who}退回了您的服务券申领，请修改后重新提交",
                       body="\n".join(f"{i}. {r}" for i, r in enumerate(reasons, 1)),
                       link=link("enterprise.application_detail", app_id=a.id))


def reject(a: Application, user, reason: str) -> None:
    """APP-4: final; the contract and the amount it held are freed."""
    reason = (reason or "").strip()
    if not reason:
        raise Refused("请填写驳回理由")
    workflow.apply(a, "reject", user, reason=reason)
    a.decided_at = now()
    a.due_on = None
    release_contract(a)
    notices.notify_org(enterprise_id=a.enterprise_id, title="您的服务券申领已被驳回", body=reason,
                       link=link("enterprise.application_detail", app_id=a.id))


def review_preview(a: Application) -> amounts.Preview:
    """What approval would issue now (AMT-3), for the city's review page."""
    version = a.catalog_version or form_version(a)
    item = a.catalog_item
    return amounts.preview(a, version, item, a.contract_fee_fen)


def discard_draft(a: Application, user) -> None:
    """The enterprise deletes a draft it does not want (never submitted, so nothing refers to it);
    the audit trail keeps the record of it."""
    if a.status != AppStatus.DRAFT:
        raise Refused("只有未提交过的草稿可以删除；已提交的申领可以撤回")
    audit.record(ENTITY, a.id, "discard", actor=user, from_state=a.status,
                 data={"contract_no": a.contract_no or "", "contract_file_id": a.contract_file_id})
    db.session.delete(a)
    db.session.flush()


working_days_left_many = timeutil.working_days_left_many  # queues (SLA-5): one query for the page
