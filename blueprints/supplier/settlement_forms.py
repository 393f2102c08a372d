"""GET filter of the supplier's settlement queue."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SearchField, SelectField

from models import SetStatus

STATUS_CHOICES = [("", _l("全部状态")), (SetStatus.SUPPLIER_REVIEW, _l("待确认")), (SetStatus.VERIFICATION, _l("等待用量核验")),
                  (SetStatus.CITY_REVIEW, _l("地市审核中")), (SetStatus.RETURNED, _l("已退回")), (SetStatus.APPROVED, _l("已通过")),
                  (SetStatus.REJECTED, _l("已驳回"))]


class SettlementFilter(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField("搜索", render_kw={"placeholder": _l("企业名称或服务券券号")})
    status = SelectField("状态", choices=STATUS_CHOICES, validate_choice=False)

    def args(self) -> dict:
        return {k: v for k, v in (("q", self.q.data), ("status", self.status.data)) if v}
