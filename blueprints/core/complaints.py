"""Public messages and complaints (SUP-5): leaving one, forwarding it to a city, answering it.

Anyone leaves a message (咨询, 投诉, 举报 or 建议), optionally about a supplier, with optional files and
an optional contact; it gets a tracking number ("LY" + 10 characters of an unambiguous alphabet) and an
answer deadline of ANSWER_DAYS working days (SLA-4 calendar). Every account acting for the province gets a
notice of it (and its mail, or the daily digest lists it). The province answers it, or forwards it to
a city, which then answers it (the province still may). A complaint or report about a supplier is
answered with a verdict (upheld or not); an upheld one counts in the supplier's evaluation (SUP-3, read by
blueprints/core/evaluation.py). The sender reads the answer by the tracking number, never anyone's contact.

Every step is on the audit trail ("complaint", id). Forwarding and answering are conditional updates on
the row's state, so two officers acting at once never both succeed: the second gets AlreadyAnswered
(a 409). Functions only flush; callers commit.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from types import SimpleNamespace

from blueprints.core import audit, notices
from blueprints.core.application import Refused, link
from blueprints.core.payout import EMAIL_RE, PHONE_RE, TRACKING_ALPHABET
from blueprints.core.timeutil import add_working_days, now, today
from models import City, Complaint, RegStatus, Role, StoredFile, Supplier, db

ANSWER_DAYS = 10  # working days to answer (SLA-4 calendar)
MIN_TEXT, MAX_TEXT = 10, 2000
MIN_ANSWER, MAX_ANSWER = 5, 2000
MAX_NOTE = 500
MAX_FILES = 5

OPEN, ANSWERED = "open", "answered"
CATEGORIES = {"consult": "咨询", "complaint": "投诉", "report": "举报", "suggestion": "建议"}
VERDICT_CATEGORIES = ("complaint", "report")  # about a supplier, these are answered upheld or not
STATUS_LABELS = {OPEN: "办理中", ANSWERED: "已答复"}
NEW_MESSAGE_TITLE = "收到新的公众留言，请按期答复或转交地市"  # stored in Chinese; the mail translates it (.po)
TRACKING_RE = re.compile(rf"^LY[{TRACKING_ALPHABET}]{{10}}$")
# Who left a message, as the audit trail names them: the sender has no account (the address is recorded).
SENDER = SimpleNamespace(id=None, display_name="公众留言人", role="", body="")


class FieldErrors(Refused):
    """Input to correct (422): errors by field, in Chinese."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("；".join(errors.values()))
        self.errors = errors


class AlreadyAnswered(Refused):
    """The complaint was answered (or moved) meanwhile (409): look again."""


class NotYours(Refused):
    """The user may not act on this complaint (pages load only what the user may see, so rarely met)."""


@dataclass
class ComplaintInput:
    category: str = ""
    text: str = ""
    contact_name: str = ""
    contact: str = ""
    supplier_id: int | None = None


def tracking_no() -> str:
    return "LY" + "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(10))


def normalize_tracking(typed: str) -> str:
    """What a person typed, as a tracking number: spaces and dashes dropped, upper case."""
    return re.sub(r"[\s\-]", "", typed or "").upper()


def approved_suppliers() -> list[tuple[int, str]]:
    """(id, name) of every approved supplier, by name: what a complaint may be about."""
    return list(db.session.execute(db.select(Supplier.id, Supplier.name).where(
        Supplier.status == RegStatus.APPROVED).order_by(Supplier.name, Supplier.id)).all())


def check(data: ComplaintInput) -> dict[str, str]:
    """Field errors (Chinese) of a new message; empty when it may be left."""
    errors: dict[str, str] = {}
    if data.category not in CATEGORIES:
        errors["category"] = "请选择留言类别"
    text = (data.text or "").strip()
    if len(text) < MIN_TEXT:
        errors["text"] = f"请写明留言内容（至少 {MIN_TEXT} 个字）"
    elif len(text) > MAX_TEXT:
        errors["text"] = f"留言内容最多 {MAX_TEXT} 字"
    contact = (data.contact or "").strip()
    if contact and not (PHONE_RE.match(contact.replace(" ", "")) or EMAIL_RE.match(contact)):
        errors["contact"] = "请填写有效的手机号、座机号或电子邮箱（也可以不填）"
    if data.supplier_id is not None:
        found = db.session.execute(db.select(Supplier.id).where(
            Supplier.id == data.supplier_id, Supplier.status == RegStatus.APPROVED)).scalar_one_or_none()
        if found is None:
            errors["supplier_id"] = "所选供应商不在名录中，请重新选择（也可以不选）"
    return errors


def create(data: ComplaintInput, files=()) -> Complaint:
    """A new message with its tracking number and answer deadline; `files` (StoredFile rows saved with
    owner_type "complaint" and no owner yet) become its material. Raises FieldErrors."""
    # rule: SUP-5
    files = list(files)
    errors = check(data)
    if len(files) > MAX_FILES:
        errors["files"] = f"材料最多 {MAX_FILES} 个文件"
    if errors:
        raise FieldErrors(errors)
    c = Complaint(tracking_no=tracking_no(), category=data.category, text=data.text.strip(),
                  contact_name=(data.contact_name or "").strip()[:100], contact=(data.contact or "").strip()[:100],
                  supplier_id=data.supplier_id, file_ids=[f.id for f in files], status=OPEN,
                  due_on=add_working_days(today(), ANSWER_DAYS))
    db.session.add(c)
    db.session.flush()
    for f in files:
        f.owner_type, f.owner_id = "complaint", c.id
    audit.record("complaint", c.id, "complaint_submit", actor=SENDER, data={
        "tracking_no": c.tracking_no, "category": c.category, "supplier_id": c.supplier_id, "files": len(files)})
    # rule: SUP-5 -- the province answers (or forwards) every message: each of its officers hears of it once
    notices.notify_users(province_user_ids(), title=NEW_MESSAGE_TITLE,
                         body=f"受理编号 {c.tracking_no}（{CATEGORIES.get(c.category, c.category)}），"
                              f"答复期限 {c.due_on:%Y-%m-%d}。",
                         link=link("province.complaint_detail", c_id=c.id))
    return c


def province_user_ids() -> list[int]:
    """The active accounts acting for the province: its officers, and operators with no city (they exercise
    the province's permissions, as a city's operators get the city's notices)."""
    from models import User

    acting = db.or_(User.role == Role.PROVINCE, db.and_(User.role == Role.OPERATOR, User.city_code.is_(None)))
    return list(db.session.execute(db.select(User.id).where(User.is_active.is_(True), acting)).scalars())


def needs_verdict(c: Complaint) -> bool:
    """A complaint or report about a supplier is answered upheld or not (it counts in the evaluation)."""
    return c.category in VERDICT_CATEGORIES and c.supplier_id is not None


def can_forward(c: Complaint, user) -> bool:
    return c.status == OPEN and user.acting_role == Role.PROVINCE


def can_answer(c: Complaint, user) -> bool:
    r = user.acting_role
    return c.status == OPEN and (r == Role.PROVINCE or (r == Role.CITY and c.city_code == user.city_code))


def _same_city(code):
    return Complaint.city_code.is_(None) if code is None else Complaint.city_code == code


def forward(c: Complaint, user, city_code: str, note: str = "") -> None:
    """The province passes an open message to a city to answer (it may pass it on to another city later);
    the deadline stays. The city's officers get a notice."""
    # rule: SUP-5
    if user.acting_role != Role.PROVINCE:
        raise NotYours("只有省级可以转交留言")
    if c.status != OPEN:
        raise AlreadyAnswered("该留言已答复，不能再转交")
    note = (note or "").strip()
    errors = {}
    city = db.session.get(City, city_code) if city_code else None
    if city is None:
        errors["city_code"] = "请选择转交的地市"
    elif city.code == c.city_code:
        errors["city_code"] = f"该留言已转交{city.name}办理"
    if len(note) > MAX_NOTE:
        errors["note"] = f"转交说明最多 {MAX_NOTE} 字"
    if errors:
        raise FieldErrors(errors)
    before = c.city_code
    done = db.session.execute(db.update(Complaint).where(
        Complaint.id == c.id, Complaint.status == OPEN, _same_city(before)).values(city_code=city.code)).rowcount
    if not done:
        raise AlreadyAnswered("该留言刚刚已被办理或转交，请刷新后查看")
    db.session.refresh(c)
    audit.record("complaint", c.id, "complaint_forward", actor=user, reason=note,
                 data={"tracking_no": c.tracking_no, "city_code": city.code, "from_city_code": before})
    notices.notify_org(city_code=city.code, title="省级转来公众留言，请按期答复",
                       body=f"受理编号 {c.tracking_no}（{CATEGORIES.get(c.category, c.category)}），"
                            f"答复期限 {c.due_on:%Y-%m-%d}。" + (f"转交说明：{note}" if note else ""),
                       link=link("city.complaint_detail", c_id=c.id))
    if before:
        notices.notify_org(city_code=before, title="公众留言已改由其他地市办理",
                           body=f"受理编号 {c.tracking_no}：省级已改转{city.name}办理，无需再答复。")


def answer(c: Complaint, user, text: str, upheld: bool | None = None) -> None:
    """The province, or the city the message was forwarded to, answers it; a complaint or report about a
    supplier needs the verdict (upheld or not), other messages have none."""
    # rule: SUP-5
    r = user.acting_role
    if not (r == Role.PROVINCE or (r == Role.CITY and c.city_code and c.city_code == user.city_code)):
        raise NotYours("该留言未转交本单位办理")
    if c.status != OPEN:
        raise AlreadyAnswered("该留言已答复，答复不能修改")
    text = (text or "").strip()
    errors = {}
    if len(text) < MIN_ANSWER:
        errors["answer"] = f"请填写答复内容（至少 {MIN_ANSWER} 个字）"
    elif len(text) > MAX_ANSWER:
        errors["answer"] = f"答复内容最多 {MAX_ANSWER} 字"
    if needs_verdict(c):
        if upheld is None:
            errors["upheld"] = f"请选择{CATEGORIES[c.category]}是否成立"
    else:
        upheld = None
    if errors:
        raise FieldErrors(errors)
    stmt = db.update(Complaint).where(Complaint.id == c.id, Complaint.status == OPEN)
    if r == Role.CITY:  # not moved to another city meanwhile
        stmt = stmt.where(Complaint.city_code == user.city_code)
    done = db.session.execute(stmt.values(status=ANSWERED, answer=text, upheld=upheld, answered_by=user.id,
                                          answered_at=now())).rowcount
    if not done:
        raise AlreadyAnswered("该留言刚刚已被答复或改由其他单位办理，请刷新后查看")
    db.session.refresh(c)
    audit.record("complaint", c.id, "complaint_answer", actor=user, reason=text,
                 data={"tracking_no": c.tracking_no, "upheld": upheld})


# --------------------------------------------------------------------------- what pages read


def queue_select(*, city_code: str | None = None, status: str = "", category: str = ""):
    """Messages with their supplier's and city's names: open ones first by deadline, then the answered ones,
    latest answer first. city_code: only those forwarded to that city (a city's queue)."""
    stmt = (db.select(Complaint).outerjoin(Supplier, Supplier.id == Complaint.supplier_id)
            .outerjoin(City, City.code == Complaint.city_code).add_columns(Supplier.name, City.name))
    if city_code is not None:
        stmt = stmt.where(Complaint.city_code == city_code)
    if status in STATUS_LABELS:
        stmt = stmt.where(Complaint.status == status)
    if category in CATEGORIES:
        stmt = stmt.where(Complaint.category == category)
    is_open = Complaint.status == OPEN
    return stmt.order_by(db.case((is_open, 0), else_=1), db.case((is_open, Complaint.due_on)),
                         Complaint.answered_at.desc(), Complaint.id)


def detail(c: Complaint) -> dict:
    """What a complaint's page shows (province and city): names, files, who answered, the timeline."""
    from models import User

    supplier = db.session.get(Supplier, c.supplier_id) if c.supplier_id else None
    city = db.session.get(City, c.city_code) if c.city_code else None
    files = db.session.execute(db.select(StoredFile).where(StoredFile.id.in_(c.file_ids or [-1]))
                               .order_by(StoredFile.id)).scalars().all()
    answered_by = db.session.get(User, c.answered_by) if c.answered_by else None
    return dict(c=c, supplier=supplier, city=city, files=files, answered_by=answered_by,
                events=audit.timeline("complaint", c.id), categories=CATEGORIES, labels=STATUS_LABELS,
                verdict=needs_verdict(c))


def answering_body(c: Complaint) -> str:
    """Who answered, as the public reads it: the city's department or the province's."""
    from models import User

    u = db.session.get(User, c.answered_by) if c.answered_by else None
    if u is None:
        return ""
    if u.acting_role == Role.CITY:
        city = db.session.get(City, u.city_code)
        return f"{city.name if city else ''}工业和信息化主管部门"
    return "广东省工业和信息化厅"
