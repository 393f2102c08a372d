"""GET filter of the city's settlement queue and its xlsx export (issue #9)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SearchField, SelectField

from models import Cycle, SetStatus, db

STATUS = [(SetStatus.CITY_REVIEW, "待审核"), ("", "全部（已提交的）"), (SetStatus.SUPPLIER_REVIEW, "供应商确认中"),
          (SetStatus.VERIFICATION, "等待用量核验"), (SetStatus.RETURNED, "已退回"), (SetStatus.APPROVED, "已通过"),
          (SetStatus.REJECTED, "已驳回")]


class SettlementFilter(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField("搜索", render_kw={"placeholder": "企业名称、统一社会信用代码或券号"})
    status = SelectField("状态", choices=STATUS, default=SetStatus.CITY_REVIEW, validate_choice=False)
    cycle = SelectField("批次", coerce=str, validate_choice=False)

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        cycles = db.session.execute(db.select(Cycle.id, Cycle.name).order_by(Cycle.id.desc())).all()
        self.cycle.choices = [("", "全部批次")] + [(str(i), n) for i, n in cycles]

    def values(self) -> dict:
        """settlement_pages.settlement_select's keywords (the city is added by the route)."""
        return dict(status=self.status.data or "", q=(self.q.data or "").strip(),
                    cycle_id=int(self.cycle.data) if (self.cycle.data or "").isdigit() else None)

    def args(self) -> dict:
        out = {"q": self.q.data or None, "status": self.status.data, "cycle": self.cycle.data or None}
        return {k: v for k, v in out.items() if v is not None}
