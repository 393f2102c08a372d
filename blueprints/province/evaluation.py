"""The province's supplier evaluation (SUP-3): every approved supplier's scorecard for a year in a sortable,
paginated table and as xlsx, and the award 广东省工业互联网优秀供应商 (once per supplier and year)."""
from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_login import current_user

from blueprints.core import evaluation, xlsx
from blueprints.core.application import Refused
from blueprints.core.htmx import page, redirect_to
from blueprints.core.money import fen_to_decimal
from blueprints.core.nav import register_nav
from blueprints.core.paging import Page, page_arg
from blueprints.province import bp
from models import Role, Supplier, db

register_nav(Role.PROVINCE, [("供应商评价", "province.evaluation")])

PER_PAGE = 20

# (column key for ?sort=, header, Scorecard attribute, kind): the page's and the xlsx's columns, in order.
COLUMNS = [
    ("name", "供应商", "name", "text"),
    ("customers", "服务企业数", "customers", "int"),
    ("vouchers", "发放服务券", "vouchers", "int"),
    ("face", "发放面值", "face_fen", "fen"),
    ("approved", "兑现通过", "settlements_approved", "int"),
    ("pass_rate", "用量核验通过率", "pass_rate_pct", "pct"),
    ("objections", "异议成立", "objections_upheld", "int"),
    ("complaints", "投诉成立", "complaints_upheld", "int"),
    ("spot_checks", "现场核查", "spot_checks", "int"),
    ("spot_failed", "核查不合格", "spot_checks_failed", "int"),
    ("recoveries", "资金收回", "recovered_fen", "fen"),
    ("rating", "企业评分", "rating_avg", "rating"),
    ("fee_share", "合同金额/目录上限", "fee_share_pct", "pct"),
]


def _award_title_shown(year: int) -> str:
    """evaluation.award_title in the reader's language (the stored notices and the xlsx keep the Chinese)."""
    from flask_babel import gettext

    return gettext("%(title)s（%(year)s 年度）", title=gettext(evaluation.AWARD_TITLE), year=year)


def _state() -> tuple[int, str, str]:
    """The year, the sort column (whitelisted) and the direction from the URL."""
    year = evaluation.parse_year(request.args.get("year") or request.form.get("year"))
    sort = request.args.get("sort", "name")
    sort = sort if sort in evaluation.SORT_COLUMNS else "name"
    direction = "desc" if request.args.get("dir") == "desc" else "asc"
    return year, sort, direction


def _page(status: int = 200, **ctx):
    year, sort, direction = _state()
    cards = evaluation.sort_cards(evaluation.scorecards(year), sort, direction)
    n = page_arg()
    start = (n - 1) * PER_PAGE
    pg = Page(cards[start:start + PER_PAGE], n, PER_PAGE, len(cards), has_next=start + PER_PAGE < len(cards))
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    return page("province/evaluation.html", block="results", status=status, pg=pg, year=year, sort=sort,
                direction=direction, columns=COLUMNS, award_title=_award_title_shown(year),
                this_year=evaluation.current_year(), **ctx)


@bp.route("/evaluation", endpoint="evaluation")
def evaluation_page():
    """Every approved supplier's scorecard for a year, sortable by any column, with its award."""
    return _page()


def write_evaluation_xlsx(out, year: int, cards) -> int:
    def cell(c, attr, kind):
        v = getattr(c, attr)
        return fen_to_decimal(v) if kind == "fen" else (float(v) if v is not None and kind in ("pct", "rating") else v)

    def lines():
        for c in cards:
            yield [cell(c, attr, kind) for _, _, attr, kind in COLUMNS] + [
                c.usage_verified, c.usage_checked, c.ratings, c.recoveries, "是" if c.award else ""]
        yield []
        yield ["年度按服务券所属批次的年度统计；用量核验通过率＝已经供应商确认的兑现中，服务券上云用量核验通过（满规定天数或省级核定）的比例。"]

    header = [title + ("（%）" if kind == "pct" else "（元）" if kind == "fen" else "") for _, title, _, kind in COLUMNS]
    header += ["用量核验通过数", "已确认兑现数", "评价数", "收回笔数", evaluation.award_title(year)]
    widths = [30] + [14] * (len(header) - 1)
    return xlsx.write_xlsx(out, [xlsx.Sheet(f"{year}年供应商评价", header, widths, lines())])


@bp.route("/evaluation.xlsx")
def evaluation_xlsx():
    """The year's scorecards as an xlsx workbook, in the page's order."""
    year, sort, direction = _state()
    cards = evaluation.sort_cards(evaluation.scorecards(year), sort, direction)
    return xlsx.send(lambda out: write_evaluation_xlsx(out, year, cards), f"supplier-evaluation-{year}.xlsx")


@bp.route("/evaluation/<int:supplier_id>/award", methods=["POST"])
def supplier_award(supplier_id: int):
    """Award 广东省工业互联网优秀供应商 for a year, with a reason, after confirming (once per year)."""
    s = db.session.get(Supplier, supplier_id)
    if s is None:
        abort(404)
    form = request.form
    try:
        if form.get("confirm") != "yes":
            raise evaluation.FieldErrors({"confirm": "请勾选确认后再授予"})
        evaluation.award(s, form.get("year", type=int), current_user, form.get("reason", ""))
    except evaluation.FieldErrors as exc:
        db.session.rollback()
        return _page(422, errors={f"{supplier_id}-{k}": v for k, v in exc.errors.items()}, form=form,
                     open_id=supplier_id)
    except Refused as exc:
        db.session.rollback()
        flash(str(exc), "error")  # the row shows the award already given, so the message is a flash / toast
        return _page(409, open_id=supplier_id)
    db.session.commit()
    year, sort, direction = _state()
    flash(f"已授予 {s.name} {evaluation.award_title(year)}，并已通知", "success")
    return redirect_to(url_for("province.evaluation", year=year, sort=sort, dir=direction))
