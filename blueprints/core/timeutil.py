"""Time: UTC instants, Asia/Shanghai dates, and the working-day calendar (SLA-4).

Working days follow the official mainland-China calendar from `chinesecalendar`
(weekends, public holidays, make-up working days). The province can override any date
(CalendarDay rows). For a year the library does not cover yet, the fallback is
weekends-only, and `calendar_covers(year)` lets pages warn about it instead of crashing.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import chinese_calendar

from models import CalendarDay, db

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def today() -> dt.date:
    return now().astimezone(LOCAL_TZ).date()


def local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(LOCAL_TZ)


def calendar_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
        return True
    except NotImplementedError:
        return False


def _official_workday(day: dt.date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5


def _overrides(start: dt.date, end: dt.date) -> dict[dt.date, bool]:
    rows = db.session.execute(
        db.select(CalendarDay.day, CalendarDay.is_workday).where(
            CalendarDay.day >= start, CalendarDay.day <= end
        )
    ).all()
    return {d: w for d, w in rows}


def is_workday(day: dt.date) -> bool:
    return _overrides(day, day).get(day, _official_workday(day))


def add_working_days(start: dt.date, n: int) -> dt.date:
    """The n-th working day after `start` (start itself never counts)."""
    overrides = _overrides(start, start + dt.timedelta(days=n * 3 + 30))
    day, left = start, n
    while left > 0:
        day += dt.timedelta(days=1)
        if overrides.get(day, _official_workday(day)):
            left -= 1
    return day


def working_days_left_many(dues, on: dt.date | None = None) -> dict[dt.date, int]:
    """working_days_left for many deadlines with one override query (queues: no query per row)."""
    dues = {d for d in dues if d}
    if not dues:
        return {}
    on = on or today()
    lo, hi = min(min(dues), on), max(max(dues), on)
    overrides = _overrides(lo, hi)
    # Working days counted cumulatively from lo; the difference of two counts is the days between.
    cum, count, day = {lo: 0}, 0, lo
    while day < hi:
        day += dt.timedelta(days=1)
        if overrides.get(day, _official_workday(day)):
            count += 1
        cum[day] = count
    return {d: cum[d] - cum[on] for d in dues}


def working_days_left(due: dt.date, on: dt.date | None = None) -> int:
    """Working days from `on` (exclusive) to `due` (inclusive); negative when overdue."""
    return working_days_left_many([due], on)[due]
