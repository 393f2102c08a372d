"""GET filter of the province's fraud-signal list."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField

from blueprints.province.app_forms import _city_choices

KINDS = [("application", _l("申领")), ("settlement", _l("兑现申请"))]


class SignalFilter(FlaskForm):
    class Meta:
        csrf = False

    kind = SelectField("类别", choices=KINDS, default="application", validate_choice=False)
    city = SelectField("地市", validate_choice=False)

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.city.choices = _city_choices()
        if self.kind.data not in dict(KINDS):
            self.kind.data = "application"

    def args(self) -> dict:
        out = {"kind": self.kind.data, "city": self.city.data or None}
        return {k: v for k, v in out.items() if v}
