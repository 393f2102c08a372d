"""Working days follow the official calendar, with the province's overrides (SLA-4).

chinesecalendar 1.11 (checked in a shell): National Day 2026 is 1-7 October, 8 October
is a working Thursday, and the make-up working days are Sunday 20 September and
Saturday 10 October. Mid-autumn is 25-27 September. 2027 is not covered yet.
"""
from __future__ import annotations

import datetime as dt

import time_machine

from blueprints.core import timeutil
from blueprints.core.timeutil import add_working_days, calendar_covers, is_workday, working_days_left
from models import CalendarDay, db

# rule: SLA-4

D = dt.date


def test_national_day_2026_per_official_calendar(app):
    for day in range(1, 8):
        assert not is_workday(D(2026, 10, day)), day
    assert is_workday(D(2026, 10, 8))
    assert is_workday(D(2026, 10, 10))  # a Saturday, made up for the holiday
    assert is_workday(D(2026, 9, 20))  # a Sunday, made up for the holiday
    assert not is_workday(D(2026, 10, 11))


def test_add_working_days_across_national_day(app):
    start = D(2026, 9, 30)  # Wednesday, the last working day before the holiday
    assert add_working_days(start, 1) == D(2026, 10, 8)
    assert add_working_days(start, 2) == D(2026, 10, 9)
    assert add_working_days(start, 3) == D(2026, 10, 10)  # make-up Saturday counts
    assert add_working_days(start, 4) == D(2026, 10, 12)  # Sunday 11th does not
    assert add_working_days(D(2026, 9, 18), 1) == D(2026, 9, 20)  # make-up Sunday counts
    assert add_working_days(D(2026, 9, 24), 1) == D(2026, 9, 28)  # Mid-autumn 25-27
    assert add_working_days(start, 0) == start


def test_five_working_day_deadline_from_a_holiday(app):
    # a submission on a holiday: the clock starts at the next working day
    assert add_working_days(D(2026, 10, 3), 5) == D(2026, 10, 13)  # 8th, 9th, 10th, 12th, 13th


def test_override_changes_the_result(app):
    start = D(2026, 9, 30)
    db.session.add(CalendarDay(day=D(2026, 10, 8), is_workday=False, note="台风停工"))
    db.session.commit()
    assert not is_workday(D(2026, 10, 8))
    assert add_working_days(start, 1) == D(2026, 10, 9)
    db.session.add(CalendarDay(day=D(2026, 10, 5), is_workday=True, note="调整为工作日"))
    db.session.commit()
    assert add_working_days(start, 1) == D(2026, 10, 5)
    assert working_days_left(D(2026, 10, 9), on=start) == 2  # 10-05 and 10-09


def test_2027_falls_back_to_weekends_only_without_raising(app):
    assert not calendar_covers(2027)
    friday = D(2027, 3, 5)
    assert add_working_days(friday, 1) == D(2027, 3, 8)
    assert add_working_days(friday, 5) == D(2027, 3, 12)
    assert is_workday(D(2027, 3, 8)) and not is_workday(D(2027, 3, 6))
    # across the year boundary from a covered year into an uncovered one
    assert add_working_days(D(2026, 12, 31), 1) == D(2027, 1, 1)
    assert working_days_left(D(2027, 3, 12), on=friday) == 5


def test_override_applies_in_an_uncovered_year(app):
    db.session.add(CalendarDay(day=D(2027, 3, 8), is_workday=False, note="2027 年放假安排"))
    db.session.commit()
    assert add_working_days(D(2027, 3, 5), 1) == D(2027, 3, 9)


def test_calendar_covers():
    assert calendar_covers(2026)
    assert calendar_covers(2025)
    assert not calendar_covers(2030)


def test_working_days_left(app):
    on = D(2026, 10, 12)
    assert working_days_left(D(2026, 10, 12), on=on) == 0
    assert working_days_left(D(2026, 10, 14), on=on) == 2
    # overdue: negative, counting only working days (9th, make-up 10th, 12th)
    assert working_days_left(D(2026, 10, 8), on=on) == -3
    assert working_days_left(D(2026, 10, 8), on=D(2026, 9, 30)) == 1


def test_working_days_left_defaults_to_today_in_shanghai(app):
    # 2026-10-11 17:00 UTC is already Monday 12 October in Shanghai
    with time_machine.travel(dt.datetime(2026, 10, 11, 17, 0, tzinfo=dt.timezone.utc), tick=False):
        assert timeutil.today() == D(2026, 10, 12)
        assert working_days_left(D(2026, 10, 8)) == -3
        assert working_days_left(D(2026, 10, 13)) == 1


def test_now_is_aware_utc():
    n = timeutil.now()
    assert n.tzinfo is not None and n.utcoffset() == dt.timedelta(0)
    assert timeutil.local(n).utcoffset() == dt.timedelta(hours=8)


def test_working_days_left_many_answers_each_deadline(app):
    # rule: SLA-4 -- a queue asks for many deadlines at once: overdue, today, soon and later, each its own count
    # (June 2025: Dragon Boat ended on the 2nd; 9-13 and 16-20 are working weeks)
    on = D(2025, 6, 11)  # a Wednesday
    dues = [D(2025, 6, 20), D(2025, 6, 9), None, on, D(2025, 6, 16), D(2025, 6, 9)]
    got = timeutil.working_days_left_many(dues, on=on)
    assert got == {D(2025, 6, 9): -2, on: 0, D(2025, 6, 16): 3, D(2025, 6, 20): 7}
    # the same answers one at a time, and whatever order the deadlines come in
    assert {d: working_days_left(d, on=on) for d in got} == got
    assert timeutil.working_days_left_many(list(reversed(dues)), on=on) == got
    # all before, or all after, the day asked about
    assert timeutil.working_days_left_many([D(2025, 6, 5), D(2025, 6, 9)], on=on) == {D(2025, 6, 5): -4,
                                                                                       D(2025, 6, 9): -2}
    assert timeutil.working_days_left_many([D(2025, 6, 20), D(2025, 6, 13)], on=on) == {D(2025, 6, 13): 2,
                                                                                         D(2025, 6, 20): 7}
    assert timeutil.working_days_left_many([None, None], on=on) == {}
    assert timeutil.working_days_left_many([], on=on) == {}
