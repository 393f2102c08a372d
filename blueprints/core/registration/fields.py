"""The profile's fields: reason fields, labels, the documents (DOC-3), and how a value is shown to a reviewer."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from blueprints.core.money import yuan
from models import City, db


# --------------------------------------------------------------------------- field metadata

# Keys are the form's field names, so a returned reason is shown next to its field (REG-5).
REASON_FIELDS = {
    "enterprise": [
        ("name", "企业名称"), ("uscc", "统一社会信用代码"), ("city_code", "注册地"), ("legal_rep", "法定代表人"),
        ("established_on", "成立日期"), ("revenue", "上年度主营业务收入"), ("contact_name", "联系人及联系方式"),
        ("dcmm_certified", "两化融合贯标情况"), ("no_violation_declared", "无违规声明"), ("licence", "营业执照"),
        ("dcmm_file", "贯标评定证书"), ("other", "其他（含缺少的材料）"),
    ],
    "supplier": [
        ("name", "供应商名称"), ("uscc", "统一社会信用代码"), ("in_province", "省内/省外及所在地市"),
        ("categories", "服务类别"), ("endpoints", "云服务地址"), ("related_parties", "关联方"),
        ("contact_name", "联系人及联系方式"), ("licence", "营业执照"), ("capability_file", "服务能力说明材料"),
        ("other", "其他（含缺少的材料）"),
    ],
}

# Model attributes as shown in facts and change diffs.
ATTR_LABELS = {
    "name": "名称", "uscc": "统一社会信用代码", "city_code": "所在地市", "legal_rep": "法定代表人",
    "established_on": "成立日期", "revenue_fen": "上年度主营业务收入", "dcmm_certified": "已通过两化融合贯标",
    "dcmm_subsidy_received": "已获省级贯标奖补", "no_violation_declared": "近 5 年无严重违规声明",
    "licence_file_id": "营业执照", "dcmm_file_id": "贯标评定证书", "capability_file_id": "服务能力说明材料",
    "in_province": "广东省内", "categories": "服务类别", "endpoints": "云服务地址",
    "contact_name": "联系人", "contact_phone": "联系电话", "contact_email": "电子邮箱",
}
FILE_ATTRS = ("licence_file_id", "dcmm_file_id", "capability_file_id")
# After approval these change at once (audited); every other fact goes through a ProfileChange.
IMMEDIATE_ATTRS = {"contact_name", "contact_phone", "contact_email", "related_parties"}


@dataclass(frozen=True)
class Doc:
    """An uploaded document of a profile: form input name, model attribute, label."""

    name: str
    attr: str
    label: str
    kind: str
    required: bool = True
    required_when: str = ""  # name of a boolean form field that makes it required


DOCS = {
    "enterprise": (
        Doc("licence", "licence_file_id", "营业执照", "business_licence"),
        Doc("dcmm_file", "dcmm_file_id", "两化融合贯标评定证书", "dcmm_certificate", required=False,
            required_when="dcmm_certified"),
    ),
    "supplier": (
        Doc("licence", "licence_file_id", "营业执照", "business_licence"),
        Doc("capability_file", "capability_file_id", "服务能力说明材料（案例、资质等）", "capability_statement"),
    ),
}

ACTION_LABELS = {
    "submit": "提交审核", "approve": "审核通过", "return": "退回修改", "reject": "驳回", "edit": "保存资料",
    "contact_edit": "修改联系方式", "related_edit": "更新关联方", "expert_review": "专家评分",
    "change_submit": "提交资料变更", "change_applied": "资料变更生效", "withdraw": "撤回",
}


def display(attr: str, value) -> str:
    if value is None or value == "":
        return "—"
    if attr == "revenue_fen":
        return yuan(value)
    if attr == "city_code":
        return city_names().get(value, value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (list, tuple)):
        return "、".join(str(v) for v in value) or "—"
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    return str(value)


def city_names() -> dict[str, str]:
    return dict(db.session.execute(db.select(City.code, City.name)).all())
