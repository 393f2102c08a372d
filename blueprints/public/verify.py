"""Public verification of a voucher by its code or QR link (ROLE-7, DOC-1, R48, R50).

Shows only what anyone may know: the code, status, face value, the enterprise's name, the
cycle and the issue date. Unknown codes get a clear 404 page; look-ups are limited per
address (VERIFY_LIMIT_PER_ADDRESS per minute, counted in the database so every worker shares it).
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app, redirect, request, url_for

from blueprints.core import security
from blueprints.core.access import public
from blueprints.core.htmx import page
from blueprints.core.issuance import chinese_amount, code_problem, display_code, normalize_code
from blueprints.public import bp
from models import Voucher, db


@bp.app_template_filter("voucher_code")
def voucher_code_filter(code: str) -> str:
    return display_code(code) if code else ""


@bp.app_template_filter("chinese_amount")
def chinese_amount_filter(fen: int) -> str:
    return chinese_amount(fen or 0)


def _limited() -> bool:
    """Count this look-up; True when the address is over its limit for the last minute."""
    return security.address_limited("verify", current_app.config.get("VERIFY_LIMIT_PER_ADDRESS", 60),
                                    timedelta(minutes=1))


@bp.route("/v")
@public
def voucher_lookup():
    """A form to type a voucher code (the QR code leads straight to /v/<code>)."""
    typed = request.args.get("code", "")
    if typed:
        code = normalize_code(typed)
        if code:
            return redirect(url_for("public.voucher_verify", code=code), 303)
        return page("verify_page.html", status=404, v=None, code=typed[:60], typed=typed[:60], invalid=True,
                    problem=code_problem(typed))
    return page("verify_page.html", v=None, code="", typed="", invalid=False)


@bp.route("/v/<code>")
@public
def voucher_verify(code: str):
    """The public verification page of one voucher."""
    if _limited():
        return page("verify_page.html", status=429, v=None, code="", typed="", invalid=False, limited=True)
    canonical = normalize_code(code)
    v = db.session.execute(db.select(Voucher).where(Voucher.code == canonical)).scalar_one_or_none() \
        if canonical else None
    if v is None:
        return page("verify_page.html", status=404, v=None, code=code[:60], typed=code[:60], invalid=True)
    return page("verify_page.html", v=v, code=v.code, typed="", invalid=False)
