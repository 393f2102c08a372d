"""The working-day calendar (SLA-4, SLA-1): official holidays and make-up days from chinesecalendar,
the province's overrides, and a clear warning with a weekends-only fallback for uncovered years."""
from __future__ import annotations

import datetime as dt

import chinese_calendar
import time_machine

from blueprints.core import timeutil
from models import AuditEvent, CalendarDay, Role, db
from tests.factories import enterprise_form, make_enterprise, make_user, registration_files

MP = "multipart/form-data"


def at(y, m, d):
    return time_machine.travel(dt.datetime(y, m, d, 2, 0, tzinfo=dt.timezone.utc), tick=False)


def test_library_knows_2026_national_day_and_its_make_up_days():
    # rule: SLA-4 (the facts the deadline tests below rely on)
    assert all(not chinese_calendar.is_workday(dt.date(2026, 10, d)) for d in range(1, 8))
    assert chinese_calendar.is_workday(dt.date(2026, 10, 10))  # Saturday, make-up working day
    assert chinese_calendar.is_workday(dt.date(2026, 9, 20))   # Sunday, make-up working day
    assert not chinese_calendar.is_workday(dt.date(2026, 9, 25))  # Mid-autumn Festival (Friday)


def test_deadline_skips_the_holiday_and_counts_the_make_up_day(app):
    # rule: SLA-4, SLA-1
    # From Wed 30 Sep: 1-7 Oct off; 8, 9, 10 (Saturday make-up), 12, 13 -> 13 Oct.
    assert timeutil.add_working_days(dt.date(2026, 9, 30), 5) == dt.date(2026, 10, 13)
    # From Fri 18 Sep: Sunday 20 Sep is a make-up working day -> 24 Sep.
    assert timeutil.add_working_days(dt.date(2026, 9, 18), 5) == dt.date(2026, 9, 24)
    assert timeutil.working_days_left(dt.date(2026, 10, 13), on=dt.date(2026, 9, 30)) == 5


def test_submission_before_national_day_gets_the_official_deadline(login):
    # rule: SLA-1, SLA-4, REG-7
    with at(2026, 9, 30):
        e = make_enterprise(status="draft", uscc=None)
        user = make_user(Role.ENTERPRISE, enterprise_id=e.id)
        officer = make_user(Role.CITY, city_code="440100")
        db.session.commit()
        data = enterprise_form()
        data.update(registration_files())
        assert login(user).post("/enterprise/profile/edit", data=data, content_type=MP).status_code == 303
        db.session.expire_all()
        assert e.due_on == dt.date(2026, 10, 13)
        html = login(officer).get("/city/registrations").get_data(as_text=True)
        assert "剩 5 个工作日" in html
    with at(2026, 10, 10):  # the make-up Saturday counts as a day gone
        html = login(officer).get("/city/registrations").get_data(as_text=True)
        assert "剩 2 个工作日" in html


def test_province_override_moves_deadlines_and_is_audited(login):
    # rule: SLA-4
    province = make_user(Role.PROVINCE)
    db.session.commit()
    p = login(province)
    page = p.get("/province/calendar?month=2026-10").get_data(as_text=True)
    assert 'id="day-2026-10-10"' in page and "国庆节" in page and "调休上班" in page
    assert 'id="calendar-year-warning"' not in page
    r = p.post("/province/calendar?month=2026-10",
               data={"day": "2026-10-12", "is_workday": "0", "note": "台风停工（省政府通知）"})
    assert r.status_code == 303
    assert timeutil.add_working_days(dt.date(2026, 9, 30), 5) == dt.date(2026, 10, 14)
    assert db.session.get(CalendarDay, dt.date(2026, 10, 12)).is_workday is False
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.entity_type == "calendar_day")).scalar_one()
    assert ev.actor_id == province.id and ev.data["is_workday"] is False and "台风" in ev.reason
    page = p.get("/province/calendar?month=2026-10").get_data(as_text=True)
    assert 'id="override-2026-10-12"' in page and "台风停工" in page
    # Turning a day off into a working day works the same way; clearing restores the library.
    assert p.post("/province/calendar", data={"day": "2026-10-07", "is_workday": "1", "note": "补班"}).status_code == 303
    assert timeutil.is_workday(dt.date(2026, 10, 7))
    assert p.post("/province/calendar/2026-10-12/clear").status_code == 303
    assert p.post("/province/calendar/2026-10-07/clear").status_code == 303
    assert timeutil.add_working_days(dt.date(2026, 9, 30), 5) == dt.date(2026, 10, 13)
    assert p.post("/province/calendar/2026-10-07/clear").status_code == 303  # nothing to clear: a warning, no error
    assert p.post("/province/calendar/not-a-date/clear").status_code == 303


def test_override_form_is_checked(login):
    # rule: SLA-4
    province = make_user(Role.PROVINCE)
    db.session.commit()
    p = login(province)
    r = p.post("/province/calendar", data={"day": "2026-13-01", "is_workday": "1", "note": ""})
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and "日期格式不正确" in body and "请写明依据" in body
    assert db.session.execute(db.select(db.func.count()).select_from(CalendarDay)).scalar_one() == 0


def test_uncovered_year_warns_and_falls_back_to_weekends(login):
    # rule: SLA-4
    assert not timeutil.calendar_covers(2027)
    # No crash: weekends only, so Friday 1 Jan 2027 (New Year's Day, unknown to the library) counts.
    assert timeutil.add_working_days(dt.date(2026, 12, 31), 1) == dt.date(2027, 1, 1)
    with at(2027, 1, 5):
        province = make_user(Role.PROVINCE)
        officer = make_user(Role.CITY, city_code="440100")
        db.session.commit()
        p = login(province)
        page = p.get("/province/calendar").get_data(as_text=True)
        assert 'id="calendar-warning"' in page and "2027 年" in page and "周一至周五" in page
        assert 'id="calendar-year-warning"' in page
        # Only the province, who can enter the schedule, is warned; the cities cannot act on it.
        c = login(officer)
        assert "工作日历尚未收录" not in c.get("/city/registrations").get_data(as_text=True)
        assert "工作日历尚未收录" not in c.get("/city/").get_data(as_text=True)
        home = p.get("/province/").get_data(as_text=True)
        assert "工作日历尚未收录" in home and 'href="/province/calendar"' in home
        assert "工作日历尚未收录" in p.get("/province/registrations").get_data(as_text=True)
        # The province enters the State Council's schedule itself.
        assert p.post("/province/calendar", data={"day": "2027-01-01", "is_workday": "0",
                                                  "note": "国办发明电〔2026〕元旦放假"}).status_code == 303
        assert timeutil.add_working_days(dt.date(2026, 12, 31), 1) == dt.date(2027, 1, 4)


def test_warning_appears_ahead_of_an_uncovered_year(app):
    # rule: SLA-4
    from blueprints.core.registration import calendar_warning

    assert calendar_warning(dt.date(2026, 6, 1)) is None
    assert "2027" in calendar_warning(dt.date(2026, 12, 1))  # deadlines soon fall in 2027
