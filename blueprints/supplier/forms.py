"""Forms of the supplier blueprint: the supplier profile (REG-2)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from blueprints.core import registration as reg
from blueprints.core.profile_form import ProfileFormBase
from models import CATALOG_CATEGORIES


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SupplierProfileForm(ProfileFormBase):
    """The supplier profile (REG-2)."""

    name = StringField("供应商名称", [reg.Required("请输入供应商名称（与营业执照一致）"),
                                    Length(max=200, message="名称不能超过 200 个字")])
    uscc = StringField("统一社会信用代码", [reg.Required("请输入统一社会信用代码"), reg.check_uscc("supplier")],
                       filters=[reg.normalise_uscc], description="18 位，见营业执照",
                       render_kw={"autocomplete": "off", "autocapitalize": "characters", "maxlength": "24"})
    in_province = RadioField("注册地", choices=[("1", _l("广东省内")), ("0", _l("广东省外"))], default="1",
                             validate_choice=False)
    city_code = SelectField("所在地市（省内供应商）", validate_choice=False)
    categories = CheckboxesField("提供的服务类别", [reg.Required("请至少选择一类服务"), reg.check_categories],
                                 choices=[(c, _l(c)) for c in CATALOG_CATEGORIES], validate_choice=False)
    endpoints = TextAreaField(
        "云服务地址（每行一个：IP 地址、网段或域名）", [reg.Required("请至少填写一个云服务地址"), reg.check_endpoints],
        description="用于上云行为验证，只比对连接地址，不采集业务数据。例如 203.0.113.10、203.0.113.0/24、cloud.example.cn",
        render_kw={"rows": 4, "autocapitalize": "off", "spellcheck": "false"})
    related_parties = TextAreaField(
        "关联方（每行一个：统一社会信用代码 名称；没有可不填）", [Optional(), reg.check_related],
        description="依《企业会计准则第36号》认定的关联方。未如实披露的将被取消资格。",
        render_kw={"rows": 3, "autocapitalize": "characters"})
    capability_file_id = HiddenField()

    def validate_city_code(self, field):
        if self.in_province.data == "0":
            return
        if not field.data:
            if self.submitting:
                raise ValidationError("省内供应商请选择所在地市")
            return
        reg.check_city(self, field)
