"""Spreadsheet exports that may be large: small ones stream in the request, large ones run as a
background job (blueprints/core/jobs.py) whose page shows the progress and then the download.

The line is EXPORT_JOB_ROWS (config, default 5,000 rows): well under a second of work in the
request, far from gunicorn's timeout; above it the user confirms (a GET never starts work) and
then sees a progress bar instead of a spinner that might die. The job re-applies the same filters the user chose, in the scope recorded when it
was started (the city is the user's city at that moment).
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile

from flask import current_app, request, url_for

from blueprints.core import issuance, jobs, registration, xlsx
from blueprints.core.htmx import page, redirect_to


def _json_filters(filters: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in filters.items()}


def _voucher_filters(params: dict) -> dict:
    out = {k: v for k, v in params.items() if not k.startswith("_")}
    for k in ("issued_from", "issued_to"):
        if out.get(k):
            out[k] = dt.date.fromisoformat(out[k])
    return out


def respond(kind: str, *, count: int, params: dict, user, filename: str, write):
    """The export itself (streamed) when small. A large one is a background job: a GET (a link,
    a prefetch) only shows what will happen and asks; the confirming POST starts the job (or finds
    the same one already running) and goes to its progress page."""
    if count <= current_app.config.get("EXPORT_JOB_ROWS", 5000):
        return xlsx.send(write, filename)
    if request.method != "POST":
        return page("common/export_confirm.html", count=count, title=jobs.TITLES[kind], action=request.full_path)
    try:
        job = jobs.start(kind, _json_filters(params), user, total=count)
    except jobs.TooManyJobs as e:
        return page("common/export_confirm.html", status=429, count=count, title=jobs.TITLES[kind],
                    action=request.full_path, error=str(e))
    return redirect_to(url_for("common.job_detail", job_id=job.id))


def _run(write, name: str, total: int, progress) -> jobs.Result:
    progress(0, total, force=True)
    fd, path = tempfile.mkstemp(suffix=".xlsx", prefix="export-")
    try:
        with os.fdopen(fd, "wb") as fh:
            n = write(fh, lambda done: progress(done, max(total, done)))
    except BaseException:
        os.unlink(path)
        raise
    return jobs.Result(path, name, xlsx.MIMETYPE, message=f"共 {n} 行")


@jobs.handler("voucher_export", "服务券导出")
def voucher_export_job(job, progress) -> jobs.Result:
    filters = _voucher_filters(job.params)
    return _run(lambda fh, p: issuance.write_vouchers_xlsx(fh, progress=p, **filters), "vouchers.xlsx",
                issuance.count_vouchers(**filters), progress)


@jobs.handler("directory_export", "注册名录导出")
def directory_export_job(job, progress) -> jobs.Result:
    p = job.params
    name = f"{'enterprises' if p['kind'] == 'enterprise' else 'suppliers'}-{job.created_at:%Y%m%d}.xlsx"
    return _run(lambda fh, cb: registration.write_directory_xlsx(fh, p["kind"], p["q"], p["city"], progress=cb),
                name, registration.count_directory(p["kind"], p["q"], p["city"]), progress)


@jobs.handler("settlement_export", "兑现申请导出")
def settlement_export_job(job, progress) -> jobs.Result:
    from blueprints.core import settlement_pages

    filters = settlement_pages.export_filters(job.params)
    return _run(lambda fh, p: settlement_pages.write_settlements_xlsx(fh, progress=p, **filters), "settlements.xlsx",
                settlement_pages.count_settlements(**filters), progress)
