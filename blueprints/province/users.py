"""Province: accounts for city officers, experts, operators and admins (ROLE-3..6).

Enterprises and suppliers sign up themselves; every other account is opened here.
Disabling an account or resetting its password ends its sessions at once.
"""
from __future__ import annotations

from flask import request, url_for
from flask_login import current_user
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

from blueprints.core import audit, notices, security
from blueprints.core.htmx import page, redirect_to, toast
from blueprints.core.nav import register_nav
from blueprints.province import bp
from models import ROLE_LABELS, City, Role, User, db

register_nav(Role.PROVINCE, [("账号管理", "province.user_list")])

STAFF_ROLES = [Role.CITY, Role.PROVINCE, Role.EXPERT, Role.OPERATOR]
PER_PAGE = 25


class StaffForm(FlaskForm):
    username = StringField("用户名", validators=[
        DataRequired("请输入用户名"), Length(min=3, max=32, message="用户名 3 到 32 个字符"),
        Regexp(r"^[A-Za-z0-9_.-]+$", message="用户名只能包含字母、数字、点、下划线和连字符")])
    display_name = StringField("姓名或单位", validators=[DataRequired("请输入姓名或单位"), Length(max=100)])
    role = SelectField("角色", choices=[(r.value, _l(ROLE_LABELS[r])) for r in STAFF_ROLES])
    city_code = SelectField("所属地市（地市账号必填；第三方机构代地市时填写）", choices=[])
    password = PasswordField("初始密码（至少 10 位，请线下告知本人）", validators=[DataRequired("请输入初始密码")])

    def validate_username(self, field):
        if db.session.execute(db.select(User.id).where(User.username == field.data)).first():
            raise ValidationError("该用户名已被使用")

    def validate_city_code(self, field):
        if self.role.data == Role.CITY and not field.data:
            raise ValidationError("地市账号必须选择所属地市")
        if self.role.data in (Role.PROVINCE, Role.EXPERT) and field.data:
            raise ValidationError("省厅和专家账号不属于地市，请留空")

    def validate_password(self, field):
        problem = security.password_problem(field.data or "", self.username.data or "")
        if problem:
            raise ValidationError(problem)


def _city_choices():
    cities = db.session.execute(db.select(City).order_by(City.position)).scalars()
    return [("", _l("（不属于地市）"))] + [(c.code, c.name) for c in cities]


@bp.route("/users")
def user_list():
    """Staff accounts with search by name and filter by role; paginated."""
    q = (request.args.get("q") or "").strip()
    role = request.args.get("role") or ""
    stmt = db.select(User).where(User.role.in_([r.value for r in STAFF_ROLES]))
    if q:
        stmt = stmt.where(db.or_(User.username.contains(q), User.display_name.contains(q)))
    if role in {r.value for r in STAFF_ROLES}:
        stmt = stmt.where(User.role == role)
    pg = db.paginate(stmt.order_by(User.role, User.city_code, User.username), per_page=PER_PAGE, error_out=False)
    cities = {c.code: c.name for c in db.session.execute(db.select(City)).scalars()}
    return page("province/users_list.html", block="results", pg=pg, q=q, role=role, cities=cities,
                staff_roles=STAFF_ROLES, args={"q": q, "role": role})


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    """Open an account for a city officer, expert, operator or admin."""
    form = StaffForm()
    form.city_code.choices = _city_choices()
    if form.validate_on_submit():
        user = User(username=form.username.data, display_name=form.display_name.data, role=form.role.data,
                    city_code=form.city_code.data or None, password_hash=security.hash_password(form.password.data))
        db.session.add(user)
        db.session.flush()
        audit.record("user", user.id, "create", actor=current_user, to_state="active",
                     data={"role": user.role, "city": user.city_code})
        db.session.commit()
        toast(f"已开设账号 {user.username}", "success")
        return redirect_to(url_for("province.user_list"))
    return page("province/users_form.html", form=form, status=422 if request.method == "POST" else 200)


@bp.route("/users/<int:user_id>/active", methods=["POST"])
def user_toggle_active(user_id: int):
    """Disable or re-enable a staff account; disabling ends its sessions."""
    user = db.get_or_404(User, user_id)
    if user.role not in {r.value for r in STAFF_ROLES} or user.id == current_user.id:
        toast("不能停用该账号", "error")
        return redirect_to(url_for("province.user_list"))
    user.is_active = not user.is_active
    user.session_version += 1
    audit.record("user", user.id, "enable" if user.is_active else "disable", actor=current_user,
                 from_state="disabled" if user.is_active else "active",
                 to_state="active" if user.is_active else "disabled")
    db.session.commit()
    toast(f"账号 {user.username} 已{'启用' if user.is_active else '停用'}", "success")
    return redirect_to(url_for("province.user_list"))


@bp.route("/users/<int:user_id>/two-factor/reset", methods=["POST"])
def user_two_factor_reset(user_id: int):
    """Reset an account's second factor (a lost phone): it enrols anew at its next login (R21)."""
    from flask_babel import gettext as _

    from blueprints.core import two_factor

    user = db.get_or_404(User, user_id)
    # Staff accounts only, as the list shows: an enterprise's or supplier's own second factor is theirs to
    # turn off (with a code or a recovery code); a reset would leave it password-only for good, unnoticed.
    if user.role not in {r.value for r in STAFF_ROLES} or user.id == current_user.id or not two_factor.enabled(user):
        toast(_("不能重置该账号的两步验证"), "error")
        return redirect_to(url_for("province.user_list"))
    two_factor.turn_off(user)
    two_factor.forget_code_failures(user)  # a day's cap of wrong codes must not keep it from enrolling anew
    user.session_version += 1  # its sessions end: the next login passes the password, then enrols anew
    audit.record("user", user.id, "two_factor_reset", actor=current_user, from_state="totp", to_state="off")
    notices.notify_users([user.id], "您账号的两步验证已由省级管理员重置",
                         "下次登录时请重新绑定验证器。如果这不是您申请的，请立即联系省级管理员并修改密码。",
                         url_for("auth.two_factor_show"))
    db.session.commit()
    toast(_("已重置账号 %(name)s 的两步验证，其下次登录时需重新绑定", name=user.username), "success")
    return redirect_to(url_for("province.user_list"))
