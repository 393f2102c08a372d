"""GET filters of the supplier's application queue and customer list."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SearchField, SelectField

from models import AppStatus

STATUS_CHOICES = [("", "全部状态"), (AppStatus.SUPPLIER_REVIEW, "待确认"), (AppStatus.CITY_REVIEW, "地市审核中"),
                  (AppStatus.RETURNED, "已退回"), (AppStatus.APPROVED, "已发券"), (AppStatus.REJECTED, "已驳回"),
                  (AppStatus.WITHDRAWN, "已撤回")]


class QueueFilter(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField("搜索", render_kw={"placeholder": "企业名称或合同编号"})
    status = SelectField("状态", choices=STATUS_CHOICES, validate_choice=False)

    def args(self) -> dict:
        return {k: v for k, v in (("q", self.q.data), ("status", self.status.data)) if v}
