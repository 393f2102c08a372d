"""GET filter of the province's settlement list."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SearchField, SelectField

from blueprints.province.app_forms import _city_choices
from models import SetStatus

STATUS = [(SetStatus.VERIFICATION, _l("等待用量核验")), ("", _l("全部（已提交的）")), (SetStatus.SUPPLIER_REVIEW, _l("供应商确认中")),
          (SetStatus.CITY_REVIEW, _l("地市审核中")), (SetStatus.RETURNED, _l("已退回")), (SetStatus.APPROVED, _l("已通过")),
          (SetStatus.REJECTED, _l("已驳回"))]


class SettlementFilter(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField("搜索", render_kw={"placeholder": _l("企业名称、统一社会信用代码或券号")})
    city = SelectField("地市", validate_choice=False)
    status = SelectField("状态", choices=STATUS, default=SetStatus.VERIFICATION, validate_choice=False)

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.city.choices = _city_choices()

    def values(self) -> dict:
        return dict(city_code=self.city.data or None, status=self.status.data or "", q=(self.q.data or "").strip())

    def args(self) -> dict:
        out = {"q": self.q.data or None, "city": self.city.data or None, "status": self.status.data}
        return {k: v for k, v in out.items() if v is not None}
