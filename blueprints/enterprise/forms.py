"""Forms of the enterprise blueprint: the enterprise profile (REG-1)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, HiddenField, RadioField, SelectField, StringField
from wtforms.validators import Length

from blueprints.core import registration as reg
from blueprints.core.profile_form import ProfileFormBase


class EnterpriseProfileForm(ProfileFormBase):
    """The enterprise profile (REG-1)."""

    name = StringField("企业名称", [reg.Required("请输入企业名称（与营业执照一致）"),
                                   Length(max=200, message="名称不能超过 200 个字")])
    uscc = StringField("统一社会信用代码", [reg.Required("请输入统一社会信用代码"), reg.check_uscc("enterprise")],
                       filters=[reg.normalise_uscc], description="18 位，见营业执照；在广东省登记的企业以 9144 等开头",
                       render_kw={"autocomplete": "off", "autocapitalize": "characters", "maxlength": "24"})
    city_code = SelectField("注册地（地级以上市）", [reg.Required("请选择注册地"), reg.check_city], validate_choice=False)
    legal_rep = StringField("法定代表人", [reg.Required("请输入法定代表人姓名"), Length(max=50, message="不能超过 50 个字")])
    established_on = DateField("成立日期", [reg.Required("请输入成立日期"), reg.check_not_future],
                               invalid_value_message="日期格式不正确，请按“年-月-日”填写，如 2015-06-30")
    revenue = StringField("上年度主营业务收入", [reg.Required("请输入上年度主营业务收入"), reg.check_revenue],
                          render_kw={"inputmode": "decimal", "autocomplete": "off"})
    revenue_unit = RadioField("金额单位", choices=[("wan", _l("万元")), ("yuan", _l("元"))], default="wan", validate_choice=False)
    dcmm_certified = BooleanField("已通过两化融合管理体系贯标评定")
    dcmm_subsidy_received = BooleanField("已获得省级两化融合贯标奖补")
    no_violation_declared = BooleanField(
        "本企业声明：近 5 年无严重违反财政专项资金管理规定的行为",
        [reg.MustTick("须作出无违规声明才能提交审核")])
    dcmm_file_id = HiddenField()
