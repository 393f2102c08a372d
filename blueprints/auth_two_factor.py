"""The second factor of logins (R21): the code step after the password, enrolment by QR code, and the
account page where anyone may turn it on (officials must) and renew recovery codes.

Routes of the auth blueprint (imported at the end of blueprints/auth.py); the rules live in
blueprints/core/two_factor.py.
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from blueprints.auth import bp, safe_next
from blueprints.core import audit, notices, security
from blueprints.core import two_factor as tf
from blueprints.core.access import ANY_USER, allow
from blueprints.core.htmx import page, redirect_to, toast
from blueprints.core.nav import home_endpoint
from models import db


class CodeForm(FlaskForm):
    code = StringField(_l("验证码或恢复码"), validators=[DataRequired(_l("请输入验证码")), Length(max=40)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "off"})
    remember = BooleanField(_l("在这台设备上 30 天内不再询问"))


class EnrolForm(FlaskForm):
    code = StringField(_l("验证器显示的 6 位验证码"), validators=[DataRequired(_l("请输入验证码")), Length(max=12)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class ConfirmForm(FlaskForm):
    code = StringField(_l("当前验证码"), validators=[DataRequired(_l("请输入验证码")), Length(max=40)],
                       render_kw={"autocomplete": "one-time-code"})


def _attempt(user, *, daily: bool = True) -> security.Attempt:
    """Codes are limited like passwords, per account and per address (R24), and per account per day: each
    try is counted before the code is checked, in one atomic step (security.attempt), so parallel guesses
    cannot slip past. A right code takes back only its own try: an attacker who holds the password gains
    nothing from the owner's next good login."""
    cfg = current_app.config
    window = timedelta(minutes=cfg["LOGIN_WINDOW_MINUTES"])
    limits = [security.Limit(f"2fa:user:{user.id}", cfg["LOGIN_LIMIT_PER_ACCOUNT"], window),
              security.Limit(f"2fa:addr:{request.remote_addr}", cfg["LOGIN_LIMIT_PER_ADDRESS"], window)]
    if daily:
        limits.append(security.Limit(f"2fa:day:{user.id}", cfg["TOTP_FAILURES_PER_DAY"], timedelta(days=1)))
    return security.attempt(*limits)


def _wrong_code(user, tried: security.Attempt) -> None:
    """A wrong code after a right password: when the account's limit (per window or per day) is reached,
    its owner is told (once per window) -- someone who knows the password is guessing."""
    cfg = current_app.config
    reached = (tried.before.get(f"2fa:user:{user.id}") == cfg["LOGIN_LIMIT_PER_ACCOUNT"] - 1
               or tried.before.get(f"2fa:day:{user.id}") == cfg["TOTP_FAILURES_PER_DAY"] - 1)
    if not reached:
        return
    window = timedelta(minutes=cfg["LOGIN_WINDOW_MINUTES"])
    if security.attempt(security.Limit(f"2fa:told:{user.id}", 1, window)).refused:
        return
    notices.notify_users(
        [user.id], "有人用正确的密码登录您的账号，但多次输错了两步验证码",
        f"来自地址 {request.remote_addr or '未知'} 的登录输入了正确的密码，但两步验证码多次错误，已暂停其尝试。"
        "如果这不是您本人，请立即修改密码；如果因此无法登录，请联系省级管理员重置两步验证。", url_for("auth.password_change"))
    db.session.commit()


def _next_url() -> str:
    return safe_next(request.args.get("next")) or url_for(home_endpoint(current_user))


@bp.route("/login/code", methods=["GET", "POST"])
@allow(ANY_USER)
def two_factor_code():
    """The code step after the password: a TOTP code or a recovery code (rate-limited)."""
    user = current_user._get_current_object()
    if not tf.pending(user):
        return redirect(_next_url())
    if not tf.enabled(user):
        return redirect(url_for("auth.two_factor_enrol", next=safe_next(request.args.get("next"))))
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        tried = _attempt(user)
        if tried.refused:
            error = _("尝试次数过多，请 %(n)s 分钟后再试", n=tried.minutes)
            return page("auth/two_factor_code.html", form=form, error=error, status=429)
        method = tf.use_code(user, form.code.data)
        if method:
            security.forget(tried.ids)
            audit.record("user", user.id, "second_factor", actor=user, data={"method": method})
            token = tf.remember_device(user) if form.remember.data else None
            left = tf.recovery_codes_left(user) if method == "recovery" else None
            db.session.commit()
            tf.mark_done(user)
            if left is not None:
                toast(_("已使用一个恢复码，还剩 %(n)d 个。用完前请在“两步验证”页面重新生成。", n=left), "warning")
            resp = redirect(_next_url(), 303)
            if token:
                tf.set_device_cookie(resp, token)
            return resp
        _wrong_code(user, tried)
        error = _("验证码不正确或已使用过，请输入验证器上的新验证码")
    status = 422 if request.method == "POST" else 200
    return page("auth/two_factor_code.html", form=form, error=error, status=status)


@bp.route("/login/enrol", methods=["GET", "POST"])
@allow(ANY_USER)
def two_factor_enrol():
    """Turn on the second factor: scan the QR code, confirm with a code, receive recovery codes once."""
    user = current_user._get_current_object()
    if tf.enabled(user):
        return redirect(url_for("auth.two_factor_code") if tf.pending(user) else url_for("auth.two_factor_show"))
    secret = tf.setup_secret(user)  # a reload shows the same QR code; the cookie never holds the secret
    form = EnrolForm()
    error = None
    if form.validate_on_submit():
        tried = _attempt(user, daily=False)  # a new secret shown to its user: nothing to guess, no daily cap
        if tried.refused:
            return _enrol_page(user, secret, form, _("尝试次数过多，请 %(n)s 分钟后再试", n=tried.minutes), 429)
        step = tf.current_step()
        if tf.code_matches(secret, form.code.data, step):
            codes = tf.enrol(user, secret, step)
            if codes is None:  # enrolled meanwhile by another request (a double submit): its codes stand
                db.session.rollback()
                return redirect(url_for("auth.two_factor_code", next=safe_next(request.args.get("next"))))
            security.forget(tried.ids)
            audit.record("user", user.id, "two_factor_enrol", actor=user, to_state="totp")
            db.session.commit()
            tf.forget_setup()
            tf.mark_done(user)
            return page("auth/two_factor_codes.html", codes=codes, next_url=_next_url(), enrolled=True)
        error = _("验证码不正确，请核对手机时间后输入验证器上的最新验证码")
    return _enrol_page(user, secret, form, error, 422 if request.method == "POST" else 200)


def _enrol_page(user, secret, form, error, status):
    return page("auth/two_factor_enrol.html", form=form, error=error, status=status, qr=tf.qr_svg(user, secret),
                secret=secret, secret_grouped=tf.grouped(secret), required=tf.required(user))


@bp.route("/account/two-factor")
@allow(ANY_USER)
def two_factor_show():
    """One's second factor: on or off, recovery codes left, remembered devices."""
    user = current_user._get_current_object()
    return page("auth/two_factor_show.html", user=user, enabled=tf.enabled(user), required=tf.required(user),
                codes_left=tf.recovery_codes_left(user), devices=tf.devices_count(user), form=ConfirmForm())


def _refusal(user, form):
    """Check the confirming code of an account-page action: None when it is right, else the page saying why."""
    if not form.validate_on_submit():
        return _show_with_error(user, form, form.code.errors[0] if form.code.errors else _("验证码不正确或已使用过"), 422)
    tried = _attempt(user)
    if tried.refused:
        return _show_with_error(user, form, _("尝试次数过多，请 %(n)s 分钟后再试", n=tried.minutes), 429)
    if tf.use_code(user, form.code.data):
        security.forget(tried.ids)
        return None
    _wrong_code(user, tried)
    return _show_with_error(user, form, _("验证码不正确或已使用过"), 422)


def _show_with_error(user, form, message, status):
    form.code.errors = [message]
    return page("auth/two_factor_show.html", user=user, enabled=tf.enabled(user), required=tf.required(user),
                codes_left=tf.recovery_codes_left(user), devices=tf.devices_count(user), form=form, status=status)


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
@allow(ANY_USER)
def two_factor_recovery_renew():
    """New recovery codes (the old ones stop working), confirmed by a current code."""
    user = current_user._get_current_object()
    if not tf.enabled(user):
        return redirect_to(url_for("auth.two_factor_show"))
    form = ConfirmForm()
    refused = _refusal(user, form)
    if refused:
        return refused
    codes = tf.new_recovery_codes(user)
    audit.record("user", user.id, "recovery_codes_renew", actor=user)
    db.session.commit()
    return page("auth/two_factor_codes.html", codes=codes, next_url=url_for("auth.two_factor_show"), enrolled=False)


@bp.route("/account/two-factor/off", methods=["POST"])
@allow(ANY_USER)
def two_factor_off():
    """Turn the second factor off (enterprises and suppliers only), confirmed by a current code."""
    user = current_user._get_current_object()
    if tf.required(user) or not tf.enabled(user):
        toast(_("工作人员账号必须使用两步验证，不能关闭"), "error")
        return redirect_to(url_for("auth.two_factor_show"))
    form = ConfirmForm()
    refused = _refusal(user, form)
    if refused:
        return refused
    tf.turn_off(user)
    audit.record("user", user.id, "two_factor_off", actor=user, from_state="totp", to_state="off")
    db.session.commit()
    toast(_("两步验证已关闭"), "success")
    return redirect_to(url_for("auth.two_factor_show"))


@bp.route("/account/two-factor/devices/forget", methods=["POST"])
@allow(ANY_USER)
def two_factor_devices_forget():
    """Forget every remembered device: the next login everywhere asks for a code again."""
    user = current_user._get_current_object()
    tf.forget_devices(user)
    audit.record("user", user.id, "devices_forget", actor=user)
    db.session.commit()
    toast(_("已忘记所有记住的设备"), "success")
    resp = redirect_to(url_for("auth.two_factor_show"))
    resp.delete_cookie(tf.device_cookie(), path="/")
    return resp
