"""What every logged-in user has: notices, and downloading files they may see."""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, request, send_file, url_for
from flask_login import current_user

from blueprints.core import paging
from blueprints.core.access import ANY_USER, get_visible_or_404, guard_blueprint
from blueprints.core.htmx import page, redirect_to
from blueprints.core.timeutil import now
from blueprints.core.uploads import path_for
from models import Notice, StoredFile, db

bp = Blueprint("common", __name__)
guard_blueprint(bp, ANY_USER)

PER_PAGE = 20


@bp.route("/notices")
def notice_list():
    """The user's notices, newest first, paginated."""
    pg = paging.paginate(
        db.select(Notice).where(Notice.user_id == current_user.id).order_by(Notice.id.desc()), per_page=PER_PAGE
    )
    return page("common/notices.html", block="results", pg=pg)


@bp.route("/notices/read", methods=["POST"])
def notice_read_all():
    """Mark every notice as read."""
    db.session.execute(
        db.update(Notice).where(Notice.user_id == current_user.id, Notice.read_at.is_(None)).values(read_at=now())
    )
    db.session.commit()
    return redirect_to(url_for("common.notice_list"))


@bp.route("/notices/<int:notice_id>/open", methods=["POST"])
def notice_open(notice_id: int):
    """Mark one notice as read and go to the record it is about."""
    n = db.session.get(Notice, notice_id)
    if n is None or n.user_id != current_user.id:
        abort(404)
    if n.read_at is None:
        n.read_at = now()
        db.session.commit()
    target = n.link if n.link.startswith("/") and not n.link.startswith("//") else url_for("common.notice_list")
    return redirect_to(target)


def send_stored(f: StoredFile, inline: bool = False) -> Response:
    """Serve a stored file safely, streamed from storage: attachment (unless an image/PDF
    preview), nosniff, sandbox. A file missing from this server's storage is a 404."""
    path = path_for(f.sha256)
    if not path.exists():
        abort(404)
    resp = send_file(path, mimetype=f.mime, conditional=False, etag=False)
    name = f.original_name or f"file-{f.id}"
    disposition = "inline" if inline else "attachment"
    resp.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(name)}"
    resp.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.route("/files/<int:file_id>")
def file_download(file_id: int):
    """Download a file, only if the user may see the record it belongs to (DOC-3)."""
    f = get_visible_or_404(StoredFile, file_id)
    return send_stored(f, inline=request.args.get("inline") == "1")


# --------------------------------------------------------------------------- background jobs


def _own_job_or_404(job_id: int):
    from models import Job

    from blueprints.core.jobs import scope_of

    job = db.session.get(Job, job_id)
    if job is None or job.user_id != current_user.id:
        abort(404)  # another user's job does not exist for you
    if (job.params or {}).get("_scope", scope_of(current_user)) != scope_of(current_user):
        abort(404)  # started in another role or city: its rows are no longer yours to see
    return job


@bp.route("/jobs")
def job_list():
    """The user's background jobs (exports and documents), newest first."""
    from blueprints.core import jobs

    pg = db.paginate(jobs.visible_jobs(current_user), per_page=PER_PAGE, error_out=False)
    return page("common/jobs.html", block="results", pg=pg)


@bp.route("/jobs/<int:job_id>")
def job_detail(job_id: int):
    """One job with its progress; htmx polls the status block until the job has finished."""
    job = _own_job_or_404(job_id)
    return page("common/job.html", block="status", job=job)


@bp.route("/jobs/<int:job_id>/download")
def job_download(job_id: int):
    """The finished job's file, streamed from storage."""
    job = _own_job_or_404(job_id)
    if job.result_file is None:
        abort(404)  # not finished (or failed)
    return send_stored(job.result_file)
