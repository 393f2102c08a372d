"""Every workflow of the platform as one explicit transition table each.

actions_for(obj, user) lists what the user may do now (the buttons come only from here);
apply(obj, action, user, reason) checks table + role + row scope, sets the status, writes
the audit row and flushes. Side effects (deadlines, vouchers, notices) are called by the
caller after apply(), keyed by (workflow, action): no signals.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from blueprints.core import audit
from models import AppStatus, Application, Enterprise, RegStatus, Role, Supplier
from models import CatalogStatus, CatalogVersion, Cycle
from models import ExpertReview, ProfileChange, db
from models import SetStatus, Settlement
from models import EntryStatus, ListEntry, ListStatus, Objection, ObjStatus, SettlementList


class NotAllowed(Exception):
    """An action that the table, the role or the row scope does not permit (-> 409/403)."""


@dataclass(frozen=True)
class Transition:
    source: str
    action: str
    target: str
    roles: frozenset
    label: str
    style: str = "primary"  # primary | danger | secondary
    needs_reason: bool = False
    confirm: str = ""
    guard: Optional[Callable] = field(default=None, compare=False)


def T(source, action, target, roles, label, **kw) -> Transition:
    return Transition(source, action, target, frozenset(roles), label, **kw)


E, S, C, P, X = Role.ENTERPRISE, Role.SUPPLIER, Role.CITY, Role.PROVINCE, Role.EXPERT
R = RegStatus


def _in_province(s: Supplier) -> bool:
    return bool(s.in_province)


def _out_of_province(s: Supplier) -> bool:
    return not s.in_province


def experts_scored(s: Supplier) -> bool:
    """REG-4: the province decides with at least one expert's score of this round in view."""
    return db.session.execute(
        db.select(ExpertReview.id).where(ExpertReview.supplier_id == s.id, ExpertReview.round == s.review_round)
    ).first() is not None


# REG-3, REG-5, REG-6: enterprise registration is decided by its city.
ENTERPRISE_REGISTRATION = (
    T(R.DRAFT, "submit", R.CITY_REVIEW, {E}, "提交审核"),
    T(R.RETURNED, "submit", R.CITY_REVIEW, {E}, "重新提交"),
    T(R.CITY_REVIEW, "approve", R.APPROVED, {C}, "通过", confirm="确认通过该企业注册？"),
    T(R.CITY_REVIEW, "return", R.RETURNED, {C}, "退回修改", style="secondary", needs_reason=True),
    T(R.CITY_REVIEW, "reject", R.REJECTED, {C}, "驳回", style="danger", needs_reason=True,
      confirm="驳回是最终决定，确认驳回？"),
)

# REG-4: in-province suppliers: city (facts) then province with experts; others: province.
SUPPLIER_REGISTRATION = (
    T(R.DRAFT, "submit", R.CITY_REVIEW, {S}, "提交审核", guard=_in_province),
    T(R.DRAFT, "submit", R.PROVINCE_REVIEW, {S}, "提交审核", guard=_out_of_province),
    T(R.RETURNED, "submit", R.CITY_REVIEW, {S}, "重新提交", guard=_in_province),
    T(R.RETURNED, "submit", R.PROVINCE_REVIEW, {S}, "重新提交", guard=_out_of_province),
    T(R.CITY_REVIEW, "approve", R.PROVINCE_REVIEW, {C}, "基本信息属实，报省复核"),
    T(R.CITY_REVIEW, "return", R.RETURNED, {C}, "退回修改", style="secondary", needs_reason=True),
    T(R.CITY_REVIEW, "reject", R.REJECTED, {C}, "驳回", style="danger", needs_reason=True,
      confirm="驳回是最终决定，确认驳回？"),
    T(R.PROVINCE_REVIEW, "approve", R.APPROVED, {P}, "通过", confirm="确认通过该供应商注册？",
      guard=experts_scored),
    T(R.PROVINCE_REVIEW, "return", R.RETURNED, {P}, "退回修改", style="secondary", needs_reason=True),
    T(R.PROVINCE_REVIEW, "reject", R.REJECTED, {P}, "驳回", style="danger", needs_reason=True,
      confirm="驳回是最终决定，确认驳回？"),
)


def _change_via_city(c: ProfileChange) -> bool:
    return c.city_code is not None


def _change_to_province(c: ProfileChange) -> bool:
    return c.city_code is None


def _enterprise_change(c: ProfileChange) -> bool:
    return c.enterprise_id is not None


def _supplier_change(c: ProfileChange) -> bool:
    return c.supplier_id is not None


# REG-9: a change to an approved profile is reviewed by the same reviewers as the
# registration (enterprise: its city; supplier: its city, then the province); the approved
# facts stay in force meanwhile. A change is created and submitted in one step.
PROFILE_CHANGE = (
    T(R.DRAFT, "submit", R.CITY_REVIEW, {E, S}, "提交变更", guard=_change_via_city),
    T(R.DRAFT, "submit", R.PROVINCE_REVIEW, {S}, "提交变更", guard=_change_to_province),
    T(R.RETURNED, "submit", R.CITY_REVIEW, {E, S}, "重新提交变更", guard=_change_via_city),
    T(R.RETURNED, "submit", R.PROVINCE_REVIEW, {S}, "重新提交变更", guard=_change_to_province),
    T(R.CITY_REVIEW, "approve", R.APPROVED, {C}, "通过变更", confirm="确认通过该变更？通过后新资料立即生效。",
      guard=_enterprise_change),
    T(R.CITY_REVIEW, "approve", R.PROVINCE_REVIEW, {C}, "变更属实，报省复核", guard=_supplier_change),
    T(R.CITY_REVIEW, "return", R.RETURNED, {C}, "退回修改", style="secondary", needs_reason=True),
    T(R.CITY_REVIEW, "reject", R.REJECTED, {C}, "不予变更", style="danger", needs_reason=True,
      confirm="不予变更是最终决定（原资料继续有效），确认？"),
    T(R.PROVINCE_REVIEW, "approve", R.APPROVED, {P}, "通过变更", confirm="确认通过该变更？通过后新资料立即生效。"),
    T(R.PROVINCE_REVIEW, "return", R.RETURNED, {P}, "退回修改", style="secondary", needs_reason=True),
    T(R.PROVINCE_REVIEW, "reject", R.REJECTED, {P}, "不予变更", style="danger", needs_reason=True,
      confirm="不予变更是最终决定（原资料继续有效），确认？"),
    *(
        T(src, "withdraw", R.WITHDRAWN, {E, S}, "撤回变更", style="danger", confirm="撤回该变更申请？")
        for src in (R.CITY_REVIEW, R.PROVINCE_REVIEW, R.RETURNED)
    ),
)

A = AppStatus


def _supplier_may_confirm(a: Application) -> bool:
    """REL-4: a disqualified (or unregistered) supplier cannot confirm."""
    from blueprints.core.eligibility import supplier_problem

    return supplier_problem(a.supplier, a.cycle_id) is None


# APP-3, APP-4, APP-7: supplier confirms, then the city decides; withdraw until approval.
APPLICATION = (
    T(A.DRAFT, "submit", A.SUPPLIER_REVIEW, {E}, "提交申领"),
    T(A.RETURNED, "submit", A.SUPPLIER_REVIEW, {E}, "重新提交"),
    T(A.SUPPLIER_REVIEW, "confirm", A.CITY_REVIEW, {S}, "确认合同属实", guard=_supplier_may_confirm),
    T(A.SUPPLIER_REVIEW, "return", A.RETURNED, {S}, "退回企业修改", style="secondary", needs_reason=True),
    T(A.CITY_REVIEW, "approve", A.APPROVED, {C}, "通过并发放服务券",
      confirm="通过后将立即发放服务券，确认？"),
    T(A.CITY_REVIEW, "return", A.RETURNED, {C}, "退回修改", style="secondary", needs_reason=True),
    T(A.CITY_REVIEW, "reject", A.REJECTED, {C}, "驳回", style="danger", needs_reason=True,
      confirm="驳回是最终决定，确认驳回？"),
    *(
        T(src, "withdraw", A.WITHDRAWN, {E}, "撤回申领", style="danger",
          confirm="撤回后该申领不能恢复，确认撤回？")
        for src in (A.DRAFT, A.SUPPLIER_REVIEW, A.CITY_REVIEW, A.RETURNED)
    ),
)

Z = SetStatus

# SET-1, SET-4, SET-5, SET-6, DL-2: the enterprise files, its supplier confirms, usage verification
# (or the province's recorded override) lets it through, then the city decides. The enterprise may
# withdraw until the supplier confirms. Verified usage moves a settlement on by the platform's own
# step (settlement.advance_verified, audit action "verified", no user), outside this table.
SETTLEMENT = (
    T(Z.DRAFT, "submit", Z.SUPPLIER_REVIEW, {E}, "提交兑现申请"),
    T(Z.RETURNED, "submit", Z.SUPPLIER_REVIEW, {E}, "重新提交"),
    T(Z.SUPPLIER_REVIEW, "withdraw", Z.DRAFT, {E}, "撤回修改", style="secondary",
      confirm="撤回后须在兑现截止日前重新提交并重新等待供应商确认，逾期服务券作废（首次提交时间保留）。确认撤回？"),
    T(Z.SUPPLIER_REVIEW, "confirm", Z.VERIFICATION, {S}, "确认发票和付款属实"),
    T(Z.SUPPLIER_REVIEW, "return", Z.RETURNED, {S}, "退回企业修改", style="secondary", needs_reason=True),
    T(Z.VERIFICATION, "override", Z.CITY_REVIEW, {P}, "省级核定：免于等待用量核验", needs_reason=True,
      confirm="将跳过用量核验直接转地市审核，理由将记入审计记录。确认？"),
    T(Z.CITY_REVIEW, "approve", Z.APPROVED, {C}, "审核通过", confirm="通过后将列入本市结算清单，确认通过？"),
    T(Z.CITY_REVIEW, "return", Z.RETURNED, {C}, "退回修改", style="secondary", needs_reason=True),
    T(Z.CITY_REVIEW, "reject", Z.REJECTED, {C}, "驳回（材料虚假）", style="danger", needs_reason=True,
      confirm="驳回是最终决定：该服务券将立即作废，并计入企业作废次数。确认驳回？"),
)

# CAT-2: a catalog draft is published once and never changes again.
CATALOG_VERSION = (
    T(CatalogStatus.DRAFT, "publish", CatalogStatus.PUBLISHED, {P}, "发布",
      confirm="发布后该版本立即生效且不能再修改，确认发布？"),
)

# CYC-1, CYC-2, DL-1: a cycle's deadlines are shown on the platform once announced.
CYCLE = (
    T("draft", "announce", "announced", {P}, "在平台公布",
      confirm="公布后截止日期将在平台公示；以后提前截止日期须提前30天公告。确认公布？"),
)

# PUB-1: a city's draft settlement list is published (or given up); publicity and objections follow.
SETTLEMENT_LIST = (
    T(ListStatus.DRAFT, "publish", ListStatus.PUBLISHED, {C}, "发布公示",
      confirm="发布后清单将在平台和公开页面公示，不能撤回。确认发布？"),
    T(ListStatus.DRAFT, "discard", "discarded", {C}, "删除草稿", style="danger",
      confirm="删除后清单中的兑现申请可列入下一份清单。确认删除？"),
)

# PUB-2, PUB-3: the city answers an objection or passes it to the province, which decides it.
OBJECTION = (
    T(ObjStatus.OPEN, "upheld", ObjStatus.UPHELD, {C}, "异议成立", style="danger", needs_reason=True,
      confirm="异议成立：所涉条目将从清单撤下，其兑现申请退回地市重新审核。确认？"),
    T(ObjStatus.OPEN, "dismissed", ObjStatus.DISMISSED, {C}, "异议不成立", needs_reason=True,
      confirm="异议不成立：所涉条目恢复支付排队（原有顺序）。确认？"),
    T(ObjStatus.OPEN, "escalate", ObjStatus.ESCALATED, {C}, "提交省级处理", style="secondary", needs_reason=True),
    T(ObjStatus.ESCALATED, "upheld", ObjStatus.UPHELD, {P}, "异议成立", style="danger", needs_reason=True,
      confirm="异议成立：所涉条目将从清单撤下，其兑现申请退回地市重新审核。确认？"),
    T(ObjStatus.ESCALATED, "dismissed", ObjStatus.DISMISSED, {P}, "异议不成立", needs_reason=True,
      confirm="异议不成立：所涉条目恢复支付排队（原有顺序）。确认？"),
)

# PAY-1: a committed entry's payment is recorded by its city. (Holding, releasing and removing an
# entry follow its objections; committing follows a payout batch: payout.py, not buttons.)
LIST_ENTRY = (
    T(EntryStatus.COMMITTED, "pay", EntryStatus.PAID, {C}, "登记支付"),
)

WORKFLOWS: dict[type, tuple[str, tuple[Transition, ...]]] = {
    CatalogVersion: ("catalog_version", CATALOG_VERSION),
    Cycle: ("cycle", CYCLE),
    Enterprise: ("enterprise", ENTERPRISE_REGISTRATION),
    Supplier: ("supplier", SUPPLIER_REGISTRATION),
    Application: ("application", APPLICATION),
    ProfileChange: ("profile_change", PROFILE_CHANGE),
    Settlement: ("settlement", SETTLEMENT),
    SettlementList: ("settlement_list", SETTLEMENT_LIST),
    Objection: ("objection", OBJECTION),
    ListEntry: ("list_entry", LIST_ENTRY),
}

TERMINAL = {
    "enterprise": {R.REJECTED},
    "supplier": {R.REJECTED},
    "application": {A.APPROVED, A.REJECTED, A.WITHDRAWN},
    "catalog_version": {CatalogStatus.PUBLISHED},
    "cycle": {"announced"},
    "profile_change": {R.APPROVED, R.REJECTED, R.WITHDRAWN},
    "settlement": {Z.APPROVED, Z.REJECTED},
    "settlement_list": {ListStatus.PUBLISHED, "discarded"},
    "objection": {ObjStatus.UPHELD, ObjStatus.DISMISSED},
    "list_entry": {EntryStatus.PAID},
}


def table_for(obj) -> tuple[str, tuple[Transition, ...]]:
    return WORKFLOWS[type(obj)]


def _scope_ok(obj, user) -> bool:
    from blueprints.core.access import can_act

    return can_act(user, obj)


def actions_for(obj, user) -> list[Transition]:
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    _, table = table_for(obj)
    role = user.acting_role
    found = [
        t for t in table
        if t.source == obj.status and role in t.roles and (t.guard is None or t.guard(obj))
    ]
    if found and not _scope_ok(obj, user):
        return []
    return found


# The transitions by which an enterprise or supplier commits itself (declarations, commitments,
# confirmations): made only by a member marked as legal representative or authorised signatory.
# "release" (giving up an issued voucher, settlement.release: not a table transition, gated there with
# NOT_SIGNATORY_RELEASE) is irreversible and may count against the enterprise as a void voucher (DL-2).
# "withdraw" is deliberately not here: it is reversible (the enterprise can file again), so any member may.
SIGNED_ACTIONS = frozenset({"submit", "confirm", "release"})
NOT_SIGNATORY = "提交和确认须由本单位的法定代表人或授权签字人完成；您可以保存草稿，请联系签字人提交"
NOT_SIGNATORY_RELEASE = "放弃服务券须由本单位的法定代表人或授权签字人完成，请联系签字人"


def find(obj, action: str, user) -> Transition:
    for t in actions_for(obj, user):
        if t.action == action:
            if (action in SIGNED_ACTIONS and getattr(user, "role", None) in (E, S)
                    and not getattr(user, "is_signatory", True)):
                raise NotAllowed(NOT_SIGNATORY)
            return t
    raise NotAllowed("当前状态下不能执行该操作（可能已被他人处理，请刷新页面）")


def apply(obj, action: str, user, reason: str = "", data: dict | None = None):
    """Move obj through `action`; returns the audit event. Raises NotAllowed."""
    t = find(obj, action, user)
    reason = (reason or "").strip()
    if t.needs_reason and not reason:
        raise NotAllowed("请填写理由")
    name, _ = table_for(obj)
    before = obj.status
    obj.status = t.target
    return audit.record(
        name, obj.id, action, actor=user, from_state=before, to_state=t.target,
        reason=reason, data=data,
    )


STATUS_LABELS = {
    "draft": "草稿",
    "city_review": "地市审核中",
    "province_review": "省级复核中",
    "returned": "已退回待修改",
    "approved": "已通过",
    "rejected": "已驳回",
    "supplier_review": "供应商确认中",
    "withdrawn": "已撤回",
    "issued": "已发放",
    "void": "已作废",
    "published": "已发布",
    "announced": "已公布",
    "verification": "等待用量核验",
    "released": "已放弃",
    # lists, objections, payout
    "discarded": "已删除", "open": "地市处理中", "escalated": "省级处理中", "upheld": "异议成立",
    "dismissed": "异议不成立", "listed": "已列入清单", "held": "异议处理中，暂缓支付", "removed": "已撤下",
    "committed": "已列入支付批次", "paid": "已支付",
}

# What an audit event without a state change says on a timeline (the action names are the code's).
ACTION_LABELS = {
    "create": "创建", "edit": "修改", "set": "设定", "save": "保存草稿", "signup": "注册账号",
    "login": "登录", "logout": "退出", "password_change": "修改了密码", "enable": "启用",
    "expert_review": "专家评分", "change_submit": "提交资料变更", "change_applied": "变更生效",
    "scheme_targets": "设定方案目标", "override": "省级核定", "override_removed": "取消核定",
    # usage verification on the voucher's timeline
    "address_add": "申报企业端地址", "address_remove": "删除企业端地址", "usage_override": "省级核定上云用量",
    "usage_override_removed": "取消上云用量核定", "verified": "上云用量核验通过", "release": "放弃服务券",
    "void": "服务券作废", "generate": "生成完成情况表", "send": "下发完成情况表",
    # lists, objections, payout
    "publish": "发布公示", "discard": "删除草稿", "raise": "提出异议", "escalate": "提交省级处理",
    "upheld": "异议成立", "dismissed": "异议不成立", "hold": "因异议暂缓支付", "unhold": "恢复支付排队",
    "remove": "从清单撤下", "reopen": "退回地市重新审核", "confirm": "确认支付批次", "pay": "登记支付",
    # supervision
    "spot_check": "现场核查", "recovery": "登记资金收回", "recovery_returned": "收回资金已退回",
    "sanction_disqualify": "取消本批次及下一批次资格", "sanction_suspend": "暂停资格", "sanction_cancel": "取消资格（骗补）",
    "sanction_lift": "恢复资格", "pilot_select": "遴选为试点单位", "pilot_revoke": "撤销试点单位称号",
    "quota_set": "调整发放上限", "select": "遴选", "revoke": "撤销",
    "supplier_rating": "评价服务商", "award": "授予广东省工业互联网优秀供应商",  # SUP-3
    "complaint_submit": "提交留言", "complaint_forward": "转交地市办理", "complaint_answer": "答复留言",  # SUP-5
    "issue": "发放服务券", "token_issue": "签发访问令牌", "token_revoke": "吊销访问令牌",
    # R21: the second factor of logins
    "second_factor": "完成两步验证", "two_factor_enrol": "启用两步验证", "two_factor_off": "关闭两步验证",
    "two_factor_reset": "重置两步验证", "recovery_codes_renew": "重新生成恢复码", "devices_forget": "忘记记住的设备",
    "mail_settings": "修改邮件通知设置",
    "mail_retry": "重新发送邮件", "mail_retry_all": "重新发送全部失败邮件",  # the province's mail outbox page
    # colleagues
    "team_invite": "邀请同事", "team_invite_renew": "重新生成邀请链接", "team_join": "接受邀请并启用账号",
    "team_disable": "停用成员", "team_enable": "启用成员", "team_roles": "修改成员权限",
    "team_invite_revoke": "撤销邀请",
}

STATUS_BADGE = {
    "draft": "muted", "city_review": "info", "province_review": "info", "supplier_review": "info",
    "returned": "warn", "approved": "ok", "rejected": "bad", "withdrawn": "muted",
    "issued": "ok", "void": "bad", "published": "ok", "announced": "ok",
    "verification": "info", "released": "muted",
    "discarded": "muted", "open": "info", "escalated": "warn", "upheld": "bad", "dismissed": "ok",
    "listed": "info", "held": "warn", "removed": "bad", "committed": "info", "paid": "ok",
}


def event_label(ev) -> str:
    """What an audit event says on a timeline, as a verb: the label of the transition it records (提交审核,
    退回修改 …), else the action's label (ACTION_LABELS), else the action's name."""
    for name, table in WORKFLOWS.values():
        if name == ev.entity_type:
            for t in table:
                if t.action == ev.action and (not ev.from_state or t.source == ev.from_state):
                    return t.label
    return ACTION_LABELS.get(str(ev.action), str(ev.action))
