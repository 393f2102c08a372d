"""Sign-up, login, logout, password change and the language switch."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import PasswordField, RadioField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from blueprints.core import audit, login_guard, security
from blueprints.core import two_factor
from blueprints.core.access import ANY_USER, allow, public
from blueprints.core.htmx import page, redirect_to
from blueprints.core.i18n import LOCALES
from blueprints.core.nav import home_endpoint
from blueprints.core.timeutil import now
from models import Enterprise, Role, Supplier, User, db

bp = Blueprint("auth", __name__)

# Sign-ups from one network address per hour (a shared office address signs up a few firms, not dozens).
SIGNUP_LIMIT_PER_ADDRESS = 20


def safe_next(target: str | None) -> str | None:
    """Only same-origin relative paths survive (R13)."""
    if not target:
        return None
    target = target.strip()
    if "\\" in target or any(ord(c) < 32 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(max=128)])


class SignupForm(FlaskForm):
    kind = RadioField(
        "注册类型",
        choices=[("enterprise", _l("工业企业（申领服务券）")), ("supplier", _l("供应商（平台商/服务商）"))],
        default="enterprise",
        validators=[DataRequired("请选择注册类型")],
    )
    username = StringField(
        "用户名",
        validators=[
            DataRequired("请输入用户名"),
            Length(min=3, max=32, message="用户名 3 到 32 个字符"),
            Regexp(r"^[A-Za-z0-9_.-]+$", message="用户名只能包含字母、数字、点、下划线和连字符"),
        ],
    )
    display_name = StringField("联系人姓名", validators=[DataRequired("请输入联系人姓名"), Length(max=50)])
    phone = StringField(
        "手机号", validators=[DataRequired("请输入手机号"), Regexp(r"^1\d{10}$", message="请输入 11 位手机号")],
        render_kw={"type": "tel", "inputmode": "tel", "autocomplete": "tel"},
    )
    password = PasswordField("密码（至少 10 位）", validators=[DataRequired("请输入密码")])
    confirm = PasswordField("再次输入密码", validators=[EqualTo("password", message="两次输入的密码不一致")])

    def validate_username(self, field):
        exists = db.session.execute(db.select(User.id).where(User.username == field.data)).first()
        if exists:
            raise ValidationError("该用户名已被使用")

    def validate_password(self, field):
        problem = security.password_problem(field.data or "", self.username.data or "")
        if problem:
            raise ValidationError(problem)


class PasswordForm(FlaskForm):
    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码")])
    password = PasswordField("新密码（至少 10 位）", validators=[DataRequired("请输入新密码")])
    confirm = PasswordField("再次输入新密码", validators=[EqualTo("password", message="两次输入的密码不一致")])

    def validate_password(self, field):
        problem = security.password_problem(field.data or "", current_user.username)
        if problem:
            raise ValidationError(problem)


def _start_session(user: User) -> None:
    session.clear()  # a fresh session at login (R18)
    login_user(user)
    session["login_at"] = session["seen"] = now().timestamp()
    session.permanent = True


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Log in with a username and password (rate-limited per account and address)."""
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint(current_user)))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = db.session.execute(db.select(User).where(User.username == form.username.data)).scalar_one_or_none()
        stored = user.password_hash if user and user.is_active else None  # read before the gate commits
        gate = login_guard.enter_login(form.username.data, user)  # counted before the check (R24, F14)
        if gate.refused:
            return page("auth/login.html", form=form, error=gate.message, status=429)
        if stored is None:
            security.dummy_verify()
        # no transaction is open during the slow check (SQLite: no write lock held meanwhile)
        if stored and security.verify_password(stored, form.password.data):
            if security.needs_rehash(stored):
                user.password_hash = security.hash_password(form.password.data)
            login_guard.succeeded(gate)
            audit.record("user", user.id, "login", actor=user)
            db.session.commit()
            _start_session(user)
            login_guard.remember_device(user)
            return two_factor.after_password(user, safe_next(request.args.get("next")))  # R21: then the code step
        login_guard.failed(gate, user)
        db.session.commit()
        error = "用户名或密码错误"
    status = 422 if request.method == "POST" else 200
    return page("auth/login.html", form=form, error=error, status=status)


@bp.route("/logout", methods=["POST"])
@allow(ANY_USER)
def logout():
    """Log out everywhere: bumping the session version kills every copy of the cookie."""
    current_user.session_version += 1
    audit.record("user", current_user.id, "logout", actor=current_user)
    db.session.commit()
    logout_user()
    session.clear()
    flash("您已退出登录", "info")
    return redirect_to(url_for("auth.login"))


@bp.route("/signup", methods=["GET", "POST"])
@public
def signup():
    """Self-service sign-up for enterprises and suppliers (creates an empty profile)."""
    form = SignupForm()
    if request.args.get("validate") and request.method == "POST":
        form.validate()
        name = request.args["validate"]
        field = getattr(form, name, None) if name in form._fields else None
        return page("auth/signup.html", block="form", form=form, only=field.name if field else None)
    if form.validate_on_submit():
        tried = security.attempt(security.Limit(f"signup:addr:{request.remote_addr}", SIGNUP_LIMIT_PER_ADDRESS,
                                                timedelta(hours=1)))
        if tried.refused:
            error = _("从这个网络地址注册的账号过多，请 %(n)s 分钟后再试", n=tried.minutes)
            return page("auth/signup.html", form=form, error=error, status=429)
        user = User(
            username=form.username.data,
            password_hash=security.hash_password(form.password.data),
            role=form.kind.data,
            display_name=form.display_name.data,
            phone=form.phone.data,
        )
        if form.kind.data == Role.ENTERPRISE:
            org = Enterprise(contact_name=form.display_name.data, contact_phone=form.phone.data)
            db.session.add(org)
            db.session.flush()
            user.enterprise_id = org.id
        else:
            org = Supplier(contact_name=form.display_name.data, contact_phone=form.phone.data)
            db.session.add(org)
            db.session.flush()
            user.supplier_id = org.id
        db.session.add(user)
        try:
            db.session.flush()
        except IntegrityError:  # two sign-ups raced for the same username
            db.session.rollback()
            form.username.errors.append("该用户名已被使用")
            return page("auth/signup.html", form=form, only=None, status=422)
        audit.record("user", user.id, "signup", actor=user, to_state="active")
        db.session.commit()
        _start_session(user)
        flash("注册成功。请填写并提交单位资料，审核通过后即可办理业务。", "success")
        return redirect_to(url_for(home_endpoint(user)))
    return page("auth/signup.html", form=form, only=None, status=422 if request.method == "POST" else 200)


@bp.route("/account/password", methods=["GET", "POST"])
@allow(ANY_USER)
def password_change():
    """Change one's password; every other session is signed out."""
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        stored = user.password_hash
        gate = login_guard.enter_password_check(user)  # limited like login (R24)
        if gate.refused:
            form.current.errors.append(gate.message)
            return page("auth/password.html", form=form, status=429)
        if not security.verify_password(stored, form.current.data):
            login_guard.failed(gate, user)
            db.session.commit()
            form.current.errors.append("当前密码不正确")
            return page("auth/password.html", form=form, status=422)
        login_guard.succeeded(gate)
        user.password_hash = security.hash_password(form.password.data)
        user.password_changed_at = now()
        user.session_version += 1
        two_factor.forget_devices(user)  # a new password forgets every remembered device (its cookie no longer opens)
        two_factor.forget_code_failures(user)
        audit.record("user", user.id, "password_change", actor=user)
        db.session.commit()
        second_factor_done = two_factor.done(user)
        _start_session(user)
        if second_factor_done:  # the new session keeps the second factor this one passed
            two_factor.mark_done(user)
        flash("密码已修改，其他设备上的登录已失效；记住的设备下次登录时也需要输入验证码", "success")
        return redirect_to(url_for(home_endpoint(user)))
    return page("auth/password.html", form=form, status=422 if request.method == "POST" else 200)


@bp.route("/lang", methods=["POST"])
@public
def lang_set():
    """Switch the interface language (zh-Hans / English)."""
    lang = request.form.get("lang", "zh_Hans")
    if lang in LOCALES:
        session["lang"] = lang
        if current_user.is_authenticated:
            current_user.locale = lang
            db.session.commit()
    return redirect_to(safe_next(request.form.get("next")) or url_for("public.index"))


from blueprints import auth_two_factor  # noqa: E402,F401  (the second factor's routes, R21)
from blueprints import auth_account  # noqa: E402,F401  (the account page: e-mail notices)
