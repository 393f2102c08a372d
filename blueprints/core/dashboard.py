"""The province dashboard and a city's own figures (CYC-5), from aggregate queries only.

Every figure comes from a handful of GROUP BY queries whose number does not depend on
the number of cities or records (no query per row). Later issues extend what counts as
settled or paid by adding statuses to the sets below. Charts are drawn on the server as
inline SVG (geometry computed here; the template only places shapes and CSS classes).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask_babel import gettext as _t
from sqlalchemy import String, and_, case, cast, func, literal, or_

from blueprints.core import audit, payout
from blueprints.core.catalog import conflicts_as_409
from blueprints.core.timeutil import today
from models import (
    AppStatus, Application, Budget, City, CityTarget, Cycle, Enterprise, RegStatus, Setting, Supplier, Voucher,
    VoucherStatus, db,
)

# --------------------------------------------------------------------------- scheme targets (settings)

SCHEME_TARGETS = {
    # key: (label, default) -- CYC-5: 10,000 enterprises on the cloud, 200 suppliers, 20 platforms.
    "scheme.target_enterprises": ("上云企业", 10_000),
    "scheme.target_suppliers": ("供应商", 200),
    "scheme.target_platforms": ("工业互联网平台", 20),
}
PLATFORM_CATEGORY = "工业互联网平台"

# Voucher statuses that count as settled / paid. Settlement and payout issues add theirs here.
VOUCHER_NOT_ISSUED = {VoucherStatus.VOID.value, VoucherStatus.RELEASED.value}
VOUCHER_SETTLED = {"settled", "paid"}
VOUCHER_PAID = {"paid"}
REG_REVIEW = (RegStatus.CITY_REVIEW.value, RegStatus.PROVINCE_REVIEW.value)


def scheme_targets() -> dict[str, int]:
    rows = dict(db.session.execute(
        db.select(Setting.key, Setting.value).where(Setting.key.in_(tuple(SCHEME_TARGETS)))
    ).all())
    out = {}
    for key, (_, default) in SCHEME_TARGETS.items():
        try:
            out[key] = int(rows.get(key, default))
        except ValueError:
            out[key] = default
    return out


def set_scheme_targets(values: dict[str, int], user, reason: str) -> None:
    """Change the scheme's targets (a setting the province edits), audited with the reason."""
    current = scheme_targets()
    changed = {k: [current[k], v] for k, v in values.items() if k in SCHEME_TARGETS and current[k] != v}
    for key, (_, new) in changed.items():
        row = db.session.get(Setting, key)
        if row is None:
            db.session.add(Setting(key=key, value=str(new)))
        else:
            row.value = str(new)
    if changed:
        with conflicts_as_409():
            db.session.flush()
        audit.record("setting", 0, "scheme_targets", actor=user, reason=reason.strip(), data={"changed": changed})


@dataclass
class Progress:
    key: str
    label: str
    actual: int
    target: int

    @property
    def percent(self) -> float:
        return 0.0 if self.target <= 0 else round(100.0 * self.actual / self.target, 1)


def _platform_match():
    # Supplier.categories is a JSON list; its stored text may hold the name as-is or \u-escaped
    # (json.dumps' default), so match both. "!" is the LIKE escape, keeping the backslashes literal.
    escaped = PLATFORM_CATEGORY.encode("ascii", "backslashreplace").decode()
    text = cast(Supplier.categories, String)
    return or_(text.like(f'%"{PLATFORM_CATEGORY}"%', escape="!"), text.like(f'%"{escaped}"%', escape="!"))


def scheme_progress() -> list[Progress]:
    """Progress to the scheme's targets in one query (CYC-5).

    An enterprise counts as "on the cloud" once it holds a voucher that is not void; a supplier
    once approved; a platform is an approved supplier offering 工业互联网平台. (When usage
    verification lands, "on the cloud" can narrow to verified enterprises here.)
    """
    enterprises = (
        db.select(func.count(func.distinct(Voucher.enterprise_id)))
        .where(Voucher.status.not_in(VOUCHER_NOT_ISSUED)).scalar_subquery()
    )
    suppliers = db.select(func.count(Supplier.id)).where(Supplier.status == RegStatus.APPROVED).scalar_subquery()
    platforms = (
        db.select(func.count(Supplier.id))
        .where(Supplier.status == RegStatus.APPROVED, _platform_match()).scalar_subquery()
    )
    e, s, p = db.session.execute(db.select(enterprises, suppliers, platforms)).one()
    targets = scheme_targets()
    actual = {"scheme.target_enterprises": e, "scheme.target_suppliers": s, "scheme.target_platforms": p}
    return [Progress(k, label, int(actual[k] or 0), targets[k]) for k, (label, _) in SCHEME_TARGETS.items()]


# --------------------------------------------------------------------------- per-city figures


@dataclass
class CityRow:
    code: str
    name: str
    reg_submitted: int = 0
    reg_approved: int = 0
    reg_in_review: int = 0
    reg_overdue: int = 0
    app_count: int = 0
    app_fen: int = 0
    app_overdue: int = 0
    issued_count: int = 0
    issued_fen: int = 0
    settled_count: int = 0
    settled_fen: int = 0
    paid_count: int = 0
    paid_fen: int = 0
    target_enterprises: int = 0
    target_amount_fen: int = 0
    quota_fen: int = 0
    quota_used_fen: int = 0
    budget_fen: int = 0
    budget_used_fen: int = 0
    pilot_fen: int = 0
    pilot_used_fen: int = 0
    # Paid from the year's budgets (face value and bonus), audit recoveries on it, and net (REL-2).
    payout_paid_fen: int = 0
    recovered_fen: int = 0
    net_paid_fen: int = 0

    @property
    def overdue(self) -> int:
        return self.reg_overdue + self.app_overdue

    @property
    def quota_percent(self) -> float:
        return 0.0 if self.quota_fen <= 0 else round(100.0 * self.quota_used_fen / self.quota_fen, 1)


NUMERIC_FIELDS = [f for f in CityRow.__dataclass_fields__ if f not in ("code", "name")]


@dataclass
class Figures:
    year: int
    rows: list[CityRow]
    province_overdue: int = 0  # suppliers overdue in the province's own review
    total: CityRow = field(default_factory=lambda: CityRow("", "合计"))


def _sum_if(cond, value=1):
    return func.coalesce(func.sum(case((cond, value), else_=0)), 0)


def _budget_period_of_year(year: int):
    return or_(Budget.period == str(year), Budget.period.like(f"{year}-%"))


def city_figures(year: int, city_code: str | None = None, on: dt.date | None = None) -> Figures:
    """Every city's figures for a year (or one city's), in a fixed number of GROUP BY queries."""
    on = on or today()

    def only(col):
        return literal(True) if city_code is None else col == city_code

    cities = db.session.execute(
        db.select(City.code, City.name).where(only(City.code)).order_by(City.position)
    ).all()
    rows = {code: CityRow(code, name) for code, name in cities}

    def put(result, names):
        for rec in result:
            row = rows.get(rec[0])
            if row is None:
                continue
            for name, value in zip(names, rec[1:]):
                setattr(row, name, int(value or 0))

    e = Enterprise
    put(db.session.execute(
        db.select(
            e.city_code,
            _sum_if(e.status != RegStatus.DRAFT),
            _sum_if(e.status == RegStatus.APPROVED),
            _sum_if(e.status.in_(REG_REVIEW)),
            _sum_if(and_(e.status.in_(REG_REVIEW), e.due_on < on)),
        ).where(only(e.city_code)).group_by(e.city_code)
    ), ["reg_submitted", "reg_approved", "reg_in_review", "reg_overdue"])

    # Registrations count enterprises; an overdue review also counts a supplier in the city's own
    # review (REG-4), while a supplier overdue in the province's review counts for the province.
    s = Supplier
    sup = db.session.execute(
        db.select(
            s.city_code,
            _sum_if(and_(s.status == RegStatus.CITY_REVIEW, s.due_on < on)),
            _sum_if(and_(s.status == RegStatus.PROVINCE_REVIEW, s.due_on < on)),
        ).where(only(s.city_code)).group_by(s.city_code)
    ).all()
    province_overdue = 0
    for code, overdue, prov_overdue in sup:
        province_overdue += int(prov_overdue or 0)
        row = rows.get(code)
        if row is not None:
            row.reg_overdue += int(overdue or 0)

    a = Application
    in_year = Cycle.year == year
    submitted = a.submitted_at.is_not(None)
    put(db.session.execute(
        db.select(
            a.city_code,
            _sum_if(and_(in_year, submitted)),
            _sum_if(and_(in_year, submitted), func.coalesce(a.item_amount_fen, 0)),
            _sum_if(and_(a.status == AppStatus.CITY_REVIEW, a.due_on < on)),
        ).join(Cycle, Cycle.id == a.cycle_id).where(only(a.city_code)).group_by(a.city_code)
    ), ["app_count", "app_fen", "app_overdue"])

    v = Voucher
    issued = v.status.not_in(VOUCHER_NOT_ISSUED)
    settled = v.status.in_(VOUCHER_SETTLED)
    paid = v.status.in_(VOUCHER_PAID)
    put(db.session.execute(
        db.select(
            v.city_code,
            _sum_if(issued), _sum_if(issued, v.face_value_fen),
            _sum_if(settled), _sum_if(settled, v.face_value_fen),
            _sum_if(paid), _sum_if(paid, v.face_value_fen),
        ).join(Cycle, Cycle.id == v.cycle_id).where(in_year, only(v.city_code)).group_by(v.city_code)
    ), ["issued_count", "issued_fen", "settled_count", "settled_fen", "paid_count", "paid_fen"])

    t = CityTarget
    put(db.session.execute(
        db.select(t.city_code, t.target_enterprises, t.target_amount_fen, t.quota_fen, t.issued_fen)
        .where(t.year == year, only(t.city_code))
    ), ["target_enterprises", "target_amount_fen", "quota_fen", "quota_used_fen"])

    b = Budget
    general, pilot = b.kind == "general", b.kind == "pilot"
    put(db.session.execute(
        db.select(
            b.city_code,
            _sum_if(general, b.cap_fen), _sum_if(general, b.committed_fen),
            _sum_if(pilot, b.cap_fen), _sum_if(pilot, b.committed_fen),
        ).where(_budget_period_of_year(year), only(b.city_code)).group_by(b.city_code)
    ), ["budget_fen", "budget_used_fen", "pilot_fen", "pilot_used_fen"])

    # rule: REL-2 -- what was paid from the year's budgets net of audit recoveries: the province payout
    # overview's query (payout.paid_net_of_recoveries). Kept in the snapshot with the paid figures, so a
    # recovery (an audited change, like a payment) moves the change mark and shows on the next view.
    for code, paid in payout.paid_net_of_recoveries(_budget_period_of_year(year), only(b.city_code)).items():
        row = rows.get(code)
        if row is not None:
            row.payout_paid_fen, row.recovered_fen = paid["paid_fen"], paid["recovered_fen"]
            row.net_paid_fen = paid["net_paid_fen"]

    figs = Figures(year=year, rows=list(rows.values()), province_overdue=province_overdue)
    for name in NUMERIC_FIELDS:
        setattr(figs.total, name, sum(getattr(r, name) for r in figs.rows))
    return figs


# --------------------------------------------------------------------------- cached for pages (core/snapshots.py)
# Pages and home panels read these: computed once per change (or per minute) for every worker.
# Exports and tests call city_figures() / scheme_progress() directly for exact, uncached figures.


def _figures_from(d: dict) -> Figures:
    return Figures(year=d["year"], rows=[CityRow(**r) for r in d["rows"]], province_overdue=d["province_overdue"],
                   total=CityRow(**d["total"]))


def cached_city_figures(year: int, city_code: str | None = None) -> tuple[Figures, dt.datetime]:
    """city_figures() as of the last change (or minute); a new day makes them stale (overdue counts)."""
    from dataclasses import asdict

    from blueprints.core import snapshots

    on = today()
    snap = snapshots.cached("city_figures", f"{year}:{city_code or 'all'}",
                            lambda: asdict(city_figures(year, city_code, on)), depends_on=on.isoformat())
    return _figures_from(snap.value), snap.as_of


def cached_scheme_progress() -> tuple[list[Progress], dt.datetime]:
    from dataclasses import asdict

    from blueprints.core import snapshots

    snap = snapshots.cached("scheme_progress", "all", lambda: [asdict(p) for p in scheme_progress()])
    return [Progress(**p) for p in snap.value], snap.as_of


def years_with_data() -> list[int]:
    """Years that have a cycle or a target, plus this year (for the year selector)."""
    years = set(db.session.execute(db.select(Cycle.year).distinct()).scalars())
    years |= set(db.session.execute(db.select(CityTarget.year).distinct()).scalars())
    years.add(today().year)
    return sorted(years, reverse=True)


# --------------------------------------------------------------------------- charts (inline SVG)

CHART_WIDTH = 400
LABEL_WIDTH = 56
VALUE_WIDTH = 90
PROGRESS_LABEL_WIDTH = 100
BAR_HEIGHT = 18
ROW_GAP = 8


@dataclass
class Bar:
    label: str
    y: int
    segments: list[tuple[str, float, float, str]]  # (css class, x, width, title)
    value_text: str


@dataclass
class Chart:
    key: str
    title: str
    height: int
    width: int
    bars: list[Bar]
    legend: list[tuple[str, str]]  # (css class, label)
    label_width: int = LABEL_WIDTH
    bar_area: float = 0.0


def _scale(value: int, maximum: int, area: float) -> float:
    return 0.0 if maximum <= 0 else round(area * min(value, maximum) / maximum, 1)


def progress_chart(progress: list[Progress]) -> Chart:
    area = CHART_WIDTH - PROGRESS_LABEL_WIDTH - VALUE_WIDTH
    bars = []
    for i, p in enumerate(progress):
        width = _scale(p.actual, p.target, area)
        bars.append(Bar(
            _t(p.label), i * (BAR_HEIGHT + ROW_GAP),
            [("chart-track", PROGRESS_LABEL_WIDTH, area, _t("目标 %(n)s", n=f"{p.target:,}")),
             ("chart-done", PROGRESS_LABEL_WIDTH, width, _t("已完成 %(n)s", n=f"{p.actual:,}"))],
            f"{p.actual:,} / {p.target:,}",
        ))
    return Chart("progress", _t("目标进度"), len(bars) * (BAR_HEIGHT + ROW_GAP), CHART_WIDTH, bars,
                 [("chart-done", _t("已完成")), ("chart-track", _t("目标"))], PROGRESS_LABEL_WIDTH, area)


def quota_chart(figs: Figures) -> Chart:
    """Per city: issuance quota (track), of which issued (bar)."""
    from blueprints.core.money import wan_shown as wan

    area = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    biggest = max([r.quota_fen for r in figs.rows] + [r.quota_used_fen for r in figs.rows] + [0])
    bars = []
    for i, r in enumerate(figs.rows):
        bars.append(Bar(
            r.name, i * (BAR_HEIGHT + ROW_GAP),
            [("chart-track", LABEL_WIDTH, _scale(r.quota_fen, biggest, area), _t("发放额度 %(n)s", n=wan(r.quota_fen))),
             ("chart-done", LABEL_WIDTH, _scale(r.quota_used_fen, biggest, area), _t("已发放 %(n)s", n=wan(r.quota_used_fen)))],
            f"{r.quota_percent}%" if r.quota_fen else _t("未下达"),
        ))
    return Chart("quota", _t("%(year)s年各地市发放额度使用", year=figs.year), len(bars) * (BAR_HEIGHT + ROW_GAP), CHART_WIDTH, bars,
                 [("chart-done", _t("已发放")), ("chart-track", _t("发放额度"))], LABEL_WIDTH, area)


def vouchers_chart(figs: Figures) -> Chart:
    """Per city: vouchers applied, issued and paid (amounts), as stacked tracks."""
    from blueprints.core.money import wan_shown as wan

    area = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    biggest = max([max(r.app_fen, r.issued_fen) for r in figs.rows] + [0])
    bars = []
    for i, r in enumerate(figs.rows):
        bars.append(Bar(
            r.name, i * (BAR_HEIGHT + ROW_GAP),
            [("chart-applied", LABEL_WIDTH, _scale(r.app_fen, biggest, area), _t("申领 %(n)s", n=wan(r.app_fen))),
             ("chart-issued", LABEL_WIDTH, _scale(r.issued_fen, biggest, area), _t("发放 %(n)s", n=wan(r.issued_fen))),
             ("chart-paid", LABEL_WIDTH, _scale(r.paid_fen, biggest, area), _t("兑付 %(n)s", n=wan(r.paid_fen)))],
            _t("发放 %(n)s", n=wan(r.issued_fen)),
        ))
    return Chart("vouchers", _t("%(year)s年各地市服务券金额", year=figs.year), len(bars) * (BAR_HEIGHT + ROW_GAP), CHART_WIDTH, bars,
                 [("chart-applied", _t("申领")), ("chart-issued", _t("发放")), ("chart-paid", _t("兑付"))], LABEL_WIDTH, area)


# --------------------------------------------------------------------------- spreadsheet

XLSX_COLUMNS = [
    ("地市", "name", None),
    ("企业提交注册", "reg_submitted", None), ("企业注册通过", "reg_approved", None), ("企业注册审核中", "reg_in_review", None),
    ("申领（件）", "app_count", None), ("申领金额（元）", "app_fen", "fen"),
    ("发放（张）", "issued_count", None), ("发放金额（元）", "issued_fen", "fen"),
    ("兑现（张）", "settled_count", None), ("兑现金额（元）", "settled_fen", "fen"),
    ("兑付（张）", "paid_count", None), ("兑付金额（元）", "paid_fen", "fen"),
    ("目标企业数", "target_enterprises", None), ("目标金额（元）", "target_amount_fen", "fen"),
    ("发放额度（元）", "quota_fen", "fen"), ("额度已用（元）", "quota_used_fen", "fen"),
    ("兑付预算（元）", "budget_fen", "fen"), ("预算已用（元）", "budget_used_fen", "fen"),
    ("试点资金（元）", "pilot_fen", "fen"), ("试点已用（元）", "pilot_used_fen", "fen"),
    ("注册超期", "reg_overdue", None), ("申领审核超期", "app_overdue", None),
]


def write_figures_xlsx(out, figs: Figures, progress: list[Progress] | None = None) -> int:
    """The dashboard's per-city figures (and the scheme's progress) as an xlsx file written to out."""
    from blueprints.core import xlsx
    from blueprints.core.money import fen_to_decimal

    def city_rows():
        for row in figs.rows + [figs.total]:
            yield [fen_to_decimal(getattr(row, attr)) if kind == "fen" else getattr(row, attr)
                   for _, attr, kind in XLSX_COLUMNS]
        if figs.province_overdue:
            yield []
            yield ["省级复核超期的供应商注册", figs.province_overdue]

    widths = [10] + [14] * (len(XLSX_COLUMNS) - 1)
    sheets = [xlsx.Sheet(f"{figs.year}年各地市", [c[0] for c in XLSX_COLUMNS], widths, city_rows())]
    if progress is not None:
        sheets.append(xlsx.Sheet("目标进度", ["指标", "已完成", "目标", "完成率（%）"], [18, 12, 12, 12],
                                 ([p.label, p.actual, p.target, p.percent] for p in progress)))
    return xlsx.write_xlsx(out, sheets)
