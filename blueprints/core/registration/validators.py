"""The WTForms validators of the profile forms (REG-1, REG-8) and their choices and patterns."""
from __future__ import annotations

from wtforms.validators import StopValidation, ValidationError

from blueprints.core import timeutil
from blueprints.core.money import MoneyError, parse_yuan
from blueprints.core.registration import checks
from blueprints.core.registration.checks import (
    duplicate_message, normalise_uscc, parse_endpoints, parse_related_parties, uscc_problem,
)
from models import CATALOG_CATEGORIES, City, Enterprise, Supplier, db


# --------------------------------------------------------------------------- form validators


def _empty(field) -> bool:
    if field.raw_data is None:
        return field.data in (None, "", [], False)
    return not any(v.strip() for v in field.raw_data if isinstance(v, str))


class Required:
    """Required when the form is submitted for review (form.submitting); a draft may leave it empty."""

    def __init__(self, message: str):
        self.message = message

    def __call__(self, form, field):
        if not _empty(field):
            return
        field.errors[:] = []
        raise StopValidation(self.message if getattr(form, "submitting", True) else "")


class MustTick:
    def __init__(self, message: str):
        self.message = message

    def __call__(self, form, field):
        if getattr(form, "submitting", True) and not field.data:
            raise ValidationError(self.message)


def check_uscc(kind: str):
    model = Enterprise if kind == "enterprise" else Supplier

    def validator(form, field):
        value = field.data
        problem = uscc_problem(value)
        if problem:
            raise ValidationError(problem)
        if kind == "enterprise" and value[2:4] != "44":
            # ELIG-1: the code's registration authority (characters 3-8) is in Guangdong (44xxxx).
            raise ValidationError("该代码的登记机关不在广东省（第 3、4 位应为 44），本平台只受理在广东省登记的企业")
        owner = getattr(form, "owner", None)
        if checks.uscc_taken(model, value, owner.id if owner is not None else None):
            raise ValidationError(duplicate_message(kind))

    return validator


def check_city(form, field):
    if field.data and db.session.get(City, field.data) is None:
        raise ValidationError("请从列表中选择广东省的地级以上市")


def check_not_future(form, field):
    if field.data and field.data > timeutil.today():
        raise ValidationError("日期不能晚于今天")


def check_revenue(form, field):
    unit = "yuan" if form.revenue_unit.data == "yuan" else "wan"
    try:
        parse_yuan(field.data, unit)
    except MoneyError as exc:
        raise ValidationError(str(exc)) from None


def check_endpoints(form, field):
    try:
        parse_endpoints(field.data)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def check_related(form, field):
    own = normalise_uscc(form.uscc.data) or None
    try:
        parse_related_parties(field.data, own)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def check_categories(form, field):
    bad = [c for c in field.data or [] if c not in CATALOG_CATEGORIES]
    if bad:
        raise ValidationError("请从列表中选择服务类别")


def city_choices() -> list[tuple[str, str]]:
    rows = db.session.execute(db.select(City.code, City.name).order_by(City.position)).all()
    from flask_babel import gettext

    return [("", gettext("请选择地市"))] + [(c, n) for c, n in rows]


PHONE_RE = r"^(1\d{10}|0\d{2,3}-?\d{7,8})$"
PHONE_MESSAGE = "请输入手机号或带区号的固定电话，如 13800138000 或 020-12345678"
EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
