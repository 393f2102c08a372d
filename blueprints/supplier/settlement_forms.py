"""GET filter of the supplier's settlement queue (issue #9)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SearchField, SelectField

from models import SetStatus

STATUS_CHOICES = [("", "全部状态"), (SetStatus.SUPPLIER_REVIEW, "待确认"), (SetStatus.VERIFICATION, "等待用量核验"),
                  (SetStatus.CITY_REVIEW, "地市审核中"), (SetStatus.RETURNED, "已退回"), (SetStatus.APPROVED, "已通过"),
                  (SetStatus.REJECTED, "已驳回")]


class SettlementFilter(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField("搜索", render_kw={"placeholder": "企业名称或服务券券号"})
    status = SelectField("状态", choices=STATUS_CHOICES, validate_choice=False)

    def args(self) -> dict:
        return {k: v for k, v in (("q", self.q.data), ("status", self.status.data)) if v}
