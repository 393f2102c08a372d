"""Registration and review of enterprises and suppliers (REG-1..9, SLA-1, SLA-4, SLA-5, DOC-3).

What this module owns:
- checks shared by the profile forms: USCC (GB 32100-2015 check digit via python-stdnum) and
  its uniqueness (REG-8), cloud endpoints (IP, CIDR or domain), related parties, revenue in 元/万元;
- the profile life cycle: draft saves, uploads that survive a form with errors, submission
  with its working-day deadline (SLA-1), decisions (approve / return with every reason at
  once / reject: REG-3..6), and changes to an approved profile (ProfileChange, REG-9);
- reviewer queues (own city only, overdue first: SLA-5), bulk approve with a per-item result,
  expert scores (REG-4), the province directory with its xlsx export, the public supplier list;
- the working-day calendar overrides the province edits (SLA-4).
Routes stay thin: they parse the request, call one function here and choose the response.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass, field as dc_field
from decimal import Decimal

from flask import url_for
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import InvalidChecksum, InvalidLength
from stdnum.exceptions import ValidationError as StdnumError
from wtforms.validators import StopValidation, ValidationError

from blueprints.core import audit, notices, timeutil, uploads, workflow
from blueprints.core.access import can_see
from blueprints.core.money import MoneyError, parse_yuan, yuan
from blueprints.core.paging import Page
from models import (
    CATALOG_CATEGORIES, AuditEvent, CalendarDay, City, Enterprise, ExpertReview, ProfileChange, RegStatus,
    RelatedParty, Role, StoredFile, Supplier, db,
)

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


# --------------------------------------------------------------------------- checks


def normalise_uscc(value):
    if value is None:
        return None
    return re.sub(r"[\s\-]", "", str(value)).upper()


def uscc_problem(value: str | None) -> str | None:
    """Why a USCC is not valid (GB 32100-2015), in Chinese; None when it is."""
    if not value:
        return "请输入统一社会信用代码"
    if len(value) != 18:
        return f"统一社会信用代码应为 18 位（现在是 {len(value)} 位）"
    try:
        stdnum_uscc.validate(value)
    except InvalidChecksum:
        return "统一社会信用代码校验位不正确，请对照营业执照逐位核对"
    except InvalidLength:
        return "统一社会信用代码应为 18 位"
    except StdnumError:
        return "统一社会信用代码格式不正确（由数字和大写字母组成，不含 I、O、Z、S、V）"
    return None


def uscc_taken(model, value: str, own_id: int | None) -> bool:
    """REG-8: another profile of the same kind holds it, or an open change proposes it."""
    q = db.select(model.id).where(model.uscc == value)
    if own_id is not None:
        q = q.where(model.id != own_id)
    if db.session.execute(q.limit(1)).first():
        return True
    col = ProfileChange.enterprise_id if model is Enterprise else ProfileChange.supplier_id
    q = db.select(ProfileChange.proposed).where(col.is_not(None), ProfileChange.status.in_(OPEN_CHANGE))
    if own_id is not None:
        q = q.where(col != own_id)
    return any((p or {}).get("uscc") == value for p in db.session.execute(q).scalars())


def duplicate_message(kind: str) -> str:
    what = "工业企业" if kind == "enterprise" else "供应商"
    return (f"该统一社会信用代码已注册为{what}账号（一个代码只能注册一个{what}账号）。"
            "如属本单位，请用原账号登录，或联系所在地市经信部门。")


_DOMAIN = re.compile(
    r"^(\*\.)?(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$"
)
MAX_ENDPOINTS = 50


def _special(addr) -> bool:
    return addr.is_loopback or addr.is_multicast or addr.is_unspecified or addr.is_link_local or addr.is_reserved


def parse_endpoint(text: str) -> str:
    """One cloud-side endpoint: an IP address, a CIDR range or a domain name (normalised)."""
    t = text.strip().lower().rstrip(".")
    if "/" in t:
        try:
            net = ipaddress.ip_network(t, strict=True)
        except ValueError:
            raise ValueError("网段写法不正确（主机位应为 0，例如 203.0.113.0/24）") from None
        if net.prefixlen < (16 if net.version == 4 else 32):
            raise ValueError("网段过大（IPv4 至少 /16，IPv6 至少 /32）")
        if _special(net):
            raise ValueError("不能使用本机、组播或保留地址段")
        return str(net)
    try:
        ip = ipaddress.ip_address(t)
    except ValueError:
        ip = None
    if ip is not None:
        if _special(ip):
            raise ValueError("不能使用本机、组播或保留地址")
        return str(ip)
    if re.fullmatch(r"[\d.]+", t):
        raise ValueError("IP 地址不正确")
    try:
        ascii_name = t.encode("idna").decode("ascii") if not t.isascii() else t
    except UnicodeError:
        ascii_name = t
    if _DOMAIN.match(ascii_name):
        return ascii_name
    raise ValueError("不是有效的 IP 地址、网段（CIDR）或域名")


def parse_endpoints(text: str) -> list[str]:
    items = [x for x in re.split(r"[\s,，;；、]+", text or "") if x]
    out: list[str] = []
    for raw in items:
        try:
            value = parse_endpoint(raw)
        except ValueError as exc:
            raise ValueError(f"“{raw[:60]}”：{exc}") from None
        if value not in out:
            out.append(value)
    if len(out) > MAX_ENDPOINTS:
        raise ValueError(f"最多填写 {MAX_ENDPOINTS} 个地址")
    return out


def parse_related_parties(text: str, own_uscc: str | None = None) -> list[tuple[str, str]]:
    """Lines of "统一社会信用代码 名称" -> [(uscc, name)]; errors name the line."""
    out: list[tuple[str, str]] = []
    for i, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        parts = re.split(r"[\s,，\t]+", line, maxsplit=1)
        code = normalise_uscc(parts[0])
        name = parts[1].strip() if len(parts) > 1 else ""
        problem = uscc_problem(code)
        if problem:
            raise ValueError(f"第 {i} 行：{problem}")
        if not name:
            raise ValueError(f"第 {i} 行：请在代码后写上关联方名称")
        if own_uscc and code == own_uscc:
            raise ValueError(f"第 {i} 行：不能把本单位列为关联方")
        if any(code == c for c, _ in out):
            raise ValueError(f"第 {i} 行：关联方 {code} 重复")
        out.append((code, name[:200]))
    if len(out) > 200:
        raise ValueError("关联方最多 200 个")
    return out


def related_text(parties) -> str:
    return "\n".join(f"{p.uscc} {p.name}" for p in parties)


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
        if uscc_taken(model, value, owner.id if owner is not None else None):
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
    return [("", "请选择地市")] + [(c, n) for c, n in rows]


PHONE_RE = r"^(1\d{10}|0\d{2,3}-?\d{7,8})$"
PHONE_MESSAGE = "请输入手机号或带区号的固定电话，如 13800138000 或 020-12345678"
EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


# --------------------------------------------------------------------------- form <-> model


def _plain(d: Decimal) -> str:
    return format(d.normalize(), "f")


def enterprise_initial(e: Enterprise, proposed: dict | None = None) -> dict:
    values = {a: getattr(e, a) for a in (
        "name", "uscc", "city_code", "legal_rep", "established_on", "revenue_fen", "contact_name",
        "contact_phone", "contact_email", "dcmm_certified", "dcmm_subsidy_received", "no_violation_declared")}
    values.update(_files_as_text(_decode(proposed or {})))
    fen = values.pop("revenue_fen")
    values["revenue"] = _plain(Decimal(fen) / 1_000_000) if fen is not None else ""
    values["revenue_unit"] = "wan"
    return values


def supplier_initial(s: Supplier, proposed: dict | None = None) -> dict:
    values = {a: getattr(s, a) for a in (
        "name", "uscc", "in_province", "city_code", "categories", "endpoints", "contact_name", "contact_phone",
        "contact_email")}
    values.update(_files_as_text(_decode(proposed or {})))
    values["in_province"] = "1" if values["in_province"] else "0"
    values["endpoints"] = "\n".join(values["endpoints"] or [])
    values["categories"] = list(values["categories"] or [])
    values["related_parties"] = related_text(s.related_parties)
    return values


def _files_as_text(values: dict) -> dict:
    """A returned change's proposed files go back into the form's hidden fields (as text)."""
    return {k: (str(v) if k in FILE_ATTRS else v) for k, v in values.items()}


def _text(v) -> str:
    return (v or "").strip()


def enterprise_values(form) -> dict:
    revenue = _text(form.revenue.data)
    unit = "yuan" if form.revenue_unit.data == "yuan" else "wan"
    return {
        "name": _text(form.name.data), "uscc": form.uscc.data or None, "city_code": form.city_code.data or None,
        "legal_rep": _text(form.legal_rep.data), "established_on": form.established_on.data,
        "revenue_fen": parse_yuan(revenue, unit) if revenue else None,
        "contact_name": _text(form.contact_name.data), "contact_phone": _text(form.contact_phone.data),
        "contact_email": _text(form.contact_email.data), "dcmm_certified": bool(form.dcmm_certified.data),
        "dcmm_subsidy_received": bool(form.dcmm_subsidy_received.data),
        "no_violation_declared": bool(form.no_violation_declared.data),
    }


def supplier_values(form) -> dict:
    in_province = form.in_province.data != "0"
    uscc = form.uscc.data or None
    return {
        "name": _text(form.name.data), "uscc": uscc, "in_province": in_province,
        "city_code": (form.city_code.data or None) if in_province else None,
        "categories": [c for c in CATALOG_CATEGORIES if c in (form.categories.data or [])],
        "endpoints": parse_endpoints(form.endpoints.data or ""),
        "related_parties": parse_related_parties(form.related_parties.data or "", uscc),
        "contact_name": _text(form.contact_name.data), "contact_phone": _text(form.contact_phone.data),
        "contact_email": _text(form.contact_email.data),
    }


def _encode(values: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in values.items()}


def _decode(values: dict) -> dict:
    out = dict(values)
    if isinstance(out.get("established_on"), str):
        out["established_on"] = dt.date.fromisoformat(out["established_on"])
    return out


# --------------------------------------------------------------------------- uploads


def docs_for(kind: str) -> tuple[Doc, ...]:
    return DOCS[kind]


def take_uploads(form, kind: str, owner, files, user) -> dict[str, str]:
    """Store every valid uploaded document now, so a form sent back with errors loses none.

    A stored file's id travels in the form's hidden field `<attr>` until the profile is
    saved; an id that is not this user's pending upload for this owner is dropped.
    Returns {input name: Chinese error} for refused files (DOC-3: checked by content).
    """
    errors: dict[str, str] = {}
    for d in docs_for(kind):
        hidden = form[d.attr]
        storage = next((f for f in (files.get(d.name), files.get(d.name + "_photo")) if f and f.filename), None)
        if storage is not None:
            try:
                stored = uploads.save_upload(storage, kind=d.kind, owner_type=kind, owner_id=owner.id, user_id=user.id)
                hidden.data = str(stored.id)
                continue
            except uploads.UploadError as exc:
                errors[d.name] = f"{d.label}：{exc}"
        if hidden.data and _pending_file(hidden.data, kind, owner, d, user) is None:
            hidden.data = ""
    return errors


def _pending_file(raw, kind: str, owner, d: Doc, user) -> StoredFile | None:
    try:
        f = db.session.get(StoredFile, int(raw))
    except (TypeError, ValueError):
        return None
    if f is None or f.owner_type != kind or f.owner_id != owner.id or f.kind != d.kind or f.uploaded_by != user.id:
        return None
    return f


def missing_docs(form, kind: str, owner) -> dict[str, str]:
    errors = {}
    for d in docs_for(kind):
        needed = d.required or (d.required_when and bool(form[d.required_when].data))
        if needed and not form[d.attr].data and not getattr(owner, d.attr):
            errors[d.name] = f"请上传{d.label}"
    return errors


def new_file_values(form, kind: str) -> dict:
    return {d.attr: int(form[d.attr].data) for d in docs_for(kind) if form[d.attr].data}


def docs_context(kind: str, owner, form, errors: dict) -> list[dict]:
    """What the form shows for each document: the file in force, a pending upload (or the file a
    returned change proposes, which travels the same way), its error."""
    ids = {getattr(owner, d.attr) for d in docs_for(kind)} | {
        int(form[d.attr].data) for d in docs_for(kind) if (form[d.attr].data or "").isdigit()}
    found = files_by_id(ids)
    out = []
    for d in docs_for(kind):
        pending = (form[d.attr].data or "")
        out.append({
            "doc": d, "current": found.get(getattr(owner, d.attr)),
            "pending": found.get(int(pending)) if pending.isdigit() else None, "error": errors.get(d.name),
        })
    return out


def files_by_id(ids) -> dict[int, StoredFile]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {f.id: f for f in db.session.execute(db.select(StoredFile).where(StoredFile.id.in_(ids))).scalars()}


# --------------------------------------------------------------------------- life cycle


def edit_mode(owner) -> str | None:
    """'draft' while the registration may be edited, 'change' after approval, None meanwhile."""
    if owner.status in (R.DRAFT, R.RETURNED):
        return "draft"
    if owner.status == R.APPROVED:
        change = open_change(owner)
        return "change" if change is None or change.status == R.RETURNED else None
    return None


def not_editable_message(owner) -> str:
    if owner.status == R.REJECTED:
        return "注册申请已被驳回（最终决定），资料不能再修改"
    if owner.status == R.APPROVED:
        return "资料变更正在审核中，请等待结果或先撤回变更"
    return "资料正在审核中，暂不能修改"


def open_change(owner) -> ProfileChange | None:
    col = ProfileChange.enterprise_id if isinstance(owner, Enterprise) else ProfileChange.supplier_id
    return db.session.execute(
        db.select(ProfileChange).where(col == owner.id, ProfileChange.status.in_(OPEN_CHANGE))
        .order_by(ProfileChange.id.desc()).limit(1)
    ).scalar_one_or_none()


def _set_related(s: Supplier, parties: list[tuple[str, str]]) -> bool:
    before = [(p.uscc, p.name) for p in s.related_parties]
    if before == list(parties):
        return False
    s.related_parties.clear()
    db.session.flush()
    for code, name in parties:
        s.related_parties.append(RelatedParty(uscc=code, name=name))
    return True


def _assign(owner, values: dict) -> list[str]:
    changed = []
    for attr, value in values.items():
        if attr == "related_parties":
            if _set_related(owner, value):
                changed.append(attr)
        elif getattr(owner, attr) != value:
            setattr(owner, attr, value)
            changed.append(attr)
    return changed


def save_profile(owner, values: dict, user) -> list[str]:
    """Save a draft or returned registration as entered (validated first); audited."""
    changed = _assign(owner, values)
    if changed:
        db.session.flush()
        audit.record(kind_of(owner), owner.id, "edit", actor=user, data={"fields": changed})
    return changed


def completeness(owner) -> list[str]:
    """What a registration still lacks before it can be submitted (a second line behind the form)."""
    kind = kind_of(owner)
    problems = []
    if not owner.name:
        problems.append("名称")
    if uscc_problem(owner.uscc):
        problems.append("统一社会信用代码")
    if kind == "enterprise":
        for attr, label in (("city_code", "注册地"), ("legal_rep", "法定代表人"), ("established_on", "成立日期"),
                            ("revenue_fen", "上年度主营业务收入"), ("contact_name", "联系人"),
                            ("contact_phone", "联系电话")):
            if getattr(owner, attr) in (None, ""):
                problems.append(label)
        if not owner.no_violation_declared:
            problems.append("无违规声明")
    else:
        if owner.in_province and not owner.city_code:
            problems.append("所在地市")
        for attr, label in (("categories", "服务类别"), ("endpoints", "云服务地址"), ("contact_name", "联系人"),
                            ("contact_phone", "联系电话")):
            if not getattr(owner, attr):
                problems.append(label)
    for d in docs_for(kind):
        needed = d.required or (d.required_when and getattr(owner, d.required_when))
        if needed and not getattr(owner, d.attr):
            problems.append(d.label)
    return problems


def _due() -> dt.date:
    return timeutil.add_working_days(timeutil.today(), SLA_WORKING_DAYS)


def submit(owner, user) -> None:
    """Submit (or resubmit) a registration: deadline 5 working days (SLA-1), reviewers told."""
    missing = completeness(owner)
    if missing:
        raise workflow.NotAllowed("资料不完整，请补充：" + "、".join(missing))
    workflow.apply(owner, "submit", user)
    owner.submitted_at = timeutil.now()
    owner.due_on = _due()
    owner.return_reasons = []
    if isinstance(owner, Supplier):
        owner.review_round = (owner.review_round or 0) + 1
    _tell_reviewers(owner, f"新的{KIND_LABELS[kind_of(owner)]}待审核：{owner.name}")


def _tell_reviewers(obj, title: str) -> None:
    city = obj.city_code if not isinstance(obj, Supplier) or obj.in_province else None
    if obj.status == R.CITY_REVIEW and city:
        notices.notify_org(city_code=city, title=title,
                           link=url_for("city.registration_detail", kind=kind_of(obj), ident=obj.id))


@dataclass
class Outcome:
    ok: bool
    errors: dict = dc_field(default_factory=dict)
    message: str = ""


def handle_profile_post(kind: str, owner, form, files, user, op: str) -> Outcome:
    """One POST of a profile form: op 'save' (draft), 'submit', or 'change' (after approval).

    Valid uploads are kept whatever happens; nothing else is saved unless the whole form
    is valid (and a duplicate USCC found only at the database is reported like the form's).
    """
    form.submitting = op in ("submit", "change")
    errors = take_uploads(form, kind, owner, files, user)
    valid = form.validate()
    if form.submitting:
        for name, msg in missing_docs(form, kind, owner).items():
            errors.setdefault(name, msg)
    if not valid or errors:
        return Outcome(False, errors, "提交的内容有误，请按提示修改（已填写的内容和已上传的文件都已保留）")
    values = (enterprise_values if kind == "enterprise" else supplier_values)(form)
    values.update(new_file_values(form, kind))
    try:
        with db.session.begin_nested():
            if op == "change":
                return propose_change(owner, values, user)
            save_profile(owner, values, user)
            if op == "submit":
                submit(owner, user)
                return Outcome(True, message="已提交审核。审核结果将通过站内消息通知您。")
    except IntegrityError:
        form.uscc.errors.append(duplicate_message(kind))
        return Outcome(False, errors, "提交的内容有误，请按提示修改")
    except workflow.NotAllowed as exc:
        return Outcome(False, errors, str(exc))
    return Outcome(True, message="草稿已保存")


# --------------------------------------------------------------------------- changes (REG-9)


def propose_change(owner, values: dict, user) -> Outcome:
    """After approval: contact details apply at once; other facts become a reviewed change."""
    kind = kind_of(owner)
    immediate = {k: v for k, v in values.items() if k in IMMEDIATE_ATTRS}
    reviewed = {k: v for k, v in values.items() if k not in IMMEDIATE_ATTRS and getattr(owner, k) != v}
    changed_now = _assign(owner, immediate)
    if changed_now:
        db.session.flush()
        action = "related_edit" if changed_now == ["related_parties"] else "contact_edit"
        audit.record(kind, owner.id, action, actor=user, data={"fields": changed_now})
    if not reviewed:
        if not changed_now:
            return Outcome(False, {}, "资料没有变化")
        return Outcome(True, message="联系方式已更新")
    change = open_change(owner)
    if change is None:
        change = ProfileChange(created_by=user.id, **({"enterprise_id": owner.id} if kind == "enterprise"
                                                      else {"supplier_id": owner.id}))
        db.session.add(change)
    change.city_code = owner.city_code if kind == "enterprise" or owner.in_province else None
    change.proposed = _encode(reviewed)
    change.previous = _encode({k: getattr(owner, k) for k in reviewed})
    db.session.flush()
    workflow.apply(change, "submit", user)
    change.submitted_at = timeutil.now()
    change.due_on = _due()
    change.return_reasons = []
    audit.record(kind, owner.id, "change_submit", actor=user, data={"change_id": change.id, "fields": list(reviewed)})
    _tell_reviewers(change, f"新的资料变更待审核：{owner.name}")
    return Outcome(True, message="变更已提交审核；审核通过前，原登记资料继续有效。")


def apply_change(change: ProfileChange, user) -> None:
    owner = change.owner
    values = _decode(change.proposed or {})
    if "uscc" in values and uscc_taken(type(owner), values["uscc"], owner.id):
        raise workflow.NotAllowed(duplicate_message(owner_kind(change)))
    old_city = owner.city_code
    before = {k: getattr(owner, k) for k in values}
    _assign(owner, values)
    db.session.flush()
    audit.record(kind_of(owner), owner.id, "change_applied", actor=user,
                 data={"change_id": change.id, "before": _encode(before), "after": change.proposed})
    if owner.city_code and owner.city_code != old_city:
        notices.notify_org(city_code=owner.city_code, title=f"{owner.name} 的注册地已变更为本市",
                           body="该单位的资料变更已审核通过，今后由本市负责审核其业务。")


def change_rows(change: ProfileChange) -> list[dict]:
    """The diff of a change: label, value in force, proposed value (files as file objects)."""
    proposed = _decode(change.proposed or {})
    previous = _decode(change.previous or {})
    files = files_by_id([v for k, v in list(proposed.items()) + list(previous.items()) if k in FILE_ATTRS])
    rows = []
    for attr, new in proposed.items():
        old = previous.get(attr)
        if attr in FILE_ATTRS:
            rows.append({"label": ATTR_LABELS.get(attr, attr), "old_file": files.get(old), "new_file": files.get(new),
                         "old": "", "new": ""})
        else:
            rows.append({"label": ATTR_LABELS.get(attr, attr), "old": display(attr, old), "new": display(attr, new),
                         "old_file": None, "new_file": None})
    return rows


def change_summary(change: ProfileChange) -> str:
    return "、".join(ATTR_LABELS.get(a, a) for a in (change.proposed or {}))


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


# --------------------------------------------------------------------------- decisions


class DecisionError(ValueError):
    """A decision sent without what it needs (reasons); shown next to the form (422)."""


MAX_REASONS = 30


def parse_reasons(kind: str, fields: list[str], texts: list[str]) -> list[dict]:
    """Rows of (field, text) from the return form -> [{"field", "label", "text"}] (REG-5)."""
    labels = dict(REASON_FIELDS[kind])
    out = []
    for key, text in zip(fields, texts):
        text = (text or "").strip()
        if not text:
            continue
        key = key if key in labels else "other"
        out.append({"field": key, "label": labels[key], "text": text[:500]})
    if len(out) > MAX_REASONS:
        raise DecisionError(f"退回理由最多 {MAX_REASONS} 条")
    return out


def _owner_link(obj) -> str:
    return url_for("enterprise.profile_view" if owner_kind(obj) == "enterprise" else "supplier.profile_view")


def _notify_owner(obj, title: str, body: str = "") -> None:
    owner = obj.owner if isinstance(obj, ProfileChange) else obj
    key = "enterprise_id" if isinstance(owner, Enterprise) else "supplier_id"
    notices.notify_org(**{key: owner.id}, title=title, body=body, link=_owner_link(obj))


def reasons_text(reasons: list[dict]) -> str:
    return "\n".join(f"{i}. 【{r['label']}】{r['text']}" for i, r in enumerate(reasons, 1))


def decide(obj, action: str, user, reasons: list[dict] | None = None, reason: str = "") -> None:
    """Approve, return (every reason at once, REG-5) or reject (final, REG-6) a registration or change."""
    kind = kind_of(obj)
    what = "资料变更" if kind == "change" else "注册申请"
    if action == "return":
        if not reasons:
            raise DecisionError("请逐条填写退回理由或缺少的材料（至少一条）")
        workflow.apply(obj, "return", user, reasons_text(reasons), data={"reasons": reasons})
        obj.return_reasons = reasons
        obj.returned_by = str(user.acting_role)
        obj.due_on, obj.decided_at = None, timeutil.now()
        _notify_owner(obj, f"您的{what}被退回，请按意见一次性修改后重新提交",
                      "退回意见：\n" + reasons_text(reasons))
    elif action == "reject":
        reason = (reason or "").strip()
        if not reason:
            raise DecisionError("请填写驳回理由")
        workflow.apply(obj, "reject", user, reason[:2000])
        obj.due_on, obj.decided_at = None, timeutil.now()
        title = "您的资料变更不予通过（原登记资料继续有效）" if kind == "change" else "您的注册申请被驳回"
        _notify_owner(obj, title, "理由：" + reason[:2000])
    elif action == "approve":
        if isinstance(obj, Supplier) and obj.status == R.PROVINCE_REVIEW and not workflow.experts_scored(obj):
            raise workflow.NotAllowed(f"“{obj.name}”尚无专家评分，请待专家评分后再决定")
        workflow.apply(obj, "approve", user)
        if obj.status == R.PROVINCE_REVIEW:
            obj.due_on = _due()
            _notify_owner(obj, f"您的{what}已通过地市审核，已报省级复核")
        else:
            obj.due_on, obj.decided_at = None, timeutil.now()
            if kind == "change":
                apply_change(obj, user)
                _notify_owner(obj, "您的资料变更已审核通过，新资料已生效")
            else:
                _notify_owner(obj, "您的注册申请已审核通过",
                              "可以办理服务券业务了。" if kind == "enterprise" else "贵单位已列入登记供应商名录。")
    else:
        raise workflow.NotAllowed("不支持该操作")


def withdraw_change(change: ProfileChange, user) -> None:
    workflow.apply(change, "withdraw", user)
    change.due_on = None


@dataclass
class BulkResult:
    ident: str
    name: str
    ok: bool
    message: str


def bulk_decide(kind: str, ids: list[str], action: str, user) -> list[BulkResult]:
    """Apply one decision to many items, each in its own savepoint: one failure never hides another."""
    model = KIND_MODELS.get(kind)
    results: list[BulkResult] = []
    if model is None:
        return results
    seen = set()
    for raw in ids[:200]:
        if raw in seen:
            continue
        seen.add(raw)
        obj = db.session.get(model, int(raw)) if str(raw).isdigit() else None
        if obj is None or not can_see(user, obj):
            results.append(BulkResult(raw, f"#{raw}", False, "记录不存在或无权处理"))
            continue
        name = display_name(obj)
        try:
            with db.session.begin_nested():
                decide(obj, action, user)
            results.append(BulkResult(raw, name, True, "已通过" if obj.status == R.APPROVED else "已报省级复核"))
        except (workflow.NotAllowed, DecisionError) as exc:
            results.append(BulkResult(raw, name, False, str(exc)))
        except StaleDataError:
            results.append(BulkResult(raw, name, False, "已被他人处理，请刷新"))
        except IntegrityError:  # this item's savepoint is rolled back; the others stand
            results.append(BulkResult(raw, name, False, "与已有记录冲突（如统一社会信用代码重复），未处理，请单独核查"))
    return results


# --------------------------------------------------------------------------- expert reviews


def record_expert_review(s: Supplier, user, score: int, opinion: str) -> ExpertReview:
    """An expert's score and opinion for this round (one per expert, may be revised until decided)."""
    if s.status != R.PROVINCE_REVIEW:
        raise workflow.NotAllowed("该供应商不在省级复核阶段，不能评分")
    review = my_review(s, user)
    if review is None:
        review = ExpertReview(supplier_id=s.id, expert_id=user.id, round=s.review_round)
        db.session.add(review)
    review.score, review.opinion, review.at = score, opinion.strip()[:4000], timeutil.now()
    db.session.flush()
    audit.record("supplier", s.id, "expert_review", actor=user, reason=review.opinion,
                 data={"score": score, "round": s.review_round})
    return review


def my_review(s: Supplier, user) -> ExpertReview | None:
    return db.session.execute(
        db.select(ExpertReview).where(ExpertReview.supplier_id == s.id, ExpertReview.expert_id == user.id,
                                      ExpertReview.round == s.review_round)
    ).scalar_one_or_none()


def expert_reviews(s: Supplier) -> list[ExpertReview]:
    """Every round's scores, the current round first."""
    q = db.select(ExpertReview).where(ExpertReview.supplier_id == s.id).options(selectinload(ExpertReview.expert))
    return list(db.session.execute(q.order_by(ExpertReview.round.desc(), ExpertReview.id)).scalars())


# --------------------------------------------------------------------------- working days (SLA-1, SLA-5)


# One calendar for every queue: timeutil's (the library, then the province's overrides).
days_left_many = timeutil.working_days_left_many


def calendar_warning(on: dt.date | None = None) -> str | None:
    """SLA-4: a year the holiday library does not know falls back to weekends only; say so."""
    on = on or timeutil.today()
    years = sorted({on.year, (on + dt.timedelta(days=45)).year})
    missing = [y for y in years if not timeutil.calendar_covers(y)]
    if not missing:
        return None
    ys = "、".join(str(y) for y in missing)
    return (f"工作日历尚未收录 {ys} 年的法定节假日安排：该年暂按周一至周五计算工作日。"
            "请省厅在“工作日历”中按国务院办公厅通知录入节假日和调休上班日。")


# --------------------------------------------------------------------------- queues


STATUS_FILTERS = [
    ("pending", "待审核"), ("city_review", "地市审核中"), ("province_review", "省级复核中"),
    ("returned", "已退回"), ("approved", "已通过"), ("rejected", "已驳回"), ("all", "全部"),
]
QUEUE_KINDS = {Role.CITY: ("enterprise", "supplier", "change"), Role.PROVINCE: ("supplier", "change")}


@dataclass
class QueueArgs:
    kind: str
    q: str = ""
    status: str = "pending"
    city: str = ""
    overdue: bool = False
    page: int = 1

    def url_args(self, **over) -> dict:
        d = {"kind": self.kind, "q": self.q, "status": self.status, "city": self.city,
             "overdue": "1" if self.overdue else "", "page": self.page}
        d.update(over)
        return {k: v for k, v in d.items() if v not in ("", None, 1) or k == "kind"}


def parse_queue_args(args, role: Role, kinds=None) -> QueueArgs:
    kinds = kinds or QUEUE_KINDS[role]
    kind = args.get("kind") if args.get("kind") in kinds else kinds[0]
    status = args.get("status") if args.get("status") in dict(STATUS_FILTERS) else "pending"
    try:
        page = max(1, min(int(args.get("page", 1)), 10_000))
    except ValueError:
        page = 1
    city = args.get("city", "") if role == Role.PROVINCE else ""
    return QueueArgs(kind=kind, q=(args.get("q") or "").strip()[:100], status=status, city=city[:6],
                     overdue=args.get("overdue") == "1", page=page)


def _pending_status(role: Role) -> str:
    return R.CITY_REVIEW if role == Role.CITY else R.PROVINCE_REVIEW


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _scope(kind: str, user):
    """The rows of `kind` a reviewer may see (ROLE-3, ROLE-8), as where-clauses."""
    role = user.acting_role
    if kind == "enterprise":
        conds = [Enterprise.status != R.DRAFT]
        if role == Role.CITY:
            conds.append(Enterprise.city_code == user.city_code)
        return conds
    if kind == "supplier":
        conds = [Supplier.status != R.DRAFT]
        if role == Role.CITY:
            conds += [Supplier.in_province.is_(True), Supplier.city_code == user.city_code]
        return conds
    conds = [ProfileChange.submitted_at.is_not(None)]
    if role == Role.CITY:
        conds.append(ProfileChange.city_code == user.city_code)
    return conds


def queue_select(qa: QueueArgs, user):
    model = KIND_MODELS[qa.kind]
    stmt = db.select(model).where(*_scope(qa.kind, user))
    status = _pending_status(user.acting_role) if qa.status == "pending" else qa.status
    if status != "all":
        stmt = stmt.where(model.status == status)
    if qa.overdue:
        stmt = stmt.where(model.due_on < timeutil.today())
    if qa.kind == "change":
        stmt = stmt.outerjoin(Enterprise, ProfileChange.enterprise_id == Enterprise.id).outerjoin(
            Supplier, ProfileChange.supplier_id == Supplier.id)
        stmt = stmt.options(selectinload(ProfileChange.enterprise), selectinload(ProfileChange.supplier))
        name_cols = (Enterprise.name, Enterprise.uscc, Supplier.name, Supplier.uscc)
        city_col = ProfileChange.city_code
    else:
        name_cols = (model.name, model.uscc)
        city_col = model.city_code
    if qa.q:
        pat = _like(qa.q)
        stmt = stmt.where(or_(*(c.ilike(pat, escape="\\") for c in name_cols)))
    if qa.city:
        stmt = stmt.where(city_col == qa.city)
    return stmt.order_by(model.due_on.is_(None), model.due_on, model.submitted_at, model.id)


@dataclass
class QueueRow:
    kind: str
    obj: object
    name: str
    uscc: str
    city: str
    status: str
    submitted_at: dt.datetime | None
    due_on: dt.date | None
    days_left: int | None
    note: str = ""


def queue_rows(kind: str, items) -> list[QueueRow]:
    cities = city_names()
    left = days_left_many(i.due_on for i in items)
    rows = []
    for i in items:
        owner = i.owner if kind == "change" else i
        note = ""
        if kind == "change":
            note = "变更：" + change_summary(i)
        elif kind == "supplier":
            note = "省内" if i.in_province else "省外"
        rows.append(QueueRow(kind, i, owner.name or "（未填写名称）", owner.uscc or "", cities.get(i.city_code or "", "—"),
                             i.status, i.submitted_at, i.due_on, left.get(i.due_on), note))
    return rows


def queue_context(qa: QueueArgs, user, bulk: list | None = None) -> dict:
    from blueprints.core import paging

    pg = paging.paginate(queue_select(qa, user), page=qa.page, per_page=PER_PAGE)
    return {
        "qa": qa, "pg": pg, "rows": queue_rows(qa.kind, pg.items), "bulk": bulk,
        "counts": queue_counts(user), "kinds": QUEUE_KINDS[user.acting_role], "kind_labels": KIND_LABELS,
        "status_filters": STATUS_FILTERS, "pending_status": _pending_status(user.acting_role),
        "city_choices": city_choices() if user.acting_role == Role.PROVINCE else [],
        "warning": calendar_warning(),
    }


def display_name(obj) -> str:
    return (obj.owner.name if isinstance(obj, ProfileChange) else obj.name) or f"#{obj.id}"


def bulk_messages(results: list) -> list[tuple[str, str]]:
    """Toasts for a bulk action: a summary, then one line per failure (never fail silently)."""
    if not results:
        return [("warning", "请先勾选要处理的项目")]
    failed = [r for r in results if not r.ok]
    out = [("success" if not failed else "warning",
            f"批量通过：成功 {len(results) - len(failed)} 项，未通过 {len(failed)} 项")]
    out += [("error", f"{r.name}：{r.message}") for r in failed]
    return out


def queue_counts(user) -> dict[str, dict[str, int]]:
    """Per kind: items waiting for this reviewer and how many of them are overdue (SLA-5)."""
    role = user.acting_role
    kinds = QUEUE_KINDS.get(role, ())
    if not kinds:
        return {}
    # One statement for every kind (each count an index range of the pending status): this runs
    # on the queue page and on the home page, so it costs one round trip, not two per kind.
    counts = []
    for kind in kinds:
        model = KIND_MODELS[kind]
        base = db.select(db.func.count(model.id)).where(*_scope(kind, user), model.status == _pending_status(role))
        counts += [base.scalar_subquery(), base.where(model.due_on < timeutil.today()).scalar_subquery()]
    values = db.session.execute(db.select(*counts)).one()
    return {kind: {"pending": int(values[2 * i] or 0), "overdue": int(values[2 * i + 1] or 0)}
            for i, kind in enumerate(kinds)}


def expert_select(user, q: str = "", todo: bool = True):
    mine = db.select(ExpertReview.id).where(
        ExpertReview.supplier_id == Supplier.id, ExpertReview.round == Supplier.review_round,
        ExpertReview.expert_id == user.id).exists()
    stmt = db.select(Supplier).where(Supplier.status == R.PROVINCE_REVIEW)
    if todo:
        stmt = stmt.where(~mine)
    if q:
        stmt = stmt.where(or_(Supplier.name.ilike(_like(q), escape="\\"), Supplier.uscc.ilike(_like(q), escape="\\")))
    return stmt.order_by(Supplier.due_on.is_(None), Supplier.due_on, Supplier.id)


def my_scores(user, suppliers) -> dict[int, int]:
    by_round = {s.id: s.review_round for s in suppliers}
    if not by_round:
        return {}
    rows = db.session.execute(
        db.select(ExpertReview.supplier_id, ExpertReview.round, ExpertReview.score)
        .where(ExpertReview.expert_id == user.id, ExpertReview.supplier_id.in_(by_round))
    ).all()
    return {sid: score for sid, rnd, score in rows if by_round.get(sid) == rnd}


# --------------------------------------------------------------------------- record pages


def history(obj) -> list:
    """The record's audit trail; a profile's includes the events of its change requests (REG-9)."""
    if isinstance(obj, ProfileChange):
        return audit.timeline("profile_change", obj.id)
    col = ProfileChange.enterprise_id if isinstance(obj, Enterprise) else ProfileChange.supplier_id
    changes = db.select(ProfileChange.id).where(col == obj.id).scalar_subquery()
    return list(db.session.execute(
        db.select(AuditEvent).where(or_(
            (AuditEvent.entity_type == kind_of(obj)) & (AuditEvent.entity_id == obj.id),
            (AuditEvent.entity_type == "profile_change") & AuditEvent.entity_id.in_(changes),
        )).order_by(AuditEvent.id)
    ).scalars())


def returns_history(obj, events) -> list:
    """Every return of this record, oldest first (REG-5: the history of returns is kept)."""
    entity = ENTITY_TYPES[kind_of(obj)]
    return [ev for ev in events if ev.action == "return" and ev.entity_type == entity]


def record_files(obj) -> dict[str, StoredFile]:
    owner = obj.owner if isinstance(obj, ProfileChange) else obj
    found = files_by_id(getattr(owner, d.attr) for d in docs_for(owner_kind(obj)))
    return {d.attr: found.get(getattr(owner, d.attr)) for d in docs_for(owner_kind(obj))}


def decision_context(obj, user) -> dict:
    """What a reviewer's record page needs: actions allowed now, the reason fields, expert scores."""
    transitions = workflow.actions_for(obj, user)
    ctx = {
        "kind": kind_of(obj), "okind": owner_kind(obj), "obj": obj,
        "owner": obj.owner if isinstance(obj, ProfileChange) else obj,
        "can": {t.action: t for t in transitions},
        "reason_fields": REASON_FIELDS[owner_kind(obj)],
        "files": record_files(obj), "cities": city_names(),
        "wd_left": days_left_many([obj.due_on]).get(obj.due_on),
        "events": history(obj), "action_labels": ACTION_LABELS,
        "reviews": [], "change_rows": change_rows(obj) if isinstance(obj, ProfileChange) else [],
        "awaiting_experts": False,
    }
    ctx["returns"] = returns_history(obj, ctx["events"])
    if isinstance(obj, Supplier) and user.acting_role in (Role.PROVINCE, Role.EXPERT):
        ctx["reviews"] = expert_reviews(obj)
        ctx["awaiting_experts"] = obj.status == R.PROVINCE_REVIEW and not workflow.experts_scored(obj)
    return ctx


def load(kind: str, ident: int):
    """The record of `kind` if this user may see it, else 404 (ROLE-8)."""
    from flask import abort

    from blueprints.core.access import get_visible_or_404

    if kind not in KIND_MODELS:
        abort(404)
    return get_visible_or_404(KIND_MODELS[kind], ident)


def owner_view_context(owner, user) -> dict:
    """The applicant's own page: status, open change, files, eligibility facts, history."""
    events = [ev for ev in history(owner) if ev.action != "expert_review"]  # experts' notes are internal
    change = open_change(owner)
    rejected = [ev for ev in events if ev.action == "reject"]
    ctx = {
        "owner": owner, "okind": kind_of(owner), "mode": edit_mode(owner), "change": change,
        "change_rows": change_rows(change) if change else [], "files": record_files(owner),
        "cities": city_names(), "events": events, "action_labels": ACTION_LABELS,
        "wd_left": days_left_many([owner.due_on]).get(owner.due_on),
        "reject_reason": rejected[-1].reason if rejected else "",
        "missing": completeness(owner) if owner.status in (R.DRAFT, R.RETURNED) else [], "checks": [],
    }
    if isinstance(owner, Enterprise):
        from blueprints.core import eligibility

        ctx["checks"] = [c for c in eligibility.check(owner) if c.rule in ("ELIG-1", "ELIG-2", "ELIG-3", "ELIG-4")]
    return ctx


# --------------------------------------------------------------------------- directory and public list


def directory_args(args) -> dict:
    try:
        page = max(1, min(int(args.get("page", 1)), 10_000))
    except ValueError:
        page = 1
    return {"kind": "supplier" if args.get("kind") == "supplier" else "enterprise",
            "q": (args.get("q") or "").strip()[:100], "city": (args.get("city") or "")[:6], "page": page}


def directory_select(kind: str, q: str = "", city: str = ""):
    model = Enterprise if kind == "enterprise" else Supplier
    stmt = db.select(model).where(model.status == R.APPROVED)
    if q:
        stmt = stmt.where(or_(model.name.ilike(_like(q), escape="\\"), model.uscc.ilike(_like(q), escape="\\")))
    if city:
        stmt = stmt.where(model.city_code == city)
    if kind == "supplier":
        stmt = stmt.options(selectinload(Supplier.related_parties))
    return stmt.order_by(model.city_code, model.name, model.id)


DIRECTORY_COLUMNS = {
    "enterprise": ["企业名称", "统一社会信用代码", "注册地", "法定代表人", "成立日期", "上年度主营业务收入（元）",
                   "两化融合贯标", "已获贯标奖补", "联系人", "联系电话", "电子邮箱", "通过日期"],
    "supplier": ["供应商名称", "统一社会信用代码", "省内/省外", "所在地市", "服务类别", "云服务地址", "关联方",
                 "联系人", "联系电话", "电子邮箱", "通过日期"],
}


DIRECTORY_WIDTHS = {
    "enterprise": (34, 22, 10, 12, 14, 22, 12, 12, 10, 16, 22, 12),
    "supplier": (34, 22, 10, 10, 22, 22, 34, 10, 16, 22, 12),
}


def count_directory(kind: str, q: str = "", city: str = "") -> int:
    """How many rows the directory export holds for these filters: the directory's own query, counted."""
    from blueprints.core.paging import count_select

    ids = count_select(directory_select(kind, q, city)).subquery()
    return db.session.execute(db.select(db.func.count()).select_from(ids)).scalar_one()


def write_directory_xlsx(out, kind: str, q: str = "", city: str = "", progress=None) -> int:
    """The province's export of registered enterprises or suppliers (every row matching the directory's
    filters) as an xlsx file written to out; returns the number of rows. progress as in xlsx.write_xlsx."""
    from blueprints.core import xlsx
    from blueprints.core.money import fen_to_decimal

    cities = city_names()

    def rows():
        # ORM rows read FETCH_ROWS at a time; a supplier's related parties come by selectinload, per batch.
        for r in xlsx.stream(directory_select(kind, q, city)).scalars():
            decided = timeutil.local(r.decided_at).date() if r.decided_at else None
            if kind == "enterprise":
                yield (r.name, r.uscc, cities.get(r.city_code or "", ""), r.legal_rep, r.established_on,
                       fen_to_decimal(r.revenue_fen) if r.revenue_fen is not None else None,
                       "是" if r.dcmm_certified else "否", "是" if r.dcmm_subsidy_received else "否",
                       r.contact_name, r.contact_phone, r.contact_email, decided)
            else:
                yield (r.name, r.uscc, "省内" if r.in_province else "省外", cities.get(r.city_code or "", ""),
                       "、".join(r.categories or []), "\n".join(r.endpoints or []),
                       "\n".join(f"{p.uscc} {p.name}" for p in r.related_parties),
                       r.contact_name, r.contact_phone, r.contact_email, decided)

    title = "登记企业" if kind == "enterprise" else "登记供应商"
    sheet = xlsx.Sheet(title, DIRECTORY_COLUMNS[kind], DIRECTORY_WIDTHS[kind], rows())
    return xlsx.write_xlsx(out, [sheet], progress)


def public_suppliers(q: str = "", category: str = "", page: int = 1) -> Page:
    """Registered suppliers for the public: name, place and categories only (no private data)."""
    stmt = db.select(Supplier.id, Supplier.name, Supplier.in_province, Supplier.city_code, Supplier.categories).where(
        Supplier.status == R.APPROVED, Supplier.disqualified.is_(False))
    if q:
        stmt = stmt.where(Supplier.name.ilike(_like(q), escape="\\"))
    rows = db.session.execute(stmt.order_by(Supplier.name, Supplier.id)).all()
    if category:
        # JSON-array membership is filtered here: a few hundred suppliers, one portable query.
        rows = [r for r in rows if category in (r.categories or [])]
    start = (page - 1) * PER_PAGE
    return Page(rows[start:start + PER_PAGE], page, PER_PAGE, len(rows), has_next=start + PER_PAGE < len(rows))


# --------------------------------------------------------------------------- calendar (SLA-4)


def official_day(day: dt.date) -> tuple[bool, str, bool]:
    """(working day?, holiday name, covered by the library?) from chinesecalendar."""
    import chinese_calendar

    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return day.weekday() < 5, "", False
    names = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
             "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "National Day": "国庆节",
             "Mid-autumn Festival": "中秋节", "Anti-Fascist 70th Day": "抗战胜利纪念日"}
    return chinese_calendar.is_workday(day), names.get(name or "", name or ""), True


def calendar_month(year: int, month: int) -> list[list[dict | None]]:
    """Weeks (Monday first) of a month: each day's status and where it comes from."""
    first = dt.date(year, month, 1)
    last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    overrides = {c.day: c for c in db.session.execute(
        db.select(CalendarDay).where(CalendarDay.day >= first, CalendarDay.day <= last)).scalars()}
    weeks: list[list[dict | None]] = [[None] * first.weekday()]
    day = first
    while day <= last:
        work, name, covered = official_day(day)
        o = overrides.get(day)
        cell = {"day": day, "work": o.is_workday if o else work, "official": work, "name": name,
                "covered": covered, "override": o}
        if len(weeks[-1]) == 7:
            weeks.append([])
        weeks[-1].append(cell)
        day += dt.timedelta(days=1)
    weeks[-1] += [None] * (7 - len(weeks[-1]))
    return weeks


def set_calendar_day(day: dt.date, is_workday: bool, note: str, user) -> None:
    row = db.session.get(CalendarDay, day)
    before = None if row is None else row.is_workday
    if row is None:
        row = CalendarDay(day=day)
        db.session.add(row)
    row.is_workday, row.note, row.set_by = is_workday, note.strip()[:100], user.id
    db.session.flush()
    audit.record("calendar_day", int(day.strftime("%Y%m%d")), "override", actor=user, reason=row.note,
                 data={"day": day.isoformat(), "before": before, "is_workday": is_workday})


def clear_calendar_day(day: dt.date, user) -> bool:
    row = db.session.get(CalendarDay, day)
    if row is None:
        return False
    db.session.delete(row)
    db.session.flush()
    audit.record("calendar_day", int(day.strftime("%Y%m%d")), "override_removed", actor=user,
                 data={"day": day.isoformat(), "before": row.is_workday})
    return True


def calendar_overrides(year: int) -> list[CalendarDay]:
    return list(db.session.execute(
        db.select(CalendarDay).where(CalendarDay.day >= dt.date(year, 1, 1), CalendarDay.day <= dt.date(year, 12, 31))
        .order_by(CalendarDay.day)).scalars())


# --------------------------------------------------------------------------- home-page panels


def owner_panel(owner, okind: str) -> dict:
    change = open_change(owner) if owner is not None and owner.status == R.APPROVED else None
    due = owner.due_on if owner is not None else None
    return {"owner": owner, "okind": okind, "change": change, "days_left": days_left_many([due]).get(due),
            "missing": completeness(owner) if owner is not None and owner.status in (R.DRAFT, R.RETURNED) else []}


def reviewer_panel(user) -> dict:
    return {"counts": queue_counts(user), "labels": KIND_LABELS, "warning": calendar_warning()}


def expert_panel(user) -> dict:
    todo = db.session.execute(db.select(db.func.count()).select_from(expert_select(user).subquery())).scalar_one()
    return {"todo": todo}
