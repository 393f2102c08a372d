"""Background jobs: long work (large exports, long PDFs, imports) runs outside the request.

- models.Job holds the state (queued, running, done, failed; done/total; message; result file),
  so any worker of any server answers /jobs/<id>, whose progress bar htmx polls.
- The queue is huey: a SQLite file in the instance folder on one server (embedded, nothing to
  install), Redis when REDIS_URL is set (several app servers share it). The consumer is started
  by `make run` (scripts/run.sh) and by gunicorn itself (gunicorn.conf.py), never by hand.
- A job is claimed atomically (queued -> running, or running with a stale heartbeat -> running
  again), so a task delivered twice runs once. sweep() (at consumer start and every minute)
  re-queues a job whose consumer died mid-way, up to MAX_ATTEMPTS, then fails it with a message.
- Handlers register with @handler("kind"): they get the Job and a Progress and return a Result,
  a finished file that is stored under its SHA-256 and offered for download to the job's owner.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

from flask import has_app_context

from blueprints.core import uploads
from blueprints.core.sqlite_tx import deferred_reads
from blueprints.core.timeutil import now
from models import Job, JobStatus, StoredFile, User, db

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
STALE_AFTER = dt.timedelta(minutes=2)  # a running job whose heartbeat is older was abandoned
LOST_AFTER = dt.timedelta(minutes=10)  # a job still queued after this may have lost its queue entry
PROGRESS_EVERY = 0.5  # seconds between progress writes


class JobError(Exception):
    """A failure whose message is meant for the user (shown as is on the job's page)."""


@dataclasses.dataclass
class Result:
    path: str  # a temporary file; it is moved into storage
    name: str  # the download name
    mime: str
    message: str = ""


HANDLERS: dict[str, Callable[[Job, "Progress"], Result]] = {}
TITLES: dict[str, str] = {}


def handler(kind: str, title: str):
    def register(fn):
        HANDLERS[kind] = fn
        TITLES[kind] = title
        return fn

    return register


# --------------------------------------------------------------------------- the queue


def _make_huey():
    name = os.environ.get("JOBS_QUEUE_NAME", "platform")
    url = os.environ.get("REDIS_URL", "")
    immediate = os.environ.get("JOBS_IMMEDIATE", "") == "1"
    if url:
        from huey import RedisHuey

        q = RedisHuey(name, url=url, results=False)
    else:
        from huey import SqliteHuey

        inst = Path(os.environ.get("INSTANCE_DIR") or Path(__file__).resolve().parents[2] / "instance")
        inst.mkdir(parents=True, exist_ok=True)
        q = SqliteHuey(name, filename=str(inst / "jobs-queue.db"), results=False)
    q.immediate = immediate
    return q


huey = _make_huey()

_worker_app = None
_worker_app_lock = threading.Lock()


def _app():
    """The consumer's own app (created once per consumer process, from the environment)."""
    global _worker_app
    with _worker_app_lock:
        if _worker_app is None:
            from app import create_app

            _worker_app = create_app()
        return _worker_app


@huey.task()
def run_job_task(job_id: int) -> None:
    if has_app_context():  # immediate mode (tests): run in the caller's app
        execute(job_id)
    else:
        with _app().app_context():
            execute(job_id)


@huey.periodic_task(__import__("huey").crontab(minute="*"))
def sweep_task() -> None:
    with _app().app_context():
        sweep()


@huey.periodic_task(__import__("huey").crontab(minute="17"))
def analyze_task() -> None:
    with _app().app_context():
        analyze()


@huey.on_startup()
def _sweep_at_start() -> None:
    try:
        with _app().app_context():
            sweep()
            analyze()
    except Exception:  # a database that is not up yet must not stop the consumer
        log.exception("job sweep at start-up failed")


def analyze() -> None:
    """Refresh the query planner's statistics (at consumer start and hourly).

    SQLite has no autovacuum: without statistics its planner guesses, and at province scale it
    counted the city's review queue through the wrong index (7 ms instead of 0.1 ms). A sampled
    ANALYZE (analysis_limit) takes milliseconds. PostgreSQL's autovacuum does the same on its own;
    an explicit ANALYZE there is cheap and keeps both engines alike after bulk loads.
    """
    db.session.commit()  # this context's own transaction must not hold the lock ANALYZE needs
    with deferred_reads(False), db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        conn.exec_driver_sql("ANALYZE")


# --------------------------------------------------------------------------- starting and running


ACTIVE_PER_USER = 3  # jobs one person may have queued or running at once


class TooManyJobs(JobError):
    pass


def start(kind: str, params: dict, user, *, total: int = 0, title: str = "") -> Job:
    """Record the job and queue it; commits (the consumer must see the row before it runs).

    The same export asked for again while it is still queued or running is that job, not a new
    one (a double click, a reload); more than ACTIVE_PER_USER at once is refused (TooManyJobs).
    The scope the job ran in (role, city) is kept, so the file is offered only in that scope.
    """
    if kind not in HANDLERS:
        raise KeyError(kind)
    params = {**params, "_scope": scope_of(user)}
    # One person's starts queue behind each other (PostgreSQL: a row lock on the account; SQLite:
    # the POST's write transaction), so the look-up below cannot miss a job being started.
    db.session.execute(db.select(User.id).where(User.id == user.id).with_for_update())
    active = db.session.execute(
        db.select(Job).where(Job.user_id == user.id, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
        .with_for_update()
    ).scalars().all()
    for job in active:
        if job.kind == kind and job.params == params:
            db.session.commit()
            return job
    if len(active) >= ACTIVE_PER_USER:
        db.session.rollback()
        raise TooManyJobs(f"您已有 {len(active)} 项导出正在生成，请等其中一项完成后再发起")
    job = Job(kind=kind, title=title or TITLES[kind], params=params, user_id=user.id, total=total,
              status=JobStatus.QUEUED)
    db.session.add(job)
    db.session.commit()
    enqueue(job)
    return job


def scope_of(user) -> list:
    return [str(user.acting_role), user.city_code or ""]


def enqueue(job: Job) -> None:
    try:
        run_job_task(job.id)
    except Exception:
        log.exception("could not queue job %s", job.id)
        _finish(job.id, None, JobStatus.FAILED, "任务队列暂时不可用，请稍后重试")
        db.session.commit()


def _claim(job_id: int) -> int | None:
    """queued -> running (or a stale running job taken over); the attempt number when this call
    won it, else None. Every later write of this run names its attempt, so a run that was taken
    over (it stalled, its consumer was presumed dead) can no longer change the job."""
    t = now()
    stale = t - STALE_AFTER
    res = db.session.execute(
        db.update(Job)
        .where(Job.id == job_id, Job.attempts < MAX_ATTEMPTS,
               db.or_(Job.status == JobStatus.QUEUED,
                      db.and_(Job.status == JobStatus.RUNNING, Job.heartbeat_at < stale)))
        .values(status=JobStatus.RUNNING, attempts=Job.attempts + 1, started_at=t, heartbeat_at=t)
        .execution_options(synchronize_session=False)
    )
    attempt = None
    if res.rowcount == 1:
        attempt = db.session.execute(db.select(Job.attempts).where(Job.id == job_id)).scalar_one()
    db.session.commit()
    return attempt


def _mine(job_id: int, attempt: int | None):
    where = [Job.id == job_id]
    if attempt is not None:
        where += [Job.attempts == attempt, Job.status == JobStatus.RUNNING]
    return where


def _finish(job_id: int, attempt: int | None, status: str, message: str = "", file_id: int | None = None) -> bool:
    values = dict(status=status, message=message, finished_at=now(), heartbeat_at=now())
    if file_id is not None:
        values["result_file_id"] = file_id
    if status == JobStatus.DONE:
        values["done"] = db.case((Job.total > Job.done, Job.total), else_=Job.done)
    res = db.session.execute(db.update(Job).where(*_mine(job_id, attempt)).values(**values)
                             .execution_options(synchronize_session=False))
    return res.rowcount == 1


class Progress:
    """progress(done, total=None): writes at most every PROGRESS_EVERY seconds, from its own
    short transaction, so the job's long read never holds a lock the write would wait for."""

    def __init__(self, job_id: int, attempt: int | None = None):
        self.job_id = job_id
        self.attempt = attempt
        self._last = 0.0

    def __call__(self, done: int, total: int | None = None, *, force: bool = False) -> None:
        t = time.monotonic()
        if not force and t - self._last < PROGRESS_EVERY:
            return
        self._last = t
        values = {"done": done, "heartbeat_at": now()}
        if total is not None:
            values["total"] = total
        with deferred_reads(False), db.engine.begin() as conn:
            if conn.execute(db.update(Job).where(*_mine(self.job_id, self.attempt)).values(**values)).rowcount == 0:
                raise JobError("任务已由另一个处理进程接手")  # this run was taken over: stop it


class _Heartbeat(threading.Thread):
    """Keeps a running job's heartbeat fresh while its handler works, whether or not the handler
    reports progress (one long PDF page, a slow copy to shared storage)."""

    def __init__(self, app, job_id: int, attempt: int, every: float = 30.0):
        super().__init__(daemon=True, name=f"job-{job_id}-heartbeat")
        self.app, self.job_id, self.attempt, self.every = app, job_id, attempt, every
        self.stopped = threading.Event()

    def run(self) -> None:
        with self.app.app_context():
            while not self.stopped.wait(self.every):
                try:
                    with deferred_reads(False), db.engine.begin() as conn:
                        conn.execute(db.update(Job).where(*_mine(self.job_id, self.attempt))
                                     .values(heartbeat_at=now()))
                except Exception:
                    log.exception("heartbeat of job %s failed", self.job_id)


def execute(job_id: int) -> None:
    """Run one job if it can be claimed; any failure is recorded on the job and logged."""
    from flask import current_app

    from blueprints.core import notices
    from blueprints.core.application import link

    attempt = _claim(job_id)
    if attempt is None:
        return
    heartbeat = _Heartbeat(current_app._get_current_object(), job_id, attempt)
    heartbeat.start()
    result = None
    try:
        # The whole read runs as a plain (deferred) SQLite reader, so the progress writes from
        # another connection never wait for it; PostgreSQL ignores this.
        with deferred_reads():
            job = db.session.get(Job, job_id)
            kind, title, user_id = job.kind, job.title, job.user_id
            fn = HANDLERS.get(kind)
            if fn is None:
                raise JobError("未知的任务类型")
            result = fn(job, Progress(job_id, attempt))
            db.session.commit()  # ends the read transaction before the writes below
        sha, size = uploads.write_path(result.path)
        f = StoredFile(sha256=sha, size=size, mime=result.mime, original_name=result.name[:200], kind="job_result",
                       owner_type="job", owner_id=job_id, uploaded_by=user_id)
        db.session.add(f)
        db.session.flush()
        if _finish(job_id, attempt, JobStatus.DONE, result.message, file_id=f.id):
            notices.notify_users([user_id], title=f"{title}已完成",
                                 body=result.message or "文件已生成，可以下载",
                                 link=link("common.job_detail", job_id=job_id))
            db.session.commit()
            log.info("job %s done: %s bytes", job_id, size)
        else:
            db.session.rollback()  # taken over meanwhile: the other run's outcome stands
    except JobError as e:
        db.session.rollback()
        _finish(job_id, attempt, JobStatus.FAILED, str(e))
        db.session.commit()
        log.warning("job %s failed: %s", job_id, e)
    except Exception:
        db.session.rollback()
        log.exception("job %s failed", job_id)
        _finish(job_id, attempt, JobStatus.FAILED,
                f"处理时出错（任务编号 {job_id}），请稍后重试；如果再次出错，请联系省级管理员")
        db.session.commit()
    finally:
        heartbeat.stopped.set()
        if result is not None and os.path.exists(result.path):
            os.unlink(result.path)  # stored (moved) on success; never left behind on failure


def sweep() -> int:
    """Re-queue jobs whose consumer died (stale heartbeat) or whose queue entry was lost; fail
    those out of attempts. Returns how many were re-queued."""
    t = now()
    stale = t - STALE_AFTER
    abandoned = db.session.execute(
        db.select(Job).where(
            db.or_(db.and_(Job.status == JobStatus.RUNNING, Job.heartbeat_at < stale),
                   # queued for 10 minutes: its queue entry may be lost (re-queued at most every 10 minutes)
                   db.and_(Job.status == JobStatus.QUEUED, Job.created_at < t - LOST_AFTER,
                           db.or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < t - LOST_AFTER))))
        .limit(100)
    ).scalars().all()
    requeued = 0
    for job in abandoned:
        if job.attempts >= MAX_ATTEMPTS:
            _finish(job.id, None, JobStatus.FAILED, f"多次处理未能完成（任务编号 {job.id}），请重新发起或联系省级管理员")
            db.session.commit()
            continue
        log.warning("job %s (%s) re-queued (attempt %s)", job.id, job.kind, job.attempts + 1)
        if job.status == JobStatus.QUEUED:
            job.heartbeat_at = t
            db.session.commit()
        enqueue(job)
        requeued += 1
    db.session.commit()  # end the look-up's transaction: on SQLite it holds the write lock
    return requeued


def visible_jobs(user):
    return db.select(Job).where(Job.user_id == user.id).order_by(Job.id.desc())


def register_cli(app) -> None:
    """`flask jobs worker` runs the consumer (make run and gunicorn start it themselves);
    `flask jobs sweep` re-queues abandoned jobs once."""
    import click
    from flask import current_app
    from flask.cli import AppGroup

    group = AppGroup("jobs", help="后台任务 (background jobs)")

    @group.command("worker")
    @click.option("--workers", default=2, show_default=True, help="jobs run at the same time")
    def worker(workers: int) -> None:
        global _worker_app
        _worker_app = current_app._get_current_object()
        huey.immediate = False
        where = os.environ.get("REDIS_URL") or getattr(huey.storage, "filename", "")
        click.echo(f"job consumer: {workers} worker(s), queue {huey.name} at {where}")
        huey.create_consumer(workers=workers, worker_type="thread", periodic=True, check_worker_health=True).run()

    @group.command("sweep")
    def sweep_cmd() -> None:
        click.echo(f"{sweep()} job(s) re-queued")

    app.cli.add_command(group)
