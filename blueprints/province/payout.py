"""Province: the payout overview per city and settlement period, and the objections cities pass up
(CYC-4, PIL-3, PAY-1..4, PUB-3).

结算支付总览: for a period, per city (all 21, in City order): the general budget and the pilot fund the
province allocated, what is committed against each (payout batches), paid, committed but not yet paid,
waiting for payout now (listed on a published list whose publicity is over: payout.payable()), of which
carried over from earlier periods (PAY-4), and held under objection (PUB-4); a totals row, a bar per fund
and the same table as xlsx. A handful of grouped queries, never one per city.

异议处理: the objections the cities escalated (PUB-3), those waiting for the province first; on one, the
decision (upheld / dismissed) with its answer and, where experts went on site, the check's date and
findings, by payout.province_decide().
"""
from __future__ import annotations

import datetime as dt

from flask import abort, flash, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from blueprints.core import paging, payout, workflow, xlsx
from blueprints.core.application import Refused
from blueprints.core.cycles import parse_period, period_label, period_label_shown
from blueprints.core.htmx import page, redirect_to
from blueprints.core.money import fen_to_decimal
from blueprints.core.nav import register_nav
from blueprints.core.timeutil import local, today
from blueprints.province import bp
from models import (
    Budget, City, EntryStatus, ListEntry, ListStatus, Objection, ObjStatus, Role, SettlementList, db,
)

register_nav(Role.PROVINCE, [("结算支付总览", "province.payout_overview"), ("异议处理", "province.objections")])

PER_PAGE = 30
# No SLA is set for the province's decision; the badge marks entries held long (PUB-4: they are not paid meanwhile).
WAIT_SOON_DAYS = 7
WAIT_LONG_DAYS = 14

FIELDS = ("general_cap", "pilot_cap", "general_committed", "pilot_committed", "paid_count", "paid_fen",
          "unpaid_count", "unpaid_fen", "waiting_count", "waiting_fen", "carried_count", "carried_fen",
          "held_count", "held_fen", "recovered_fen", "net_paid_fen")

# The xlsx columns: (header, field, kind).
XLSX_COLUMNS = (
    ("地市", "name", "text"), ("一般预算（元）", "general_cap", "fen"), ("一般预算已核拨（元）", "general_committed", "fen"),
    ("试点资金（元）", "pilot_cap", "fen"), ("试点资金已核拨（元）", "pilot_committed", "fen"),
    ("已支付（笔）", "paid_count", "n"), ("已支付（元）", "paid_fen", "fen"),
    ("已核拨未支付（笔）", "unpaid_count", "n"), ("已核拨未支付（元）", "unpaid_fen", "fen"),
    ("待支付（笔）", "waiting_count", "n"), ("待支付（元）", "waiting_fen", "fen"),
    ("其中上期顺延（笔）", "carried_count", "n"), ("其中上期顺延（元）", "carried_fen", "fen"),
    ("异议暂缓（笔）", "held_count", "n"), ("异议暂缓（元）", "held_fen", "fen"),
    ("审计收回（元）", "recovered_fen", "fen"), ("扣除收回后实付（元）", "net_paid_fen", "fen"),
)


# --------------------------------------------------------------------------- the overview


def periods() -> list[str]:
    """Settlement periods with a budget or a list, newest first (one query)."""
    found = db.session.execute(db.select(Budget.period).union(
        db.select(SettlementList.period).where(SettlementList.status != "discarded"))).scalars()
    return sorted({p for p in found if parse_period(p) == p}, key=payout.period_key, reverse=True)


def default_period(found: list[str]) -> str | None:
    """The latest period with a budget row (CYC-4), else the latest with a list."""
    budgeted = set(db.session.execute(db.select(Budget.period).distinct()).scalars())
    return next((p for p in found if p in budgeted), found[0] if found else None)


def overview(period: str, on: dt.date | None = None) -> tuple[list[tuple[City, dict]], dict]:
    """Per city, in City order, the figures of FIELDS for a period, and their totals: five grouped queries."""
    on = on or today()
    figures: dict[str, dict] = {}

    def row(code: str) -> dict:
        return figures.setdefault(code, dict.fromkeys(FIELDS, 0))

    # rule: CYC-4, PIL-3 -- the general budget and the pilot fund of the period, and what is committed
    for code, kind, cap, committed in db.session.execute(db.select(
            Budget.city_code, Budget.kind, Budget.cap_fen, Budget.committed_fen).where(Budget.period == period)):
        if kind in ("general", "pilot"):
            row(code)[f"{kind}_cap"] += cap
            row(code)[f"{kind}_committed"] += committed
    # rule: PAY-1 -- committed but not paid yet against the period's budgets
    for code, n, fen in db.session.execute(
            db.select(Budget.city_code, db.func.count(), db.func.sum(ListEntry.amount_fen))
            .join(Budget, Budget.id == ListEntry.budget_id)
            .where(Budget.period == period, ListEntry.status == EntryStatus.COMMITTED)
            .group_by(Budget.city_code)):
        row(code)["unpaid_count"] += n
        row(code)["unpaid_fen"] += int(fen or 0)
    # rule: PAY-1, REL-2 -- paid from the period's budgets, the recoveries on those entries and the net
    # (the one shared query: a city's own pages read the same figures)
    for code, paid in payout.paid_net_of_recoveries(Budget.period == period).items():
        row(code).update(paid)
    # rule: PAY-3, PAY-4 -- waiting now: the conditions of payout.payable(), for every city at once, by the
    # period of the list; those listed before the selected period are carried over into it
    mark = payout.period_key(period)
    for code, listed_in, n, fen in db.session.execute(
            db.select(ListEntry.city_code, SettlementList.period, db.func.count(), db.func.sum(ListEntry.amount_fen))
            .join(SettlementList, SettlementList.id == ListEntry.list_id)
            .where(*payout.payable_conditions(on))
            .group_by(ListEntry.city_code, SettlementList.period)):
        r = row(code)
        r["waiting_count"] += n
        r["waiting_fen"] += int(fen or 0)
        if parse_period(listed_in) == listed_in and payout.period_key(listed_in) < mark:
            r["carried_count"] += n
            r["carried_fen"] += int(fen or 0)
    # rule: PUB-4 -- held under an unresolved objection
    for code, n, fen in db.session.execute(
            db.select(ListEntry.city_code, db.func.count(), db.func.sum(ListEntry.amount_fen))
            .where(ListEntry.status == EntryStatus.HELD).group_by(ListEntry.city_code)):
        row(code)["held_count"] += n
        row(code)["held_fen"] += int(fen or 0)
    cities = db.session.execute(db.select(City).order_by(City.position, City.code)).scalars().all()
    zero = dict.fromkeys(FIELDS, 0)
    rows = [(c, figures.get(c.code, zero)) for c in cities]
    total = {k: sum(r[k] for _, r in rows) for k in FIELDS}
    return rows, total


def _chosen_period() -> tuple[str | None, list[str]]:
    found = periods()
    wanted = parse_period(request.args.get("period"))
    return (wanted if wanted in found else default_period(found)), found


@bp.route("/payout")
def payout_overview():
    """Per city for a settlement period: budgets, pilot fund, committed, paid, waiting, carried over, held."""
    period, found = _chosen_period()
    rows, total = overview(period) if period else ([], {})
    return page("province/payout_overview.html", block="results", period=period, periods=found, rows=rows,
                total=total, period_label=period_label_shown, today=today())


def write_overview_xlsx(out, period: str, rows, total) -> int:
    def lines():
        for c, r in rows + [(None, total)]:
            yield [(c.name if c else "全省合计") if attr == "name" else
                   fen_to_decimal(r[attr]) if kind == "fen" else r[attr] for _, attr, kind in XLSX_COLUMNS]
        yield []
        yield [f"待支付、异议暂缓为导出时（{today():%Y-%m-%d}）的数；上期顺延指列入{period_label(period)}之前结算清单、仍在等待支付的条目。"]

    widths = [10] + [16] * (len(XLSX_COLUMNS) - 1)
    return xlsx.write_xlsx(out, [xlsx.Sheet(period_label(period), [c[0] for c in XLSX_COLUMNS], widths, lines())])


@bp.route("/payout.xlsx")
def payout_overview_xlsx():
    """The payout overview of a settlement period as an xlsx workbook (the same figures as the page)."""
    period, _ = _chosen_period()
    if period is None:
        abort(404)
    rows, total = overview(period)
    return xlsx.send(lambda out: write_overview_xlsx(out, period, rows, total), f"payout-{period}.xlsx")


# --------------------------------------------------------------------------- objections


def _waited(objs) -> dict[int, int]:
    """Days since each escalated objection reached the province (local calendar days)."""
    return {o.id: (today() - local(o.escalated_at).date()).days for o in objs
            if o.status == ObjStatus.ESCALATED and o.escalated_at}


@bp.route("/objections")
def objections():
    """Objections the cities passed to the province: those waiting for a decision first (oldest first), then decided."""
    waiting = Objection.status == ObjStatus.ESCALATED
    stmt = (db.select(Objection).where(Objection.escalated_at.is_not(None))
            .options(joinedload(Objection.settlement_list).joinedload(SettlementList.city))
            .order_by(db.case((waiting, 0), else_=1), db.case((waiting, Objection.escalated_at)),
                      Objection.answered_at.desc(), Objection.id))
    pg = paging.paginate(stmt, per_page=PER_PAGE)
    return page("province/payout_objections.html", block="results", pg=pg, waited=_waited(pg.items),
                soon=WAIT_SOON_DAYS, long=WAIT_LONG_DAYS)


def _objection_page(obj: Objection, status: int = 200, **ctx):
    from blueprints.city.payout import objection_context  # the facts the city's page shows, shared

    ctx.setdefault("error", "")
    ctx.setdefault("form", {})
    return page("province/payout_objection.html", status=status, actions=workflow.actions_for(obj, current_user),
                today=today(), **objection_context(obj), **ctx)


def _objection_or_404(obj_id: int) -> Objection:
    obj = db.session.get(Objection, obj_id)
    if obj is None:
        abort(404)
    return obj


def _site_check(form) -> tuple[dt.date | None, str]:
    """The on-site check's date and findings as typed; Refused when the date is not a date, or findings
    come without a date (province_decide would keep them where no page shows them)."""
    text, findings = (form.get("site_check_on") or "").strip(), (form.get("findings") or "").strip()
    if not text:
        if findings:
            raise Refused("填写了现场核查发现的，请填写现场核查日期")
        return None, findings
    try:
        return dt.date.fromisoformat(text), findings
    except ValueError:
        raise Refused("现场核查日期格式不正确（年-月-日）") from None


@bp.route("/objections/<int:obj_id>", methods=["GET", "POST"])
def objection_detail(obj_id: int):
    """One objection with its timeline; while escalated: the decision, its answer and any on-site check (PUB-3)."""
    obj = _objection_or_404(obj_id)
    if request.method == "GET":
        return _objection_page(obj)
    typed = {k: request.form.get(k, "") for k in ("decision", "answer", "site_check_on", "findings")}
    try:
        site_check_on, findings = _site_check(request.form)
        payout.province_decide(obj, current_user, typed["decision"], typed["answer"], site_check_on=site_check_on,
                               findings=findings)
        db.session.commit()
    except (payout.Stale, workflow.NotAllowed) as exc:
        db.session.rollback()
        return _objection_page(_objection_or_404(obj_id), 409, error=str(exc))
    except Refused as exc:
        db.session.rollback()
        return _objection_page(_objection_or_404(obj_id), 422, error=str(exc), form=typed)
    flash(f"已处理：{payout.OBJECTION_LABELS.get(obj.status, obj.status)}", "success")
    return redirect_to(url_for("province.objection_detail", obj_id=obj.id))
