"""Cycles (发放批次) and their announced deadlines (CYC-1, CYC-2, DL-1).

Both deadlines are announced on the platform at least NOTICE_DAYS ahead: a deadline less
than 30 days after the announcement is refused, and moving an announced deadline earlier
needs the same notice counted from the day of the change. Moving a deadline later is
always allowed. The announcement and every change of an announced deadline become a
CycleNotice (public, with the reason), and an audit row. Functions here only flush.
"""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy.orm import contains_eager

from blueprints.core import audit, workflow
from blueprints.core.catalog import conflicts_as_409
from blueprints.core.timeutil import local, now, today
from blueprints.core.money import yuan
from models import Application, AuditEvent, Budget, City, CityTarget, Cycle, CycleNotice, db

NOTICE_DAYS = 30
ENTITY = "cycle"
DEADLINES = ("application_deadline", "settlement_deadline")
DEADLINE_LABELS = {"application_deadline": "申领截止日期", "settlement_deadline": "兑现截止日期"}


class CycleError(ValueError):
    """Refused input, by form field name -> Chinese message (shown on the form, 422)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("；".join(errors.values()))
        self.errors = errors


def earliest_deadline(on: dt.date | None = None) -> dt.date:
    """The earliest deadline that can be announced (or moved earlier) on day `on` (CYC-2)."""
    return (on or today()) + dt.timedelta(days=NOTICE_DAYS)


def announced_on(cycle: Cycle) -> dt.date | None:
    return local(cycle.announced_at).date() if cycle.announced_at else None


def deadline_problems(cycle: Cycle | None, values: dict[str, dt.date], on: dt.date | None = None) -> dict[str, str]:
    """CYC-2 for new deadline values of `cycle` (None: a new cycle), as of day `on`.

    Not yet announced: every deadline must be at least 30 days after today (the earliest
    announcement day). Announced: a deadline may move later freely; moving it earlier needs
    30 days' notice from the day of the change.
    """
    on = on or today()
    floor = earliest_deadline(on)
    problems: dict[str, str] = {}
    for name in DEADLINES:
        new = values.get(name)
        if new is None:
            continue
        label = DEADLINE_LABELS[name]
        if cycle is None or cycle.announced_at is None:
            if new < floor:
                problems[name] = (f"{label}须在公布之日起至少{NOTICE_DAYS}天后：今天公布，最早可设为 "
                                  f"{floor:%Y-%m-%d}")
        else:
            old = getattr(cycle, name)
            if new < old and new < floor:
                problems[name] = (f"提前{label}须提前{NOTICE_DAYS}天公告：今天变更，最早可设为 "
                                  f"{floor:%Y-%m-%d}（原定 {old:%Y-%m-%d}）")
    app_dl, settle_dl = values.get("application_deadline"), values.get("settlement_deadline")
    if app_dl and settle_dl and settle_dl <= app_dl and "settlement_deadline" not in problems:
        problems["settlement_deadline"] = "兑现截止日期须晚于申领截止日期"
    return problems


def _notice(cycle: Cycle, user, kind: str, reason: str = "", previous: dict | None = None) -> CycleNotice:
    previous = previous or {}
    n = CycleNotice(
        cycle_id=cycle.id, at=now(), kind=kind, reason=reason,
        application_deadline=cycle.application_deadline, settlement_deadline=cycle.settlement_deadline,
        previous_application_deadline=previous.get("application_deadline"),
        previous_settlement_deadline=previous.get("settlement_deadline"),
        actor_id=getattr(user, "id", None),
    )
    db.session.add(n)
    return n


def _fields(cycle: Cycle) -> dict:
    return {
        "name": cycle.name, "year": cycle.year, "verification_days": cycle.verification_days,
        "settlement_review_days": cycle.settlement_review_days,
        "application_deadline": cycle.application_deadline.isoformat(),
        "settlement_deadline": cycle.settlement_deadline.isoformat(),
    }


def create_cycle(user, *, name: str, year: int, application_deadline: dt.date, settlement_deadline: dt.date,
                 verification_days: int = 5, announce_now: bool = False, settlement_review_days: int = 10) -> Cycle:
    values = {"application_deadline": application_deadline, "settlement_deadline": settlement_deadline}
    problems = deadline_problems(None, values)
    if problems:
        raise CycleError(problems)
    cycle = Cycle(name=name.strip(), year=year, status="draft", application_deadline=application_deadline,
                  settlement_deadline=settlement_deadline, verification_days=verification_days,
                  settlement_review_days=settlement_review_days)
    db.session.add(cycle)
    db.session.flush()
    audit.record(ENTITY, cycle.id, "create", actor=user, to_state="draft", data=_fields(cycle))
    if announce_now:
        announce(cycle, user)
    return cycle


def update_cycle(cycle: Cycle, user, *, name: str, year: int, application_deadline: dt.date,
                 settlement_deadline: dt.date, verification_days: int, reason: str = "",
                 settlement_review_days: int | None = None) -> Cycle:
    """Edit a cycle. For an announced one every change needs a reason, and a deadline change
    is announced again (a CycleNotice with the old and new dates)."""
    reason = (reason or "").strip()
    values = {"application_deadline": application_deadline, "settlement_deadline": settlement_deadline}
    problems = deadline_problems(cycle, values)
    before = _fields(cycle)
    if settlement_review_days is None:
        settlement_review_days = cycle.settlement_review_days
    after = dict(before, name=name.strip(), year=year, verification_days=verification_days,
                 settlement_review_days=settlement_review_days,
                 application_deadline=application_deadline.isoformat(),
                 settlement_deadline=settlement_deadline.isoformat())
    changed = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    if year != cycle.year and (cycle.announced_at is not None or db.session.execute(
            db.select(Application.id).where(Application.cycle_id == cycle.id).limit(1)).first() is not None):
        # CYC-3: quotas and counters are booked against the cycle's year
        problems["year"] = "批次已公布或已有申领，不能再修改年度；如需调整，请新建批次"
    if cycle.announced_at is not None and changed and not reason:
        problems.setdefault("reason", "已公布的批次，变更须填写理由（将随公告公示）")
    if problems:
        raise CycleError(problems)  # checked before anything is changed: nothing half-saved
    if not changed:
        return cycle
    previous = {n: getattr(cycle, n) for n in DEADLINES}
    cycle.name, cycle.year, cycle.verification_days = after["name"], year, verification_days
    cycle.settlement_review_days = settlement_review_days
    cycle.application_deadline, cycle.settlement_deadline = application_deadline, settlement_deadline
    audit.record(ENTITY, cycle.id, "edit", actor=user, reason=reason, data={"changed": changed})
    if cycle.announced_at is not None and any(previous[n] != getattr(cycle, n) for n in DEADLINES):
        _notice(cycle, user, "change", reason, previous)
    db.session.flush()
    return cycle


def announce(cycle: Cycle, user) -> Cycle:
    """Announce a draft cycle's deadlines on the platform (CYC-2, DL-1): 30 days' notice."""
    problems = deadline_problems(None, {n: getattr(cycle, n) for n in DEADLINES})
    if problems:
        raise CycleError(problems)
    cycle.announced_at = now()
    workflow.apply(cycle, "announce", user, data={n: getattr(cycle, n).isoformat() for n in DEADLINES})
    _notice(cycle, user, "announce")
    db.session.flush()
    return cycle


def cycles_newest_first() -> list[Cycle]:
    return list(db.session.execute(
        db.select(Cycle).order_by(Cycle.year.desc(), Cycle.application_deadline.desc(), Cycle.id.desc())
    ).scalars())


def notices(cycle_id: int | None = None, limit: int = 50) -> list[CycleNotice]:
    """Announcements and deadline changes, newest first (public: DL-1)."""
    q = db.select(CycleNotice).join(Cycle).where(Cycle.announced_at.is_not(None))
    if cycle_id is not None:
        q = q.where(CycleNotice.cycle_id == cycle_id)
    q = q.options(contains_eager(CycleNotice.cycle))
    return list(db.session.execute(q.order_by(CycleNotice.id.desc()).limit(limit)).scalars())


# --------------------------------------------------------------------------- targets, quotas, budgets
# CYC-3: a city's yearly target (enterprises, amount) and the voucher amount it may issue,
# 1 to 2 times the target amount. CYC-4, PIL-3: a payout budget and a pilot fund per city and
# settlement period. Every change is audited with its (required) reason.

QUOTA_MIN_FACTOR, QUOTA_MAX_FACTOR = 1, 2
PERIOD_RE = re.compile(r"^(\d{4})-(\d{1,2})$")
BUDGET_KINDS = {"general": "兑付预算", "pilot": "试点资金"}


def period_label(period: str) -> str:
    m = PERIOD_RE.match(period or "")
    return f"{m.group(1)}年第{int(m.group(2))}期" if m else (period or "")


def period_label_shown(period: str) -> str:
    """period_label in the reader's language, for pages (documents and stored notices keep period_label)."""
    from flask_babel import gettext

    m = PERIOD_RE.match(period or "")
    return gettext("%(year)s年第%(n)s期", year=m.group(1), n=int(m.group(2))) if m else (period or "")


def parse_period(text: str | None) -> str | None:
    """"2026-1" (year-sequence) or None when malformed."""
    m = PERIOD_RE.match((text or "").strip())
    if not m or not 2018 <= int(m.group(1)) <= 2100 or not 1 <= int(m.group(2)) <= 12:
        return None
    return f"{m.group(1)}-{int(m.group(2))}"


def quota_problem(target_amount_fen: int, quota_fen: int) -> str | None:
    """CYC-3: the issuance quota is 1 to 2 times the target amount."""
    lo, hi = target_amount_fen * QUOTA_MIN_FACTOR, target_amount_fen * QUOTA_MAX_FACTOR
    if not lo <= quota_fen <= hi:
        return f"发放额度须为目标金额的1至2倍，即 {yuan(lo)} 至 {yuan(hi)} 之间"
    return None


def _city_or_error(city_code: str) -> City:
    city = db.session.get(City, city_code)
    if city is None:
        raise CycleError({"city": "没有这个地市"})
    return city


def target_for_update(city_code: str, year: int) -> CityTarget | None:
    return db.session.execute(
        db.select(CityTarget).where(CityTarget.city_code == city_code, CityTarget.year == year).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def set_target(city_code: str, year: int, user, *, target_enterprises: int, target_amount_fen: int,
               quota_fen: int, reason: str) -> CityTarget:
    _city_or_error(city_code)
    reason = (reason or "").strip()
    problems: dict[str, str] = {}
    if not reason:
        problems["reason"] = "请填写调整理由"
    if target_amount_fen <= 0:
        problems["target_amount"] = "目标金额须大于 0"
    else:
        problem = quota_problem(target_amount_fen, quota_fen)
        if problem:
            problems["quota"] = problem
    t = target_for_update(city_code, year)
    if t is not None and quota_fen < t.issued_fen and "quota" not in problems:
            problems["quota"] = f"发放额度不能低于本年度已发放的 {yuan(t.issued_fen)}"
    if problems:
        raise CycleError(problems)
    before = None
    if t is None:
        t = CityTarget(city_code=city_code, year=year, issued_fen=0)
        db.session.add(t)
    else:
        before = {"target_enterprises": t.target_enterprises, "target_amount_fen": t.target_amount_fen,
                  "quota_fen": t.quota_fen}
    t.target_enterprises, t.target_amount_fen, t.quota_fen = target_enterprises, target_amount_fen, quota_fen
    with conflicts_as_409():
        db.session.flush()
    after = {"target_enterprises": target_enterprises, "target_amount_fen": target_amount_fen, "quota_fen": quota_fen}
    if before != after:
        audit.record("city_target", t.id, "set", actor=user, reason=reason,
                     data={"city_code": city_code, "year": year, "before": before, "after": after})
    return t


def budgets_for_update(city_code: str, period: str) -> dict[str, Budget]:
    rows = db.session.execute(
        db.select(Budget).where(Budget.city_code == city_code, Budget.period == period).with_for_update()
        .execution_options(populate_existing=True)
    ).scalars()
    return {b.kind: b for b in rows}


def set_budgets(city_code: str, period: str, user, *, caps: dict[str, int], reason: str) -> dict[str, Budget]:
    """Set a city's payout budget and pilot fund for a settlement period (CYC-4)."""
    _city_or_error(city_code)
    reason = (reason or "").strip()
    problems: dict[str, str] = {}
    if not reason:
        problems["reason"] = "请填写调整理由"
    if parse_period(period) != period:
        problems["period"] = "结算期格式为“年份-期次”，如 2026-1"
    current = budgets_for_update(city_code, period)
    for kind, cap in caps.items():
        b = current.get(kind)
        if cap < 0:
            problems[kind] = "金额不能为负"
        elif b is not None and cap < b.committed_fen:
            problems[kind] = f"{BUDGET_KINDS[kind]}不能低于已使用的 {yuan(b.committed_fen)}"
    if problems:
        raise CycleError(problems)
    for kind, cap in caps.items():
        b = current.get(kind)
        before = None if b is None else b.cap_fen
        if b is None:
            if cap == 0:
                continue  # nothing allocated, nothing to record
            b = Budget(city_code=city_code, period=period, kind=kind, committed_fen=0)
            db.session.add(b)
            current[kind] = b
        if before == cap:
            continue
        b.cap_fen = cap
        with conflicts_as_409():
            db.session.flush()
        audit.record("budget", b.id, "set", actor=user, reason=reason,
                     data={"city_code": city_code, "period": period, "kind": kind, "before": before, "after": cap})
    return current


def figure_history(city_code: str | None = None, limit: int = 30) -> list:
    """Recent target, quota and budget changes with their reasons (all cities, or one)."""
    q = db.select(AuditEvent).where(AuditEvent.entity_type.in_(("city_target", "budget")))
    if city_code is not None:
        target_ids = db.select(CityTarget.id).where(CityTarget.city_code == city_code)
        budget_ids = db.select(Budget.id).where(Budget.city_code == city_code)
        q = q.where(db.or_(
            db.and_(AuditEvent.entity_type == "city_target", AuditEvent.entity_id.in_(target_ids)),
            db.and_(AuditEvent.entity_type == "budget", AuditEvent.entity_id.in_(budget_ids)),
        ))
    return list(db.session.execute(q.order_by(AuditEvent.id.desc()).limit(limit)).scalars())


def city_names() -> dict[str, str]:
    return dict(db.session.execute(db.select(City.code, City.name)).all())


CYCLE_FIELD_LABELS = {"name": "名称", "year": "年度", "verification_days": "验证天数",
                      "settlement_review_days": "兑现审核时限（工作日）", **DEADLINE_LABELS}


def describe(ev) -> str:
    """One audit event of a cycle in Chinese, for its history."""
    d = ev.data or {}
    if ev.action == "create":
        return f"新建批次：申领截止 {d.get('application_deadline')}，兑现截止 {d.get('settlement_deadline')}"
    if ev.action == "announce":
        return f"在平台公布：申领截止 {d.get('application_deadline')}，兑现截止 {d.get('settlement_deadline')}"
    if ev.action == "edit":
        return "修改：" + "；".join(f"{CYCLE_FIELD_LABELS.get(k, k)} {a} → {b}"
                                   for k, (a, b) in (d.get("changed") or {}).items())
    return ev.action
