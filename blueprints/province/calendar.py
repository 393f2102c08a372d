"""The working-day calendar (SLA-4): the official holiday schedule from chinesecalendar, with
the province's overrides of single dates, and a warning for years the library does not cover."""
from __future__ import annotations

import datetime as dt

from flask import flash, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from blueprints.core import registration, timeutil
from blueprints.core.htmx import page, redirect_to
from blueprints.core.nav import register_nav
from blueprints.province import bp
from models import Role, db

register_nav(Role.PROVINCE, [("工作日历", "province.calendar_view")])


class CalendarDayForm(FlaskForm):
    day = DateField("日期", [InputRequired("请选择日期")], invalid_value_message="日期格式不正确，请按“年-月-日”填写")
    is_workday = RadioField("设为", choices=[("1", "工作日（上班）"), ("0", "休息日（放假）")], default="0",
                            validate_choice=False)
    note = StringField("依据或说明", [DataRequired("请写明依据，如 国务院办公厅关于2027年部分节假日安排的通知"),
                                 Length(max=100, message="不能超过 100 个字")])


def _month(arg: str | None) -> dt.date:
    try:
        year, month = (int(x) for x in (arg or "").split("-"))
        if not 2000 <= year <= 2100:  # also keeps prev/next month arithmetic in range
            raise ValueError(year)
        return dt.date(year, month, 1)
    except ValueError:
        return timeutil.today().replace(day=1)


def _ctx(month: dt.date, form) -> dict:
    prev = (month - dt.timedelta(days=1)).replace(day=1)
    nxt = (month + dt.timedelta(days=32)).replace(day=1)
    return dict(month=month, prev=prev, next=nxt, form=form, weeks=registration.calendar_month(month.year, month.month),
                overrides=registration.calendar_overrides(month.year), covered=timeutil.calendar_covers(month.year),
                warning=registration.calendar_warning())


@bp.route("/calendar")
def calendar_view():
    """A month of the working-day calendar, the year's overrides and the coverage warning."""
    month = _month(request.args.get("month"))
    return page("province/calendar_view.html", **_ctx(month, CalendarDayForm(data={"day": month})))


@bp.route("/calendar", methods=["POST"])
def calendar_set():
    """Make one date a working day or a day off, whatever the library says (recorded in the audit trail)."""
    form = CalendarDayForm()
    if not form.validate():
        return page("province/calendar_view.html", status=422, **_ctx(_month(request.args.get("month")), form))
    registration.set_calendar_day(form.day.data, form.is_workday.data == "1", form.note.data, current_user)
    db.session.commit()
    flash(f"{form.day.data:%Y-%m-%d} 已设为{'工作日' if form.is_workday.data == '1' else '休息日'}", "success")
    return redirect_to(url_for("province.calendar_view", month=f"{form.day.data:%Y-%m}"))


@bp.route("/calendar/<day>/clear", methods=["POST"])
def calendar_clear(day: str):
    """Remove an override: the date follows the official calendar again."""
    try:
        date = dt.date.fromisoformat(day)
    except ValueError:
        date = None
    if date is None or not registration.clear_calendar_day(date, current_user):
        flash("该日期没有人工设置", "warning")
        return redirect_to(url_for("province.calendar_view"))
    db.session.commit()
    flash(f"{date:%Y-%m-%d} 已恢复为官方日历", "success")
    return redirect_to(url_for("province.calendar_view", month=f"{date:%Y-%m}"))
