"""GET filters of the supplier's application queue and customer list."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SearchField, SelectField

from models import AppStatus

STATUS_CHOICES = [("", _l("全部状态")), (AppStatus.SUPPLIER_REVIEW, _l("待确认")), (AppStatus.CITY_REVIEW, _l("地市审核中")),
                  (AppStatus.RETURNED, _l("已退回")), (AppStatus.APPROVED, _l("已发券")), (AppStatus.REJECTED, _l("已驳回")),
                  (AppStatus.WITHDRAWN, _l("已撤回"))]


class QueueFilter(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField("搜索", render_kw={"placeholder": _l("企业名称或合同编号")})
    status = SelectField("状态", choices=STATUS_CHOICES, validate_choice=False)

    def args(self) -> dict:
        return {k: v for k, v in (("q", self.q.data), ("status", self.status.data)) if v}
