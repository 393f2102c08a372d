"""Background jobs: state in the database, progress followed from another worker, failures shown,
claims that never run a job twice, abandoned jobs re-run, and only the owner sees a job."""
from __future__ import annotations

import datetime as dt
import tempfile
import threading

import pytest
import time_machine

from blueprints.core import jobs
from blueprints.core.timeutil import now
from models import Application, AppStatus, Job, JobStatus, Notice, Role, db

# Handlers that exist only for these tests (registered once at import).
_gate: dict[str, threading.Event] = {}


@jobs.handler("test_text", "测试导出")
def _text_job(job, progress):
    n = int(job.params["rows"])
    progress(0, n, force=True)
    if "half" in _gate:
        progress(n // 2, force=True)
        _gate["half"].set()
        assert _gate["go"].wait(10)
    fh = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8")
    with fh:
        for i in range(n):
            fh.write(f"第{i}行\n")
    return jobs.Result(fh.name, "测试.txt", "text/plain", message=f"{n} 行")


@jobs.handler("test_refused", "测试失败")
def _refused_job(job, progress):
    raise jobs.JobError("筛选条件没有匹配的记录")


@jobs.handler("test_crash", "测试崩溃")
def _crash_job(job, progress):
    raise RuntimeError("disk on fire")


@pytest.fixture
def other_app(db_url, app):
    """A second app on the same database and upload folder: another gunicorn worker or server."""
    from app import create_app

    return create_app({**{k: app.config[k] for k in ("TESTING", "SQLALCHEMY_DATABASE_URI", "WTF_CSRF_ENABLED",
                                                     "UPLOAD_DIR", "SECRET_KEY")}, "SERVER_NAME": None})


def _login_other(other_app, user):
    uid, user_id = user.get_id(), user.id
    db.session.rollback()  # this test's own SQLite transaction must not hold the lock the other app needs
    c = other_app.test_client()
    with c.session_transaction() as s:
        s["_user_id"] = uid
        s["_fresh"] = True
        s["login_at"] = s["seen"] = now().timestamp()
        s["mfa"] = user_id  # past the second factor (as tests/conftest.py _login); read before the rollback
    return c


def test_job_runs_and_only_its_owner_sees_it(login_as):
    client, user = login_as(Role.CITY)
    other, _ = login_as(Role.CITY)
    job = jobs.start("test_text", {"rows": 3}, user)  # immediate mode: it has already run
    db.session.expire_all()
    assert job.status == JobStatus.DONE and job.done == 3 and job.total == 3 and job.attempts == 1

    page = client.get(f"/jobs/{job.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "已完成" in html and f"/jobs/{job.id}/download" in html
    assert "hx-trigger" not in html  # a finished job is no longer polled
    got = client.get(f"/jobs/{job.id}/download")
    assert got.status_code == 200 and got.get_data(as_text=True) == "第0行\n第1行\n第2行\n"
    assert "attachment" in got.headers["Content-Disposition"]
    assert "测试导出" in client.get("/jobs").get_data(as_text=True)
    # the owner is told when it is done, with a link to it
    n = db.session.execute(db.select(Notice).where(Notice.user_id == user.id)).scalar_one()
    assert n.title == "测试导出已完成" and n.link == f"/jobs/{job.id}"

    for url in (f"/jobs/{job.id}", f"/jobs/{job.id}/download"):
        assert other.get(url).status_code == 404
    assert "测试导出" not in other.get("/jobs").get_data(as_text=True)


def test_progress_is_followed_from_another_worker(app, other_app, login_as, monkeypatch):
    """The job runs in one worker (a thread with its own app context, like the consumer); the
    user's page is answered by another app on the same database."""
    _, user = login_as(Role.CITY)
    monkeypatch.setattr(jobs, "enqueue", lambda job: None)  # queued, not yet taken by a consumer
    job = jobs.start("test_text", {"rows": 1000}, user)
    job_id = job.id
    watcher = _login_other(other_app, user)
    queued = watcher.get(f"/jobs/{job_id}", headers={"HX-Request": "true"})
    assert queued.status_code == 200 and "排队中" in queued.get_data(as_text=True)
    assert "<html" not in queued.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in queued.get_data(as_text=True)

    _gate.update(half=threading.Event(), go=threading.Event())
    errors: list[BaseException] = []

    def consumer():
        try:
            with app.app_context():
                jobs.execute(job_id)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=consumer)
    t.start()
    try:
        assert _gate["half"].wait(10), errors
        mid = watcher.get(f"/jobs/{job_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
        assert "500 / 1000" in mid and "50%" in mid and 'hx-trigger="every 1s"' in mid
    finally:
        _gate["go"].set()
        t.join(20)
        _gate.clear()
    assert not errors
    done = watcher.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "已完成" in done and "1000" in done
    assert watcher.get(f"/jobs/{job_id}/download").get_data(as_text=True).count("\n") == 1000


def test_failures_show_a_clear_message_and_are_logged(login_as, caplog):
    client, user = login_as(Role.PROVINCE)
    refused = jobs.start("test_refused", {}, user)
    crashed = jobs.start("test_crash", {}, user)
    db.session.expire_all()
    assert refused.status == crashed.status == JobStatus.FAILED
    assert "筛选条件没有匹配的记录" in client.get(f"/jobs/{refused.id}").get_data(as_text=True)
    html = client.get(f"/jobs/{crashed.id}").get_data(as_text=True)
    assert f"任务编号 {crashed.id}" in html and "disk on fire" not in html  # no internals shown
    assert any("disk on fire" in (r.exc_text or "") or "test_crash" in r.getMessage() for r in caplog.records)
    assert client.get(f"/jobs/{crashed.id}/download").status_code == 404
    assert refused.result_file_id is None


def test_a_job_delivered_twice_runs_once(login_as, monkeypatch):
    _, user = login_as(Role.CITY)
    runs = []
    monkeypatch.setitem(jobs.HANDLERS, "test_text", lambda job, p: runs.append(job.id) or _text_job(job, p))
    job = jobs.start("test_text", {"rows": 1}, user)
    jobs.execute(job.id)  # the same task delivered again (a retry, or two consumers)
    jobs.execute(job.id)
    db.session.expire_all()
    assert runs == [job.id] and job.attempts == 1 and job.status == JobStatus.DONE


def test_abandoned_job_is_rerun_then_given_up(login_as, monkeypatch):
    """A consumer that died mid-job leaves a stale heartbeat: the sweep runs it again, and after
    MAX_ATTEMPTS the job fails with a message instead of hanging for ever."""
    _, user = login_as(Role.CITY)
    monkeypatch.setattr(jobs, "enqueue", lambda job: None)
    job = jobs.start("test_text", {"rows": 2}, user)
    t0 = now()
    db.session.execute(db.update(Job).where(Job.id == job.id).values(
        status=JobStatus.RUNNING, attempts=1, heartbeat_at=t0))
    db.session.commit()
    ran = []
    monkeypatch.setattr(jobs, "enqueue", lambda j: ran.append(j.id) or jobs.execute(j.id))
    assert jobs.sweep() == 0  # still fresh: nobody steals it
    with time_machine.travel(t0 + dt.timedelta(minutes=3), tick=False):
        assert jobs.sweep() == 1
    db.session.expire_all()
    assert ran == [job.id] and job.status == JobStatus.DONE and job.attempts == 2

    stuck = jobs.start("test_text", {"rows": 2}, user)
    db.session.execute(db.update(Job).where(Job.id == stuck.id).values(
        status=JobStatus.RUNNING, attempts=jobs.MAX_ATTEMPTS, heartbeat_at=t0))
    db.session.commit()
    with time_machine.travel(t0 + dt.timedelta(minutes=3), tick=False):
        jobs.sweep()
    db.session.expire_all()
    assert stuck.status == JobStatus.FAILED and "多次处理未能完成" in stuck.message


def test_job_pages_need_login(client):
    for url in ("/jobs", "/jobs/1", "/jobs/1/download"):
        r = client.get(url)
        assert r.status_code in (302, 303) and "/login" in r.headers["Location"]


def test_large_exports_become_jobs_with_the_same_rows(app, login_as):
    """Above EXPORT_JOB_ROWS the city's voucher export and the province directory run as jobs; at
    or under it they download at once. Either way the file holds every matching row."""
    import io

    from openpyxl import load_workbook

    from tests.factories import make_enterprise
    from tests.test_two_servers import _vouchers_for

    city, _ = login_as(Role.CITY, city_code="440100")
    province, _ = login_as(Role.PROVINCE)
    _vouchers_for("440100", 4)
    for i in range(3):
        make_enterprise(city_code="440300", name=f"名录企业{i}有限公司")
    db.session.commit()

    def rows(body: bytes) -> list[tuple]:
        return list(load_workbook(io.BytesIO(body), read_only=True).worksheets[0].iter_rows(values_only=True))

    app.config["EXPORT_JOB_ROWS"] = 4
    direct = city.get("/city/vouchers/export.xlsx")
    assert direct.status_code == 200 and len(rows(direct.data)) == 1 + 4  # small: no job

    app.config["EXPORT_JOB_ROWS"] = 2
    for client, url, title, want in ((city, "/city/vouchers/export.xlsx", "服务券导出", 4),
                                     (province, "/province/directory/export?kind=enterprise&city=440300",
                                      "注册名录导出", 3)):
        asked = client.get(url)  # a link or a prefetch only asks: no job yet
        assert asked.status_code == 200 and f"共 {want} 行" in asked.get_data(as_text=True)
        assert 'method="post"' in asked.get_data(as_text=True)
        before = db.session.execute(db.select(db.func.count(Job.id))).scalar_one()
        started = client.post(url)
        assert started.status_code == 303 and "/jobs/" in started.headers["Location"]
        assert db.session.execute(db.select(db.func.count(Job.id))).scalar_one() == before + 1
        job_url = started.headers["Location"]
        page = client.get(job_url).get_data(as_text=True)
        assert title in page and "已完成" in page and f"共 {want} 行" in page
        got = client.get(job_url + "/download")
        assert got.status_code == 200 and len(rows(got.data)) == 1 + want
        job = db.session.execute(db.select(Job).order_by(Job.id.desc())).scalars().first()
        assert job.total == want and job.done == want
    # the other person cannot follow the city's export job
    assert province.get(f"/jobs/{job.id - 1}").status_code == 404


def test_planner_statistics_are_refreshed(app, engine_name):
    """The consumer refreshes the planner's statistics: without them SQLite counted the city's
    review queue through the submission-date index, reading every application of the city."""
    import sqlalchemy as sa

    from tests.test_two_servers import _vouchers_for

    _vouchers_for("440100", 400)
    t = now()
    db.session.execute(sa.update(Application).values(submitted_at=t, confirmed_at=t))
    db.session.execute(sa.update(Application).where(Application.id % 100 == 0).values(status=AppStatus.CITY_REVIEW))
    db.session.commit()
    queue = ("SELECT count(*) FROM (SELECT id FROM application WHERE city_code = '440100' AND submitted_at IS NOT NULL"
             " AND confirmed_at IS NOT NULL AND status = 'city_review' LIMIT 1001) AS q")
    jobs.analyze()
    with db.engine.connect() as conn:
        if engine_name == "sqlite":
            assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'application'").scalar() > 0
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + queue))
            assert "status=?" in plan, plan  # an index that starts with (city_code, status)
        else:
            assert conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE relname = 'application'").scalar() >= 400
    assert db.session.execute(sa.text(queue)).scalar() == 4


def test_the_same_export_twice_is_one_job_and_a_person_has_at_most_three(app, login_as, monkeypatch):
    client, user = login_as(Role.CITY, city_code="440100")
    from tests.test_two_servers import _vouchers_for

    _vouchers_for("440100", 6)
    db.session.commit()
    app.config["EXPORT_JOB_ROWS"] = 2
    monkeypatch.setattr(jobs, "enqueue", lambda job: None)  # they stay queued: no consumer here
    first = client.post("/city/vouchers/export.xlsx")
    again = client.post("/city/vouchers/export.xlsx")  # a double click, a reload
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    for q in ("两台", "服务器测试"):  # other filters: other jobs
        assert client.post(f"/city/vouchers/export.xlsx?q={q}").status_code == 303
    refused = client.post("/city/vouchers/export.xlsx?q=两台服务器")
    assert refused.status_code == 429 and "3 项导出正在生成" in refused.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(Job.id)).where(Job.user_id == user.id)).scalar_one() == 3


def test_a_job_stays_in_the_scope_it_was_started_in(login_as):
    """An officer moved to another city no longer downloads the old city's export."""
    client, user = login_as(Role.CITY, city_code="440100")
    job = jobs.start("test_text", {"rows": 1}, user)
    assert client.get(f"/jobs/{job.id}/download").status_code == 200
    user.city_code = "440300"
    db.session.commit()
    assert client.get(f"/jobs/{job.id}").status_code == 404
    assert client.get(f"/jobs/{job.id}/download").status_code == 404


def test_a_run_that_was_taken_over_cannot_change_the_job(app, login_as, monkeypatch):
    """A stalled run presumed dead is taken over by another; when it wakes up, its progress and its
    result are refused, so it can neither overwrite the new run's file nor fail a finished job."""
    _, user = login_as(Role.CITY)
    monkeypatch.setattr(jobs, "enqueue", lambda job: None)
    job = jobs.start("test_text", {"rows": 2}, user)
    job_id = job.id
    first = jobs._claim(job_id)
    assert first == 1 and jobs._claim(job_id) is None  # claimed once
    db.session.execute(db.update(Job).where(Job.id == job_id).values(attempts=2))  # the takeover
    db.session.commit()  # (this test's session then holds no SQLite lock the progress write would wait for)
    with pytest.raises(jobs.JobError):
        jobs.Progress(job_id, first)(1, 2, force=True)
    assert jobs._finish(job_id, first, JobStatus.FAILED, "stale run") is False
    db.session.commit()
    assert jobs._finish(job_id, 2, JobStatus.DONE) is True
    db.session.commit()
    db.session.expire_all()
    assert job.status == JobStatus.DONE and job.message == ""


def test_heartbeat_keeps_a_quiet_job_alive(app, login_as, monkeypatch):
    _, user = login_as(Role.CITY)
    monkeypatch.setattr(jobs, "enqueue", lambda job: None)
    job = jobs.start("test_text", {"rows": 2}, user)
    attempt = jobs._claim(job.id)
    old = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    db.session.execute(db.update(Job).where(Job.id == job.id).values(heartbeat_at=old))
    db.session.commit()
    beat = jobs._Heartbeat(app, job.id, attempt, every=0.05)
    beat.start()
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        db.session.expire_all()
        if job.heartbeat_at > old:
            break
        db.session.rollback()
        time.sleep(0.05)
    beat.stopped.set()
    beat.join(5)
    assert job.heartbeat_at > old + dt.timedelta(days=300)


def test_the_consumers_start_up_does_not_lock_the_database(app, login_as):
    """At start the consumer sweeps and then refreshes statistics in one context: the sweep's read
    must not keep the (SQLite) write lock, or the refresh and every login would wait for it."""
    import sqlalchemy as sa

    client, user = login_as(Role.CITY)
    jobs.sweep()
    with db.engine.begin() as other:  # another connection writes (a login, a progress update)
        other.execute(sa.text("UPDATE job SET done = 0 WHERE id < 0"))
    jobs.analyze()
    assert client.post("/notices/read").status_code in (302, 303)
