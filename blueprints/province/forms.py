"""Flask-WTF forms of the province blueprint, grouped by issue (each group is owned by its issue)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import (
    DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, StopValidation, ValidationError,
)

from blueprints.core import money
from models import CATALOG_CATEGORIES


# =========================================================================== catalog, cycles,
# targets, quotas, budgets, dashboard settings


class MoneyField(StringField):
    """An amount typed in 元 (or 万元); `.data` is integer fen (AMT-5) or None when left empty."""

    def __init__(self, label=None, validators=None, unit: str = "yuan", **kw):
        kw["render_kw"] = {"inputmode": "decimal", **(kw.get("render_kw") or {})}  # a phone's number pad
        super().__init__(label, validators, **kw)
        self.unit = unit

    def process_formdata(self, valuelist):
        self.data = None
        text = (valuelist[0] if valuelist else "") or ""
        if text.strip():
            try:
                self.data = money.parse_yuan(text, self.unit)
            except money.MoneyError as exc:
                raise ValueError(str(exc)) from exc

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        return money_text(self.data, self.unit)


def money_text(fen: int, unit: str = "yuan") -> str:
    """fen as a plain number for an input: 123456 -> "1234.56" (yuan) or "0.123456" (wan)."""
    value = money.fen_to_decimal(fen)
    if unit == "wan":
        value = value / 10000
    text = format(value.normalize(), "f")
    return text


class _Required:
    """DataRequired for MoneyField (whose data may legitimately be 0)."""

    def __init__(self, message: str):
        self.message = message

    def __call__(self, form, field):
        if field.data is None and not field.errors:
            raise StopValidation(self.message)


CATEGORY_CHOICES = [(c, _l(c)) for c in CATALOG_CATEGORIES]


class CatalogItemForm(FlaskForm):
    """One catalog item (CAT-1), edited inline in a draft."""

    code = StringField("编码", validators=[DataRequired("请填写编码"), Length(max=20, message="编码最多 20 个字符"),
                                         Regexp(r"^[A-Za-z0-9_.-]+$", message="编码只能包含字母、数字、点、下划线和连字符")])
    name = StringField("名称", validators=[DataRequired("请填写名称"), Length(max=200, message="名称最多 200 个字")])
    category = SelectField("类别", choices=CATEGORY_CHOICES, validators=[DataRequired("请选择类别")])
    description = TextAreaField("说明", validators=[Length(max=2000, message="说明最多 2000 个字")])
    cap = MoneyField("补助上限（元）", validators=[_Required("请填写补助上限")])

    def validate_cap(self, field):
        if field.data is not None and field.data <= 0:
            raise ValidationError("补助上限须大于 0")


class CatalogVersionForm(FlaskForm):
    """A draft version's title and cumulative cap per enterprise per cycle (CAT-1)."""

    title = StringField("版本名称", validators=[DataRequired("请填写版本名称"), Length(max=200)])
    cumulative_cap = MoneyField("每家企业每批次累计上限（元）", validators=[_Required("请填写累计上限")])

    def validate_cumulative_cap(self, field):
        if field.data is not None and field.data <= 0:
            raise ValidationError("累计上限须大于 0")


class CatalogImportForm(CatalogVersionForm):
    """Import a new draft from an xlsx file (CAT-2)."""

    file = FileField("目录表格（xlsx）")


class CycleForm(FlaskForm):
    """A cycle and its two deadlines (CYC-1, CYC-2)."""

    name = StringField("批次名称", validators=[DataRequired("请填写批次名称"), Length(max=100)])
    year = IntegerField("年度", validators=[InputRequired("请填写年度"),
                                          NumberRange(2018, 2100, message="年度须在 2018 至 2100 之间")])
    application_deadline = DateField("申领截止日期", validators=[InputRequired("请填写申领截止日期")])
    settlement_deadline = DateField("兑现截止日期", validators=[InputRequired("请填写兑现截止日期")])
    verification_days = IntegerField("上云行为验证所需天数", default=5, validators=[
        InputRequired("请填写验证天数"), NumberRange(1, 90, message="验证天数须在 1 至 90 之间")])
    settlement_review_days = IntegerField("地市兑现审核时限（工作日）", default=10, validators=[
        Optional(), NumberRange(1, 60, message="审核时限须在 1 至 60 个工作日之间")])
    announce = BooleanField("保存后立即在平台公布")
    reason = TextAreaField("变更理由（已公布批次必填，将随公告公示）", validators=[Length(max=1000)])

    def validate_settlement_deadline(self, field):
        if field.data and self.application_deadline.data and field.data <= self.application_deadline.data:
            raise ValidationError("兑现截止日期须晚于申领截止日期")


class TargetForm(FlaskForm):
    """A city's yearly target and issuance quota (CYC-3); amounts in 万元."""

    target_enterprises = IntegerField("目标企业数", validators=[
        InputRequired("请填写目标企业数"), NumberRange(0, 1_000_000, message="目标企业数须为 0 至 1000000")])
    target_amount = MoneyField("目标金额（万元）", unit="wan", validators=[_Required("请填写目标金额")])
    quota = MoneyField("发放额度（万元）", unit="wan", validators=[_Required("请填写发放额度")])
    reason = TextAreaField("调整理由", validators=[DataRequired("请填写调整理由"), Length(max=1000)])

    def validate_target_amount(self, field):
        if field.data is not None and field.data <= 0:
            raise ValidationError("目标金额须大于 0")

    def validate_quota(self, field):
        from blueprints.core.cycles import quota_problem

        target = self.target_amount.data
        if field.data is not None and target:
            problem = quota_problem(target, field.data)
            if problem:
                raise ValidationError(problem)


class BudgetForm(FlaskForm):
    """A city's payout budget and pilot fund for one settlement period (CYC-4); amounts in 万元."""

    general = MoneyField("兑付预算（万元）", unit="wan", validators=[_Required("请填写兑付预算")])
    pilot = MoneyField("试点资金（万元）", unit="wan", validators=[_Required("请填写试点资金（没有则填 0）")])
    reason = TextAreaField("调整理由", validators=[DataRequired("请填写调整理由"), Length(max=1000)])


class SchemeTargetsForm(FlaskForm):
    """The scheme's overall targets shown on the dashboard (CYC-5)."""

    enterprises = IntegerField("上云企业目标数", validators=[
        InputRequired("请填写目标数"), NumberRange(1, 10_000_000, message="目标数须为正整数")])
    suppliers = IntegerField("供应商目标数", validators=[
        InputRequired("请填写目标数"), NumberRange(1, 1_000_000, message="目标数须为正整数")])
    platforms = IntegerField("工业互联网平台目标数", validators=[
        InputRequired("请填写目标数"), NumberRange(1, 1_000_000, message="目标数须为正整数")])
    reason = TextAreaField("调整理由", validators=[DataRequired("请填写调整理由"), Length(max=1000)])


# =========================================================================== end of catalog, cycles, ...
