"""The enterprise's voucher application form (APP-1, APP-8): one column, phone first.

Format is validated here (money, dates, lengths); whether the application may be submitted
(completeness, eligibility, deadline) is decided by blueprints/core/application.py.
"""
from __future__ import annotations

import datetime as dt

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from blueprints.core import money
from blueprints.core.application import DraftData
from blueprints.core.timeutil import today

FILE_ACCEPT = "application/pdf,image/jpeg,image/png"


class ApplicationForm(FlaskForm):
    contract_file = FileField("合同文件（PDF、JPG 或 PNG，10 MB 以内）", render_kw={"accept": FILE_ACCEPT})
    contract_photo = FileField("或直接拍照", render_kw={"accept": "image/jpeg,image/png", "capture": "environment"})
    contract_no = StringField("合同编号", validators=[Optional(), Length(max=64, message="合同编号最多 64 个字符")],
                              render_kw={"autocomplete": "off"})
    contract_signed_on = StringField("合同签订日期", render_kw={"type": "date"})
    contract_fee = StringField("合同所列上云上平台费用（元）",
                               render_kw={"inputmode": "decimal", "autocomplete": "off", "placeholder": _l("例如 150000")})
    catalog_item_id = SelectField("目录服务项", coerce=int, validate_choice=False)
    supplier_id = IntegerField("供应商", validators=[Optional()])  # radios rendered by the search results
    place_in_guangdong = BooleanField("项目实施地点在广东省内")
    single_fund_declared = BooleanField("本企业声明：本项目只申请本项省级专项资金，未以同一项目申请其他财政专项资金")
    related_declared = BooleanField("本企业与所选供应商存在关联关系（按《企业会计准则第36号》）")
    enterprise_fair_price = BooleanField("本企业承诺：合同价格为公允的市场价格")
    nonce = HiddenField()

    fee_fen: int | None = None
    signed_on: dt.date | None = None

    def set_items(self, version) -> None:
        choices = [(0, gettext("请选择目录服务项"))]
        if version is not None:
            choices += [(i.id, gettext("%(code)s %(name)s（%(category)s，上限 %(cap)s）", code=i.code, name=i.name,
                                       category=gettext(i.category), cap=money.yuan(i.cap_fen))) for i in version.items]
        self.catalog_item_id.choices = choices

    def validate_catalog_item_id(self, field) -> None:
        """Only an item of the form's catalog version (the one in force, CAT-3)."""
        if field.data and field.data not in {value for value, _ in (field.choices or [])}:
            raise ValidationError("所选目录服务项不存在或不属于当前生效的目录版本，请重新选择")

    def validate_contract_fee(self, field) -> None:
        self.fee_fen = None
        if (field.data or "").strip():
            try:
                self.fee_fen = money.parse_yuan(field.data, "yuan")
            except money.MoneyError as exc:
                raise ValidationError(str(exc)) from None
            if self.fee_fen <= 0:
                raise ValidationError("费用必须大于 0")

    def validate_contract_signed_on(self, field) -> None:
        self.signed_on = None
        text = (field.data or "").strip()
        if not text:
            return
        try:
            self.signed_on = dt.date.fromisoformat(text)
        except ValueError:
            raise ValidationError("日期格式不正确，请按 年-月-日 填写") from None
        if self.signed_on > today():
            raise ValidationError("签订日期不能晚于今天")

    def data_for_draft(self) -> DraftData:
        return DraftData(
            contract_no=(self.contract_no.data or "").strip(), contract_signed_on=self.signed_on,
            contract_fee_fen=self.fee_fen, catalog_item_id=self.catalog_item_id.data or None,
            supplier_id=self.supplier_id.data or None, place_in_guangdong=bool(self.place_in_guangdong.data),
            single_fund_declared=bool(self.single_fund_declared.data), related_declared=bool(self.related_declared.data),
            enterprise_fair_price=bool(self.enterprise_fair_price.data),
        )

    # Form field -> (DraftData attribute, short name for the "saved / not saved" banner).
    DRAFT_FIELDS = {
        "contract_no": ("contract_no", "合同编号"), "contract_signed_on": ("contract_signed_on", "合同签订日期"),
        "contract_fee": ("contract_fee_fen", "上云上平台费用"), "catalog_item_id": ("catalog_item_id", "目录服务项"),
        "supplier_id": ("supplier_id", "供应商"),
    }
    DECLARATIONS = ("place_in_guangdong", "single_fund_declared", "related_declared", "enterprise_fair_price")

    def draft_keeping(self, a) -> tuple[DraftData, list[str], list[str]]:
        """What a save stores: each well-formed field as typed, and for a field with an error the value
        already stored (the typed text is shown again beside its error). Returns (data, short names
        of the fields saved with a value, short names of the fields not saved)."""
        data = self.data_for_draft()
        saved, refused = [], []
        for name, (attr, label) in self.DRAFT_FIELDS.items():
            if self[name].errors:
                setattr(data, attr, getattr(a, attr))
                refused.append(label)
            elif getattr(data, attr):
                saved.append(label)
        if any(getattr(data, name) for name in self.DECLARATIONS):
            saved.append("勾选的声明与承诺")
        return data, saved, refused

    def fill_from(self, a) -> None:
        """Pre-fill a GET form from the stored draft."""
        self.contract_no.data = a.contract_no
        self.contract_signed_on.data = a.contract_signed_on.isoformat() if a.contract_signed_on else ""
        self.contract_fee.data = money.yuan(a.contract_fee_fen).lstrip("¥").replace(",", "") if a.contract_fee_fen else ""
        self.fee_fen, self.signed_on = a.contract_fee_fen, a.contract_signed_on
        self.catalog_item_id.data = a.catalog_item_id or 0
        self.supplier_id.data = a.supplier_id
        self.place_in_guangdong.data = a.place_in_guangdong
        self.single_fund_declared.data = a.single_fund_declared
        self.related_declared.data = a.related_declared
        self.enterprise_fair_price.data = a.enterprise_fair_price
