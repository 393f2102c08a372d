"""Who may receive a voucher (ELIG-1..9): one function, every check, a reason in Chinese.

check() is called before an enterprise starts an application (contract facts are then
"not yet known"), while it fills the form, at submission (every check must pass) and on the
city's review page. Sanctions that later issues set (Enterprise.violation_recorded,
suspended_until_cycle_id, disqualified; Supplier.disqualified, disqualified_until_cycle_id)
are honoured here already (ELIG-4, ELIG-8, REL-4).
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from flask_babel import gettext as _

from blueprints.core.timeutil import local, today
from models import (
    Application, AppStatus, City, ContractClaim, Enterprise, RegStatus, RelatedParty, Setting, Supplier, db,
)

# ELIG-5: 粤府〔2018〕23号 was issued on 2018-03-20; contracts must be signed after it.
DEFAULT_CONTRACT_SIGNED_AFTER = dt.date(2018, 3, 20)
CONTRACT_AFTER_SETTING = "contract_signed_after"
MIN_REVENUE_FEN = 10_000_000 * 100  # ELIG-3: 1000万元


@dataclass(frozen=True)
class Check:
    rule: str
    title: str
    ok: bool | None  # None: cannot be checked yet (the contract is not entered)
    reason: str


def contract_signed_after() -> dt.date:
    """The ELIG-5 date: a Setting row when the province set one, else 2018-03-20."""
    row = db.session.get(Setting, CONTRACT_AFTER_SETTING)
    if row is not None:
        try:
            return dt.date.fromisoformat(row.value)
        except ValueError:
            pass
    return DEFAULT_CONTRACT_SIGNED_AFTER


def _one_year_after(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, month=3, day=1)


def application_date(application: Application | None) -> dt.date:
    if application is not None and application.submitted_at is not None:
        return local(application.submitted_at).date()
    return today()


def is_related(enterprise: Enterprise, supplier: Supplier | None, declared: bool = False) -> bool:
    """REL-1: related when the enterprise declares it or the supplier lists the enterprise's USCC."""
    if declared:
        return True
    if supplier is None or not enterprise.uscc:
        return False
    return db.session.execute(
        db.select(RelatedParty.id).where(RelatedParty.supplier_id == supplier.id, RelatedParty.uscc == enterprise.uscc)
    ).first() is not None


def supplier_problem(supplier: Supplier | None, cycle_id: int | None) -> str | None:
    """Why a supplier cannot be chosen or confirm (ELIG-8, REL-4), or None."""
    if supplier is None:
        return _("尚未选择供应商")
    if supplier.status != RegStatus.APPROVED:
        return _("供应商“%(name)s”尚未完成注册审核", name=supplier.name)
    if supplier.disqualified:
        return _("供应商“%(name)s”已被取消资格", name=supplier.name)
    until = supplier.disqualified_until_cycle_id
    if until is not None and cycle_id is not None and cycle_id <= until:
        return _("供应商“%(name)s”在本批次被取消资格", name=supplier.name)
    from blueprints.core.supervision import sanction_problem  # REL-3, SUP-4

    return sanction_problem(supplier=supplier, cycle_id=cycle_id)


def contract_key(contract_no: str | None) -> str:
    """ELIG-6: the comparable form of a contract number (NFKC full-width -> half-width, upper case,
    no whitespace or - _ / .), so "HT-2026-01" and "ｈｔ2026 01" are the same contract."""
    text = unicodedata.normalize("NFKC", contract_no or "").upper()
    return re.sub(r"[\s\-_/.\u2010-\u2015\u2212]+", "", text)


def claim_conflict(application: Application) -> str | None:
    """ELIG-6: another live application already stands on this contract (number + supplier, or file)."""
    conds = []
    if application.supplier_id and application.contract_no:
        conds.append(
            (ContractClaim.supplier_id == application.supplier_id)
            & (ContractClaim.contract_no == contract_key(application.contract_no))
        )
    sha = application.contract_file.sha256 if application.contract_file is not None else None
    if sha:
        conds.append(ContractClaim.file_sha256 == sha)
    if not conds:
        return None
    q = db.select(ContractClaim).where(db.or_(*conds))
    if application.id is not None:
        q = q.where(ContractClaim.application_id != application.id)
    other = db.session.execute(q.limit(1)).scalar_one_or_none()
    if other is None:
        return None
    if sha and other.file_sha256 == sha:
        return _("同一份合同文件已用于另一项申领，一份合同只能申领一张服务券")
    return _("合同编号“%(no)s”（同一供应商）已用于另一项申领，一份合同只能申领一张服务券", no=application.contract_no)


def _enterprise_checks(e: Enterprise, on: dt.date, cycle_id: int | None) -> list[Check]:
    checks = []
    gd_city = e.city_code is not None and db.session.get(City, e.city_code) is not None
    if e.status == RegStatus.APPROVED and gd_city:
        checks.append(Check("ELIG-1", _("在广东省内注册、具有独立法人资格"), True, _("企业注册资料已通过审核")))
    elif e.status != RegStatus.APPROVED:
        checks.append(Check("ELIG-1", _("在广东省内注册、具有独立法人资格"), False, _("企业注册资料尚未通过地市审核")))
    else:
        checks.append(Check("ELIG-1", _("在广东省内注册、具有独立法人资格"), False, _("注册地不在广东省 21 个地级以上市")))

    if e.established_on is None:
        checks.append(Check("ELIG-2", _("成立满 1 年"), False, _("企业资料中没有成立日期")))
    else:
        full = _one_year_after(e.established_on)
        if full <= on:
            checks.append(Check("ELIG-2", _("成立满 1 年"), True, _("成立于 %(day)s", day=f"{e.established_on:%Y-%m-%d}")))
        else:
            checks.append(Check("ELIG-2", _("成立满 1 年"), False,
                                _("成立于 %(day)s，%(full)s 起才满 1 年", day=f"{e.established_on:%Y-%m-%d}",
                                  full=f"{full:%Y-%m-%d}")))

    if e.revenue_fen is None:
        checks.append(Check("ELIG-3", _("上年度主营业务收入不低于 1000 万元"), False, _("企业资料中没有上年度主营业务收入")))
    elif e.revenue_fen >= MIN_REVENUE_FEN:
        checks.append(Check("ELIG-3", _("上年度主营业务收入不低于 1000 万元"), True, _("主营业务收入达到要求")))
    else:
        checks.append(Check("ELIG-3", _("上年度主营业务收入不低于 1000 万元"), False,
                            _("上年度主营业务收入 %(amount)s 元，低于 1000 万元", amount=f"{e.revenue_fen // 100:,}")))

    if e.violation_recorded:
        checks.append(Check("ELIG-4", _("近 5 年无严重财政专项资金违规"), False, _("主管部门已记录该企业有严重违规行为")))
    elif not e.no_violation_declared:
        checks.append(Check("ELIG-4", _("近 5 年无严重财政专项资金违规"), False, _("企业尚未声明近 5 年无严重违规")))
    else:
        checks.append(Check("ELIG-4", _("近 5 年无严重财政专项资金违规"), True, _("企业已声明，且无违规记录")))

    from blueprints.core.settlement import penalty, suspended_for

    pen = penalty(e.id) if e.id is not None else None
    if e.disqualified:
        checks.append(Check("ELIG-8", _("申领资格未被暂停或取消"), False, _("该企业的申领资格已被取消")))
    elif pen is not None and pen.disqualified:
        checks.append(Check("ELIG-8", _("申领资格未被暂停或取消"), False, pen.text))
    elif e.suspended_until_cycle_id is not None and (cycle_id is None or cycle_id <= e.suspended_until_cycle_id):
        checks.append(Check("ELIG-8", _("申领资格未被暂停或取消"), False, _("该企业本批次的申领资格已被暂停")))
    elif pen is not None and suspended_for(pen, cycle_id):
        checks.append(Check("ELIG-8", _("申领资格未被暂停或取消"), False, pen.text))
    elif (sanctioned := _sanction(e, cycle_id)) is not None:  # SUP-4: suspended or cancelled by the province
        checks.append(Check("ELIG-8", _("申领资格未被暂停或取消"), False, sanctioned))
    elif pen is not None and pen.void_count:
        note = f"；{pen.text}" if pen.text else _("（已有 %(n)s 张服务券作废，累计 2 张将暂停下一批次申领）", n=pen.void_count)
        checks.append(Check("ELIG-8", _("申领资格未被暂停或取消"), True, _("本批次申领资格正常") + note))
    else:
        checks.append(Check("ELIG-8", _("申领资格未被暂停或取消"), True, _("申领资格正常")))
    return checks


def _sanction(e: Enterprise, cycle_id: int | None) -> str | None:
    from blueprints.core.supervision import sanction_problem

    return sanction_problem(enterprise=e, cycle_id=cycle_id)


def _application_checks(a: Application) -> list[Check]:
    checks = []
    after = contract_signed_after()
    title5 = _("合同在 %(day)s 之后签订", day=f"{after:%Y-%m-%d}")
    if a.contract_signed_on is None:
        checks.append(Check("ELIG-5", title5, None, _("请填写合同签订日期")))
    elif a.contract_signed_on > after:
        checks.append(Check("ELIG-5", title5, True,
                            _("合同签订于 %(day)s", day=f"{a.contract_signed_on:%Y-%m-%d}")))
    else:
        checks.append(Check("ELIG-5", title5, False,
                            _("合同签订于 %(day)s，不在 %(after)s 之后", day=f"{a.contract_signed_on:%Y-%m-%d}",
                              after=f"{after:%Y-%m-%d}")))

    conflict = claim_conflict(a)
    if conflict:
        checks.append(Check("ELIG-6", _("同一项目只申请一项省级专项资金"), False, conflict))
    elif not a.single_fund_declared:
        checks.append(Check("ELIG-6", _("同一项目只申请一项省级专项资金"), None if a.status == AppStatus.DRAFT else False,
                            _("请声明该项目只申请本项专项资金")))
    else:
        checks.append(Check("ELIG-6", _("同一项目只申请一项省级专项资金"), True, _("已声明，且合同未被其他申领使用")))

    if a.place_in_guangdong:
        checks.append(Check("ELIG-7", _("项目实施地点在广东省内"), True, _("已确认在广东省内实施")))
    else:  # a declaration the person makes: pending on a draft, missing once submitted
        checks.append(Check("ELIG-7", _("项目实施地点在广东省内"), None if a.status == AppStatus.DRAFT else False,
                            _("请确认项目实施地点在广东省内")))

    problem = supplier_problem(a.supplier, a.cycle_id)
    if a.supplier is None:
        checks.append(Check("ELIG-8", _("所选供应商已注册且未被取消资格"), None, _("请选择供应商")))
    elif problem:
        checks.append(Check("ELIG-8", _("所选供应商已注册且未被取消资格"), False, problem))
    else:
        checks.append(Check("ELIG-8", _("所选供应商已注册且未被取消资格"), True, _("供应商“%(name)s”资格正常", name=a.supplier.name)))
    return checks


def check(enterprise: Enterprise, application: Application | None = None, *, cycle_id: int | None = None) -> list[Check]:
    """Every eligibility check, in rule order (ELIG-9: each failure carries its reason)."""
    on = application_date(application)
    cid = application.cycle_id if application is not None else cycle_id
    checks = _enterprise_checks(enterprise, on, cid)
    if application is not None:
        checks += _application_checks(application)
    order = {f"ELIG-{i}": i for i in range(1, 10)}
    return sorted(checks, key=lambda c: order.get(c.rule, 99))


def failures(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.ok is False]


def all_passed(checks: list[Check]) -> bool:
    """Every check known and passed (what submission and approval need)."""
    return all(c.ok is True for c in checks)
