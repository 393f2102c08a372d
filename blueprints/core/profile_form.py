"""What the enterprise and supplier profile forms share: contact fields and the set-up."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import Length, Optional, Regexp

from blueprints.core import registration as reg


class ProfileFormBase(FlaskForm):
    """Draft saves check only what is filled in; submission (form.submitting) needs everything."""

    contact_name = StringField("联系人", [reg.Required("请输入联系人姓名"), Length(max=50, message="不能超过 50 个字")])
    contact_phone = StringField("联系电话", [reg.Required("请输入联系电话"), Regexp(reg.PHONE_RE, message=reg.PHONE_MESSAGE)],
                                render_kw={"type": "tel", "inputmode": "tel", "autocomplete": "tel"})
    contact_email = StringField("电子邮箱（选填）", [Optional(), Regexp(reg.EMAIL_RE, message="电子邮箱格式不正确"),
                                                 Length(max=120, message="不能超过 120 个字符")],
                                render_kw={"type": "email", "inputmode": "email", "autocomplete": "email"})
    licence_file_id = HiddenField()

    submitting = True
    owner = None

    def __init__(self, *args, owner=None, **kw):
        super().__init__(*args, **kw)
        self.owner = owner
        self.city_code.choices = reg.city_choices()
