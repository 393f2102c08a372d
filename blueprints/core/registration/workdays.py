"""Working days for the queues (SLA-1, SLA-5) and the calendar overrides the province edits (SLA-4)."""
from __future__ import annotations

import datetime as dt

from blueprints.core import audit, timeutil
from models import CalendarDay, db


# --------------------------------------------------------------------------- working days (SLA-1, SLA-5)


# One calendar for every queue: timeutil's (the library, then the province's overrides).
days_left_many = timeutil.working_days_left_many


def calendar_warning(on: dt.date | None = None) -> str | None:
    """SLA-4: a year the holiday library does not know falls back to weekends only; say so."""
    on = on or timeutil.today()
    years = sorted({on.year, (on + dt.timedelta(days=45)).year})
    missing = [y for y in years if not timeutil.calendar_covers(y)]
    if not missing:
        return None
    ys = "、".join(str(y) for y in missing)
    from flask_babel import gettext

    return gettext("工作日历尚未收录 %(years)s 年的法定节假日安排：该年暂按周一至周五计算工作日。"
                   "请省厅在“工作日历”中按国务院办公厅通知录入节假日和调休上班日。", years=ys)


# --------------------------------------------------------------------------- calendar (SLA-4)


def official_day(day: dt.date) -> tuple[bool, str, bool]:
    """(working day?, holiday name, covered by the library?) from chinesecalendar."""
    import chinese_calendar

    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return day.weekday() < 5, "", False
    names = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
             "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "National Day": "国庆节",
             "Mid-autumn Festival": "中秋节", "Anti-Fascist 70th Day": "抗战胜利纪念日"}
    return chinese_calendar.is_workday(day), names.get(name or "", name or ""), True


def calendar_month(year: int, month: int) -> list[list[dict | None]]:
    """Weeks (Monday first) of a month: each day's status and where it comes from."""
    first = dt.date(year, month, 1)
    last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    overrides = {c.day: c for c in db.session.execute(
        db.select(CalendarDay).where(CalendarDay.day >= first, CalendarDay.day <= last)).scalars()}
    weeks: list[list[dict | None]] = [[None] * first.weekday()]
    day = first
    while day <= last:
        work, name, covered = official_day(day)
        o = overrides.get(day)
        cell = {"day": day, "work": o.is_workday if o else work, "official": work, "name": name,
                "covered": covered, "override": o}
        if len(weeks[-1]) == 7:
            weeks.append([])
        weeks[-1].append(cell)
        day += dt.timedelta(days=1)
    weeks[-1] += [None] * (7 - len(weeks[-1]))
    return weeks


def set_calendar_day(day: dt.date, is_workday: bool, note: str, user) -> None:
    row = db.session.get(CalendarDay, day)
    before = None if row is None else row.is_workday
    if row is None:
        row = CalendarDay(day=day)
        db.session.add(row)
    row.is_workday, row.note, row.set_by = is_workday, note.strip()[:100], user.id
    db.session.flush()
    audit.record("calendar_day", int(day.strftime("%Y%m%d")), "override", actor=user, reason=row.note,
                 data={"day": day.isoformat(), "before": before, "is_workday": is_workday})


def clear_calendar_day(day: dt.date, user) -> bool:
    row = db.session.get(CalendarDay, day)
    if row is None:
        return False
    db.session.delete(row)
    db.session.flush()
    audit.record("calendar_day", int(day.strftime("%Y%m%d")), "override_removed", actor=user,
                 data={"day": day.isoformat(), "before": row.is_workday})
    return True


def calendar_overrides(year: int) -> list[CalendarDay]:
    return list(db.session.execute(
        db.select(CalendarDay).where(CalendarDay.day >= dt.date(year, 1, 1), CalendarDay.day <= dt.date(year, 12, 31))
        .order_by(CalendarDay.day)).scalars())
