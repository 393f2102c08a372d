"""What every part of registration shares: the kinds of record (enterprise, supplier, change), their models
and labels, the statuses, the review deadline (SLA-1 / REG-7)."""
from __future__ import annotations

from models import Enterprise, ProfileChange, RegStatus, Supplier


SLA_WORKING_DAYS = 5  # SLA-1 / REG-7
PER_PAGE = 20
R = RegStatus
OPEN_CHANGE = (R.CITY_REVIEW, R.PROVINCE_REVIEW, R.RETURNED)
KIND_MODELS = {"enterprise": Enterprise, "supplier": Supplier, "change": ProfileChange}
ENTITY_TYPES = {"enterprise": "enterprise", "supplier": "supplier", "change": "profile_change"}
KIND_LABELS = {"enterprise": "企业注册", "supplier": "供应商注册", "change": "资料变更"}


def kind_of(obj) -> str:
    return {Enterprise: "enterprise", Supplier: "supplier", ProfileChange: "change"}[type(obj)]


def owner_kind(obj) -> str:
    """'enterprise' or 'supplier' for a profile or a change to one."""
    if isinstance(obj, ProfileChange):
        return "enterprise" if obj.enterprise_id is not None else "supplier"
    return kind_of(obj)
