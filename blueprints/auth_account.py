"""The account page: the e-mail address notices go to, and (officials) one mail per notice or a daily digest.

Routes of the auth blueprint (imported at the end of blueprints/auth.py); sending lives in blueprints/core/mail.py.
"""
from __future__ import annotations

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField
from wtforms.validators import Length, Optional, ValidationError

from blueprints.auth import bp
from blueprints.core import audit, mail
from blueprints.core.access import ANY_USER, allow
from blueprints.core.htmx import page, redirect_to
from models import Role, db

DELIVERY_CHOICES = [("each", _l("每条消息发一封邮件")), ("digest", _l("每天一封待办摘要（超期事项在前）"))]


class AccountForm(FlaskForm):
    email = EmailField(_l("电子邮箱"), validators=[Optional(), Length(max=254, message=_l("邮箱地址过长"))],
                       render_kw={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"})
    delivery = RadioField(_l("邮件通知方式"), choices=DELIVERY_CHOICES, default="each")

    def validate_email(self, field) -> None:
        field.data = (field.data or "").strip()
        if field.data and not mail.valid_email(field.data):
            raise ValidationError(_l("请输入有效的电子邮箱地址，例如 name@example.com"))


def _org_contact(user) -> str:
    org = user.enterprise if user.enterprise_id else (user.supplier if user.supplier_id else None)
    contact = (org.contact_email or "").strip() if org is not None else ""
    return contact if mail.valid_email(contact) else ""


@bp.route("/account", methods=["GET", "POST"])
@allow(ANY_USER)
def account_settings():
    """The account's e-mail address and how notices arrive by mail."""
    user = current_user._get_current_object()
    official = user.role in mail.DIGEST_ROLES
    form = AccountForm(data={"email": user.email, "delivery": "digest" if user.mail_digest else "each"})
    if not official:
        del form.delivery
    if form.validate_on_submit():
        user.email = form.email.data or ""
        if official:
            user.mail_digest = form.delivery.data == "digest"
        audit.record("user", user.id, "mail_settings", actor=user,
                     data={"email": user.email, "digest": bool(user.mail_digest)})
        db.session.commit()
        flash(_("账户设置已保存"), "success")
        return redirect_to(url_for("auth.account_settings"))
    return page("auth/account.html", form=form, user=user, official=official, org_contact=_org_contact(user),
                mail_on=mail.enabled(), is_org=user.role in (Role.ENTERPRISE, Role.SUPPLIER),
                status=422 if request.method == "POST" else 200)
