"""GET filters of the province's read-only application and voucher overview."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SearchField, SelectField

from blueprints.city.app_forms import VoucherFilter
from models import AppStatus, City, db

STATUS = [("", _l("全部状态")), (AppStatus.SUPPLIER_REVIEW, _l("供应商确认中")), (AppStatus.CITY_REVIEW, _l("地市审核中")),
          (AppStatus.RETURNED, _l("已退回")), (AppStatus.APPROVED, _l("已通过")), (AppStatus.REJECTED, _l("已驳回")),
          (AppStatus.WITHDRAWN, _l("已撤回"))]


def _city_choices() -> list[tuple[str, str]]:
    rows = db.session.execute(db.select(City.code, City.name).order_by(City.position)).all()
    return [("", _l("全部地市"))] + [(c, n) for c, n in rows]


class ApplicationFilter(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField("搜索", render_kw={"placeholder": _l("企业名称或合同编号")})
    city = SelectField("地市", validate_choice=False)
    status = SelectField("状态", choices=STATUS, validate_choice=False)

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.city.choices = _city_choices()

    def args(self) -> dict:
        return {k: v for k, v in (("q", self.q.data), ("city", self.city.data), ("status", self.status.data)) if v}


class ProvinceVoucherFilter(VoucherFilter):
    city = SelectField("地市", validate_choice=False)

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.city.choices = _city_choices()

    def args(self) -> dict:
        out = super().args()
        if self.city.data:
            out["city"] = self.city.data
        return out
