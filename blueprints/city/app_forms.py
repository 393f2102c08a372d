"""GET filters of the city's application queue and voucher list."""
from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SearchField, SelectField, StringField

from models import AppStatus, Cycle, VoucherStatus, db

QUEUE_STATUS = [(AppStatus.CITY_REVIEW, _l("待审核")), ("", _l("全部（已提交地市的）")), (AppStatus.APPROVED, _l("已通过")),
                (AppStatus.RETURNED, _l("已退回")), (AppStatus.REJECTED, _l("已驳回")), (AppStatus.WITHDRAWN, _l("已撤回"))]
VOUCHER_STATUS = [("", _l("全部状态")), (VoucherStatus.ISSUED, _l("已发放")), (VoucherStatus.VOID, _l("已作废"))]


class QueueFilter(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField("搜索", render_kw={"placeholder": _l("企业名称、统一社会信用代码或合同编号")})
    status = SelectField("状态", choices=QUEUE_STATUS, default=AppStatus.CITY_REVIEW, validate_choice=False)
    overdue = BooleanField("只看超期")

    def args(self) -> dict:
        out = {"q": self.q.data or None, "status": self.status.data, "overdue": "y" if self.overdue.data else None}
        return {k: v for k, v in out.items() if v is not None}


class VoucherFilter(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField("搜索", render_kw={"placeholder": _l("券号、企业或供应商名称")})
    cycle = SelectField("批次", coerce=str, validate_choice=False)
    status = SelectField("状态", choices=VOUCHER_STATUS, validate_choice=False)
    pilot = BooleanField("只看试点")
    issued_from = StringField("发放日期从", render_kw={"type": "date"})
    issued_to = StringField("至", render_kw={"type": "date"})

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        cycles = db.session.execute(db.select(Cycle.id, Cycle.name).order_by(Cycle.id.desc())).all()
        self.cycle.choices = [("", _l("全部批次"))] + [(str(i), n) for i, n in cycles]

    def date(self, name: str) -> dt.date | None:
        try:
            return dt.date.fromisoformat((getattr(self, name).data or "").strip())
        except ValueError:
            return None

    def args(self) -> dict:
        out = {"q": self.q.data, "cycle": self.cycle.data, "status": self.status.data,
               "pilot": "y" if self.pilot.data else None,
               "issued_from": self.issued_from.data, "issued_to": self.issued_to.data}
        return {k: v for k, v in out.items() if v}
