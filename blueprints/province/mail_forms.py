"""GET filter of the province's mail outbox page: a search by recipient address or title, and the status."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SearchField, SelectField

from models import MailStatus

STATUS = [("", _l("发送失败和待发送")), (MailStatus.FAILED.value, _l("发送失败")), (MailStatus.PENDING.value, _l("待发送"))]


class MailFilter(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField("搜索", render_kw={"placeholder": _l("收件地址或邮件标题")})
    status = SelectField("状态", choices=STATUS, validate_choice=False)

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.q.data = (self.q.data or "").strip()[:100]
        if self.status.data not in dict(STATUS):
            self.status.data = ""

    def args(self) -> dict:
        return {k: v for k, v in (("q", self.q.data), ("status", self.status.data)) if v}
