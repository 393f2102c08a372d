"""Members of an enterprise or supplier (单位成员): invite colleagues, disable them, mark signatories;
and the invitation link a colleague opens to set a password."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField, TelField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp, ValidationError

from blueprints.core import mail, security, team
from blueprints.core.access import allow, public
from blueprints.core.htmx import page, redirect_to
from blueprints.core.nav import home_endpoint, register_nav
from models import Role, db

bp = Blueprint("team", __name__)

register_nav(Role.ENTERPRISE, [(_l("单位成员"), "team.members")])
register_nav(Role.SUPPLIER, [(_l("单位成员"), "team.members")])

ORG = (Role.ENTERPRISE, Role.SUPPLIER)


class InviteForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[
        DataRequired(_l("请输入用户名")), Length(min=3, max=32, message=_l("用户名 3 到 32 个字符")),
        Regexp(r"^[A-Za-z0-9_.-]+$", message=_l("用户名只能包含字母、数字、点、下划线和连字符"))])
    display_name = StringField(_l("姓名"), validators=[DataRequired(_l("请输入姓名")), Length(max=50)])
    phone = TelField(_l("手机号"), validators=[DataRequired(_l("请输入手机号")),
                                              Regexp(r"^1\d{10}$", message=_l("请输入 11 位手机号"))],
                     render_kw={"inputmode": "tel", "autocomplete": "off"})
    email = EmailField(_l("电子邮箱（选填）"), validators=[Optional(), Length(max=120)],
                       render_kw={"inputmode": "email", "autocomplete": "off"})
    signatory = BooleanField(_l("法定代表人或授权签字人（可提交申请、作出声明和承诺）"))

    def validate_email(self, field) -> None:
        # The strict check of the account page (blueprints/auth_account.py): what the mail can be sent to.
        field.data = (field.data or "").strip()
        if field.data and not mail.valid_email(field.data):
            raise ValidationError(_l("请输入有效的电子邮箱地址，例如 name@example.com"))


class AcceptForm(FlaskForm):
    password = PasswordField(_l("设置密码"), validators=[DataRequired(_l("请输入密码")), Length(max=128)],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("再次输入密码"), validators=[
        DataRequired(_l("请再次输入密码")), EqualTo("password", message=_l("两次输入的密码不一致"))],
        render_kw={"autocomplete": "new-password"})

    def __init__(self, username: str = "", *a, **kw):
        super().__init__(*a, **kw)
        self._username = username

    def validate_password(self, field):
        problem = security.password_problem(field.data or "", self._username)
        if problem:
            raise ValidationError(problem)


def _members_page(form=None, link=None, error=None, status=200, renewed=False, url=None):
    user = current_user._get_current_object()
    invites = team.pending_invites(user)
    return page("team/members.html", members=team.members(user), invites=invites,
                revoked={uid for uid, inv in invites.items() if team.is_revoked(inv)},
                shown_username=team.shown_username,
                form=form or InviteForm(formdata=None), link=link, renewed=renewed, error=error, me=user,
                status=status, url=url)


@bp.route("/team")
@allow(*ORG)
def members():
    """The organisation's members, who may sign, and (for a manager) the invitation form."""
    return _members_page()


def _show_link_once(token: str, *, renewed: bool = False):
    """The new link, shown once: in the answer to the POST itself (never stored anywhere: not in the
    session cookie, which the browser can read, nor in a URL; the database keeps only its hash), not
    cached (no-store), and naming /team as its address (data-replace-url / HX-Replace-Url), so the
    address bar shows /team and a reload is a GET of the members page — without the link, and without
    resending the form (no second invitation or renewal)."""
    resp = _members_page(link=url_for("team.accept", token=token, _external=True), renewed=renewed,
                         url=url_for("team.members"))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/team/invite", methods=["POST"])
@allow(*ORG)
def invite():
    """A manager invites a colleague: the account is made inactive and a one-time link is shown."""
    form = InviteForm()
    if not form.validate_on_submit():
        return _members_page(form=form, status=422)
    try:
        token = team.invite(current_user._get_current_object(), username=form.username.data,
                            display_name=form.display_name.data, phone=form.phone.data,
                            email=form.email.data or "", signatory=bool(form.signatory.data))
    except team.UsernameTaken as e:
        db.session.rollback()
        form.username.errors.append(str(e))
        return _members_page(form=form, status=422)
    except team.TeamError as e:
        db.session.rollback()
        return _members_page(form=form, error=str(e), status=422)
    db.session.commit()
    # The link is shown once (only its hash is stored), with a blank form below it, so the colleague just
    # invited is not offered for a second invitation.
    return _show_link_once(token)


def _on_member(member_id: int, change):
    """Apply change(manager, member) to a member of the user's own organisation (404 otherwise) in one
    transaction: (None, page) when refused, with the reason on the members page; else (result, member)."""
    member = team.member_or_none(current_user, member_id) or abort(404)
    try:
        result = change(current_user._get_current_object(), member)
    except team.TeamError as e:
        db.session.rollback()
        return None, _members_page(error=str(e), status=409)
    db.session.commit()
    return result, member


@bp.route("/team/<int:member_id>/renew", methods=["POST"])
@allow(*ORG)
def renew(member_id: int):
    """A new invitation link for a colleague who has not accepted yet (the old link stops working), shown
    once, as after an invitation."""
    token, member = _on_member(member_id, team.renew_invite)
    if token is None:
        return member
    return _show_link_once(token, renewed=True)


@bp.route("/team/<int:member_id>/revoke", methods=["POST"])
@allow(*ORG)
def revoke(member_id: int):
    """Withdraw an invitation not yet accepted: the link stops working, the account is never enabled."""
    done, member = _on_member(member_id, lambda admin, m: team.revoke_invite(admin, m) or True)
    if done is None:
        return member
    flash(_("已撤销对 %(name)s 的邀请，邀请链接已失效", name=member.display_name), "success")
    return redirect_to(url_for("team.members"))


@bp.route("/team/<int:member_id>/active", methods=["POST"])
@allow(*ORG)
def set_active(member_id: int):
    """Disable a colleague (every session ends at once) or enable them again."""
    active = request.form.get("active") == "1"
    done, member = _on_member(member_id, lambda admin, m: team.set_active(admin, m, active) or True)
    if done is None:
        return member
    flash(_("已启用 %(name)s", name=member.display_name) if active
          else _("已停用 %(name)s，其登录已失效", name=member.display_name), "success")
    return redirect_to(url_for("team.members"))


@bp.route("/team/<int:member_id>/roles", methods=["POST"])
@allow(*ORG)
def set_roles(member_id: int):
    """Mark a colleague as signatory and/or manager, or take it away."""
    signatory, org_admin = request.form.get("signatory") == "1", request.form.get("org_admin") == "1"
    done, member = _on_member(member_id, lambda admin, m: team.set_flags(
        admin, m, signatory=signatory, org_admin=org_admin) or True)
    if done is None:
        return member
    flash(_("已更新 %(name)s 的权限", name=member.display_name), "success")
    return redirect_to(url_for("team.members"))


@bp.route("/invite/<token>", methods=["GET", "POST"])
@public
def accept(token: str):
    """A colleague opens the invitation link and sets a password, then logs in as usual."""
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint(current_user)))
    inv = team.open_invite(token)
    if inv is None:
        return page("team/accept.html", invite=None, form=None, status=404)
    form = AcceptForm(inv.user.username)
    if form.validate_on_submit():
        if team.accept(inv, form.password.data) is None:  # used (or revoked) at the same moment elsewhere
            db.session.rollback()
            return page("team/accept.html", invite=None, form=None, status=404)
        db.session.commit()
        flash(_("账号已启用，请用新密码登录"), "success")
        return redirect_to(url_for("auth.login"))
    return page("team/accept.html", invite=inv, form=form, status=422 if request.method == "POST" else 200)
