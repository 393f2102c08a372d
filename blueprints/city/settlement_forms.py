"""GET filter of the city's settlement queue and its xlsx export."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SearchField, SelectField

from models import Cycle, SetStatus, db

STATUS = [(SetStatus.CITY_REVIEW, _l("待审核")), ("", _l("全部（已提交的）")), (SetStatus.SUPPLIER_REVIEW, _l("供应商确认中")),
          (SetStatus.VERIFICATION, _l("等待用量核验")), (SetStatus.RETURNED, _l("已退回")), (SetStatus.APPROVED, _l("已通过")),
          (SetStatus.REJECTED, _l("已驳回"))]


class SettlementFilter(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField("搜索", render_kw={"placeholder": _l("企业名称、统一社会信用代码或券号")})
    status = SelectField("状态", choices=STATUS, default=SetStatus.CITY_REVIEW, validate_choice=False)
    cycle = SelectField("批次", coerce=str, validate_choice=False)

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        cycles = db.session.execute(db.select(Cycle.id, Cycle.name).order_by(Cycle.id.desc())).all()
        self.cycle.choices = [("", _l("全部批次"))] + [(str(i), n) for i, n in cycles]

    def values(self) -> dict:
        """settlement_pages.settlement_select's keywords (the city is added by the route)."""
        return dict(status=self.status.data or "", q=(self.q.data or "").strip(),
                    cycle_id=int(self.cycle.data) if (self.cycle.data or "").isdigit() else None)

    def args(self) -> dict:
        out = {"q": self.q.data or None, "status": self.status.data, "cycle": self.cycle.data or None}
        return {k: v for k, v in out.items() if v is not None}
