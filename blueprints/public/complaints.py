"""Leaving a message or complaint, and reading its answer by tracking number, open to everyone (SUP-5, ROLE-7).

The form asks a small sum ("3 加 4 等于几？") whose operands travel in a hidden field signed with the app's
SECRET_KEY and a timestamp (itsdangerous): it expires after CHECK_MAX_AGE, needs no third-party service and
no server-side state. A hidden honeypot field must stay empty. Per address, COMPLAINT_LIMIT_PER_ADDRESS
(default 5) an hour are counted: every message left, every failed human check (so the sum cannot be
guessed at leisure) and every POST carrying files (checking them parses PDFs: costly); mistakes in the other
fields alone do not count, so a person correcting a typo is not locked out. A counted POST is counted or
refused in one atomic step (security.attempt, its own committed transaction) before any file is opened, so
parallel posts cannot pass the limit together.

On success the tracking number is shown once, prominently, on the look-up page (a marker in the session);
the look-up shows the state, category, dates and the answer, never the sender's contact or text.
"""
from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app, request, session, url_for
from flask_babel import gettext
from flask_login import current_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from blueprints.core import complaints as core
from blueprints.core import security
from blueprints.core.access import public
from blueprints.core.htmx import page, redirect_to
from blueprints.core.uploads import UploadError, safe_filename, save_upload
from blueprints.core.uploads import problem as upload_problem
from blueprints.public import bp
from models import Complaint, db

CHECK_SALT = "complaint-human-check"
CHECK_MAX_AGE = 30 * 60  # seconds: a question older than this is asked again
HONEYPOT = "website"  # a field people never see; bots fill it
SHOWN_ONCE = "complaint_new"  # session key: the tracking number to show prominently, once


# --------------------------------------------------------------------------- the human check


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=CHECK_SALT)


def _question(a: int, op: str, b: int) -> str:
    if op == "+":
        return gettext("%(a)s 加 %(b)s 等于几？", a=a, b=b)
    return gettext("%(a)s 减 %(b)s 等于几？", a=a, b=b)


def new_check() -> tuple[str, str]:
    """(question, signed token) of a fresh sum: small numbers, never a negative result."""
    a, b = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
    op = secrets.choice("+-")
    if op == "-" and b > a:
        a, b = b, a
    return _question(a, op, b), _serializer().dumps([a, op, b])


def read_check(token: str) -> tuple[str, int] | None:
    """(question, answer) of a token that is genuine and not expired, else None."""
    try:
        a, op, b = _serializer().loads(token or "", max_age=CHECK_MAX_AGE)
        a, b = int(a), int(b)
    except (BadSignature, SignatureExpired, TypeError, ValueError):
        return None
    if op not in "+-" or len(op) != 1:
        return None
    return _question(a, op, b), (a + b if op == "+" else a - b)


def check_problem(form) -> str:
    """Why the human check fails ("" when it passes): an expired or forged question, a wrong sum, a bot."""
    if (form.get(HONEYPOT) or "").strip():
        return "未能通过验证，请重新回答验证问题"
    found = read_check(form.get("check_token", ""))
    if found is None:
        return "验证问题已过期，请回答新的验证问题"
    try:
        given = int((form.get("check_answer") or "").strip())  # int() also reads full-width digits
    except ValueError:
        return "请用数字回答验证问题"
    return "" if given == found[1] else "验证问题回答不正确，请重新计算"


# --------------------------------------------------------------------------- the form


def _over_limit(*, counted: bool) -> bool:
    """True when the address used its COMPLAINT_LIMIT_PER_ADDRESS for the hour. counted: this POST counts
    (a failed check, any file to check, a message to leave), counted or refused in one atomic step
    (security.attempt, committed) before any costly work; else only looked at, nothing counted."""
    limit, window = current_app.config.get("COMPLAINT_LIMIT_PER_ADDRESS", 5), timedelta(hours=1)
    if counted:
        return security.address_limited("complaint", limit, window)
    return security.too_many(_limit_key(), limit, window)


def _limit_key() -> str:
    return f"complaint:addr:{request.remote_addr}"


def _input(form) -> core.ComplaintInput:
    sid = (form.get("supplier_id") or "").strip()
    return core.ComplaintInput(category=(form.get("category") or "")[:20], text=(form.get("text") or "")[:4000],
                               contact_name=(form.get("contact_name") or "")[:100],
                               contact=(form.get("contact") or "")[:100],
                               supplier_id=int(sid) if sid.isdigit() and len(sid) < 12 else None)


def _form(data: core.ComplaintInput, status: int = 200, *, errors=None, check=None, answer: str = ""):
    """The form; `check` is (question, token) to ask, a new one when None."""
    question, token = check or new_check()
    return page("public/complaint_new.html", status=status, data=data, errors=errors or {}, question=question,
                check_token=token, check_answer=answer, categories=core.CATEGORIES,
                suppliers=core.approved_suppliers(), max_files=core.MAX_FILES, honeypot=HONEYPOT)


@bp.route("/public/messages/new", methods=["GET", "POST"])
@public
def complaint_new():
    """Leave a message or complaint (category, text, optional supplier, files and contact) (SUP-5)."""
    if request.method == "POST":
        return _complaint_submit()
    sid = request.args.get("supplier", "")
    data = core.ComplaintInput(category=request.args.get("category", ""),
                               supplier_id=int(sid) if sid.isdigit() and len(sid) < 12 else None)
    return _form(data)


def _complaint_submit():
    """The POST of complaint_new: 429 over the address's limit; 422 with everything typed kept (the files
    are chosen again) and a new question when the check failed; else 303 to the look-up."""
    f = request.form
    data = _input(f)
    problem = check_problem(f)
    errors = core.check(data)
    files = [x for x in request.files.getlist("files") if x and x.filename]
    if _over_limit(counted=bool(problem or files or not errors)):
        db.session.rollback()
        return _form(data, 429, errors={"": "提交过于频繁，请一小时后再试"})
    if problem:  # counted above: the sum is not to be guessed at leisure
        # every other mistake is named now too, not one round later (一次性告知)
        return _form(data, 422, errors={**errors, "check": problem})
    kept = (read_check(f.get("check_token", ""))[0], f.get("check_token", ""))  # passed: not asked again
    answer = f.get("check_answer", "")
    if len(files) > core.MAX_FILES:
        errors["files"] = f"材料最多 {core.MAX_FILES} 个文件"
    elif errors:  # a bad file is named now, with the other errors, not after they are fixed
        bad = [f"“{safe_filename(x.filename)}”：{why}" for x in files if (why := upload_problem(x))]
        if bad:
            errors["files"] = "；".join(bad) + "（文件未保存，改正后请重新选择文件）"
    if errors:
        db.session.rollback()
        return _form(data, 422, errors=errors, check=kept, answer=answer)
    try:
        saved = [_save(x) for x in files]  # owner_id is set by core.create
        c = core.create(data, saved)
    except (UploadError, core.FieldErrors) as exc:
        db.session.rollback()  # nothing is kept: neither the files' rows nor the message
        errs = exc.errors if isinstance(exc, core.FieldErrors) else {"files": str(exc)}
        return _form(data, 422, errors=errs, check=kept, answer=answer)
    db.session.commit()  # counted above, before the files were checked
    session[SHOWN_ONCE] = c.tracking_no
    return redirect_to(url_for("public.complaint_lookup", tracking_no=c.tracking_no))


def _save(storage):
    try:
        return save_upload(storage, kind="complaint_material", owner_type="complaint", owner_id=None,
                           user_id=current_user.id if current_user.is_authenticated else None)
    except UploadError as exc:
        raise UploadError(f"“{storage.filename}”：{exc}") from None


# --------------------------------------------------------------------------- look-up


def _lookup_limited() -> bool:
    """Count this look-up; True when the address is over its limit for the last minute."""
    return security.address_limited("complaint-lookup", current_app.config.get("VERIFY_LIMIT_PER_ADDRESS", 60),
                                    timedelta(minutes=1))


@bp.route("/public/messages")
@public
def complaint_lookup():
    """Look a message up by its tracking number: its state, deadline and, once answered, the answer (SUP-5)."""
    typed = (request.args.get("tracking_no") or "")[:60]
    number = core.normalize_tracking(typed)
    ctx = dict(typed=typed, c=None, categories=core.CATEGORIES, labels=core.STATUS_LABELS, new=False)
    if not number:
        return page("public/complaint_lookup.html", **ctx)
    if _lookup_limited():
        return page("public/complaint_lookup.html", status=429, limited=True, **ctx)
    c = db.session.execute(db.select(Complaint).where(Complaint.tracking_no == number)).scalar_one_or_none() \
        if core.TRACKING_RE.match(number) else None
    if c is None:
        return page("public/complaint_lookup.html", status=404, unknown=True, **ctx)
    new = session.get(SHOWN_ONCE) == c.tracking_no
    if new:
        session.pop(SHOWN_ONCE)  # the prominent notice is shown once; the look-up stays
    ctx.update(c=c, new=new, body=core.answering_body(c), verdict=core.needs_verdict(c),
               forwarded=_city_name(c.city_code) if c.status == core.OPEN else "")
    return page("public/complaint_lookup.html", **ctx)


def _city_name(code: str | None) -> str:
    from models import City

    city = db.session.get(City, code) if code else None
    return city.name if city else ""
