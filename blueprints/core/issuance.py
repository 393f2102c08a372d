"""Approval issues the voucher in the same transaction (APP-5, APP-6, AMT-1..3, CYC-3, DOC-1).

approve() runs, in this order, so that concurrent approvals can never exceed the
enterprise's cumulative cap or the city's issuance quota:

1. lock the enterprise's row for the cycle (a conditional UPDATE of enterprise_cycle_counter:
   a row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers) and re-read
   the application, so a second approval of it sees the first;
2. re-check eligibility (ELIG-*) and compute the face value by AMT-3 from committed data;
3. take the amount from the city's quota with
   `UPDATE city_target SET issued_fen = issued_fen + :v WHERE ... AND issued_fen + :v <= quota_fen`
   (no row updated: the quota is used up; the CHECK constraint is the backstop);
4. move the application to approved (audit row), create the voucher with a >=128-bit random
   code, render its PDF once and store it with its SHA-256.

A voucher's owner, contract, supplier, code and face value can never change afterwards: no route
edits them, and the ORM refuses such an UPDATE (see _freeze_voucher below).
"""
from __future__ import annotations

import base64
import datetime as dt
import re
import secrets

from flask import current_app, has_request_context, url_for
from sqlalchemy import event, inspect
from sqlalchemy.orm import joinedload

from blueprints.core import amounts, audit, eligibility, notices, uploads, workflow
from blueprints.core.application import related_commitments_missing
from blueprints.core.locks import lock_enterprise_cycle
from blueprints.core.money import fen_to_decimal, yuan
from blueprints.core.notices import link
from blueprints.core.paging import count_select
from blueprints.core.supervision import take_supplier_quota
from blueprints.core.timeutil import LOCAL_TZ, now
from models import (
    AppStatus, Application, CatalogItem, CityTarget, Cycle, Enterprise, Supplier, Voucher, VoucherStatus, db,
)

CODE_PREFIX = "GD"
_CODE_RE = re.compile(r"^GD[A-Z2-7]{26}$")


class IssueRefused(Exception):
    """Approval cannot issue a voucher (cap or quota used up, not eligible); message in Chinese."""


# --------------------------------------------------------------------------- codes


def new_code() -> str:
    """GD + base32 of 16 random bytes (128 bits from the OS CSPRNG): unguessable (R48)."""
    return CODE_PREFIX + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=")


def display_code(code: str) -> str:
    """GD-XXXX-XXXX-…: the code in groups of four for reading aloud and typing."""
    body = code[len(CODE_PREFIX):]
    return "-".join([CODE_PREFIX] + [body[i:i + 4] for i in range(0, len(body), 4)])


_LOOKALIKES = str.maketrans("01", "OI")  # codes never contain 0 or 1 (base32): a typed 0 is the letter O


def _typed(text: str | None) -> str:
    return re.sub(r"[\s\-]", "", (text or "")).upper()[:60].translate(_LOOKALIKES)


def normalize_code(text: str | None) -> str | None:
    """A typed or scanned code in canonical form (0 read as O, 1 as I), or None when it cannot be a code."""
    s = _typed(text)
    return s if _CODE_RE.match(s) else None


def code_problem(text: str | None) -> str:
    """Why a typed text cannot be a voucher code, in words a holder can act on."""
    s = _typed(text)
    if not s.startswith(CODE_PREFIX):
        return "券号以 GD 开头"
    if len(s) != len(CODE_PREFIX) + 26:
        return f"券号为 GD 加 26 位字母和数字（共 28 位，不计连字符），您输入了 {len(s)} 位"
    return "券号只含字母 A–Z 和数字 2–7"


def verify_url(code: str) -> str:
    """The public verification address printed in the QR code (ROLE-7)."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base and has_request_context():
        return url_for("public.voucher_verify", code=code, _external=True)
    return (base or "").rstrip("/") + link("public.voucher_verify", code=code)


# --------------------------------------------------------------------------- locks and quotas


def take_city_quota(city_code: str, year: int, amount_fen: int) -> bool:
    """CYC-3: add to the city's issued amount only while it stays within the quota."""
    result = db.session.execute(
        db.update(CityTarget)
        .where(CityTarget.city_code == city_code, CityTarget.year == year,
               CityTarget.issued_fen + amount_fen <= CityTarget.quota_fen)
        .values(issued_fen=CityTarget.issued_fen + amount_fen)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _quota_message(city_code: str, year: int, amount_fen: int) -> str:
    t = db.session.execute(
        db.select(CityTarget).where(CityTarget.city_code == city_code, CityTarget.year == year)
    ).scalar_one_or_none()
    if t is None:
        return f"省厅尚未下达本市 {year} 年服务券发放额度，暂不能发放"
    return (f"本市 {year} 年服务券发放额度已用完（额度 {yuan(t.quota_fen)}，已发放 {yuan(t.issued_fen)}，"
            f"本券需 {yuan(amount_fen)}），不能发放")


# --------------------------------------------------------------------------- approval


def approve(a: Application, user) -> Voucher:
    """APP-4/APP-5: approve and issue in one transaction. Raises IssueRefused or NotAllowed."""
    workflow.find(a, "approve", user)
    lock_enterprise_cycle(a.enterprise_id, a.cycle_id)
    db.session.refresh(a)  # committed state after the lock: a second approval sees the first
    workflow.find(a, "approve", user)
    failed = [c for c in eligibility.check(a.enterprise, a) if c.ok is not True]
    if failed:
        raise IssueRefused("不符合申领条件，不能通过：" + "；".join(c.reason for c in failed))
    related_problem = related_commitments_missing(a)  # REL-1, re-read at approval
    if related_problem:
        raise IssueRefused(related_problem)
    version = a.catalog_version
    cap = int(version.cumulative_cap_fen) if version is not None else 0
    issued = amounts.issued_sum(a.enterprise_id, a.cycle_id)
    pending = amounts.earlier_pending_sum(a.enterprise_id, a.cycle_id, a)
    face = amounts.face_value(a.item_amount_fen or 0, cap, issued, pending)
    if face <= 0:
        raise IssueRefused(
            f"该企业本批次累计奖补上限 {yuan(cap)} 已用完（已发放 {yuan(issued)}，"
            f"更早提交的待审申领占用 {yuan(pending)}），不能发放")
    if not take_city_quota(a.city_code, a.cycle.year, face):
        raise IssueRefused(_quota_message(a.city_code, a.cycle.year, face))
    supplier_full = take_supplier_quota(a.supplier, a.cycle.year, face)  # the supplier's yearly cap
    if supplier_full:
        raise IssueRefused(supplier_full)
    a.decided_at = now()
    a.due_on = None
    workflow.apply(a, "approve", user, data={"face_value_fen": face, "item_amount_fen": a.item_amount_fen,
                                             "issued_before_fen": issued, "earlier_pending_fen": pending})
    v = Voucher(code=new_code(), application_id=a.id, enterprise_id=a.enterprise_id, supplier_id=a.supplier_id,
                cycle_id=a.cycle_id, city_code=a.city_code, face_value_fen=face, status=VoucherStatus.ISSUED,
                pilot=a.pilot, issued_at=now())
    db.session.add(v)
    db.session.flush()
    audit.record("voucher", v.id, "issue", actor=user, to_state=VoucherStatus.ISSUED,
                 data={"face_value_fen": face, "application_id": a.id})
    store_pdf(v, user)
    notices.notify_org(enterprise_id=a.enterprise_id, title="服务券已发放",
                       body=f"面值 {yuan(face)}，券号 {display_code(v.code)}",
                       link=link("enterprise.voucher_detail", voucher_id=v.id))
    notices.notify_org(supplier_id=a.supplier_id, title="客户的服务券已发放",
                       body=f"{a.enterprise.name}：面值 {yuan(face)}")
    return v


def voucher_events(v: Voucher) -> list:
    """The voucher's timeline: its application's history, then the voucher's own."""
    return sorted(audit.timeline("application", v.application_id) + audit.timeline("voucher", v.id),
                  key=lambda ev: ev.id)


def voucher_select(*, city_code: str | None = None, q: str = "", cycle_id: int | None = None, status: str = "",
                   pilot: bool = False, issued_from=None, issued_to=None):
    """Vouchers with the list filters (city and province lists, xlsx export), newest first."""
    stmt = (db.select(Voucher)
            .options(joinedload(Voucher.enterprise), joinedload(Voucher.supplier), joinedload(Voucher.cycle),
                     joinedload(Voucher.application).joinedload(Application.catalog_item)))
    if city_code:
        stmt = stmt.where(Voucher.city_code == city_code)
    q = (q or "").strip()
    if q:
        # Joined only to search: without a search the list (and its count) reads the voucher
        # index alone, in issued_at order (ix_voucher_city_issued / ix_voucher_issued). The clause
        # names the plain enterprise and supplier tables: the export reuses it on its own joins.
        code = normalize_code(q)
        stmt = stmt.join(Voucher.enterprise).join(Voucher.supplier)
        stmt = stmt.where(db.or_(Enterprise.name.contains(q), Supplier.name.contains(q), Enterprise.uscc == q,
                                 Voucher.code == (code or q)))
    if cycle_id:
        stmt = stmt.where(Voucher.cycle_id == cycle_id)
    if status:
        stmt = stmt.where(Voucher.status == status)
    if pilot:
        stmt = stmt.where(Voucher.pilot.is_(True))
    if issued_from:
        stmt = stmt.where(Voucher.issued_at >= dt.datetime.combine(issued_from, dt.time.min, tzinfo=LOCAL_TZ))
    if issued_to:
        stmt = stmt.where(Voucher.issued_at < dt.datetime.combine(issued_to + dt.timedelta(days=1), dt.time.min,
                                                                   tzinfo=LOCAL_TZ))
    return stmt.order_by(Voucher.issued_at.desc(), Voucher.id.desc())


XLSX_HEADER = ("券号", "状态", "试点", "企业", "统一社会信用代码", "供应商", "目录服务项", "合同编号", "面值（元）",
               "批次", "地市", "发放时间")
XLSX_WIDTHS = (38, 8, 6, 30, 22, 30, 30, 18, 14, 16, 8, 18)


def _voucher_export_select(**filters):
    """Plain columns, one row per voucher: no ORM objects to build, so tens of thousands stream in seconds."""
    stmt = (db.select(Voucher.code, Voucher.status, Voucher.pilot, Enterprise.name.label("enterprise"),
                      Enterprise.uscc, Supplier.name.label("supplier"), CatalogItem.code.label("item_code"),
                      CatalogItem.name.label("item_name"), Application.contract_no, Voucher.face_value_fen,
                      Cycle.name.label("cycle"), Voucher.city_code, Voucher.issued_at)
            .select_from(Voucher).join(Voucher.enterprise).join(Voucher.supplier).join(Voucher.cycle)
            .join(Voucher.application).outerjoin(Application.catalog_item))
    return _with_list_filters(stmt, filters).order_by(Voucher.issued_at.desc(), Voucher.id.desc())


def _with_list_filters(stmt, filters: dict):
    # The list's own WHERE clause (it refers to voucher, enterprise and supplier, which stmt joins): the
    # export and the count can never disagree with the filtered list on screen.
    where = voucher_select(**filters).whereclause
    return stmt if where is None else stmt.where(where)


def count_vouchers(**filters) -> int:
    """How many vouchers an export with these filters (voucher_select's keywords) holds: the list's own
    query reduced to its ids (it joins enterprise and supplier only to search), counted."""
    ids = count_select(voucher_select(**filters)).subquery()
    return db.session.execute(db.select(db.func.count()).select_from(ids)).scalar_one()


def write_vouchers_xlsx(out, *, progress=None, **filters) -> int:
    """Every voucher matching the filters (voucher_select's keywords: city_code, q, cycle_id, status, pilot,
    issued_from, issued_to), newest first, as an xlsx file written to out; returns the number of rows.
    Amounts are exact decimals in 元; progress(n_done) as in xlsx.write_xlsx."""
    from blueprints.core import xlsx

    def rows():
        for r in xlsx.stream(_voucher_export_select(**filters)):
            yield (display_code(r.code), workflow.STATUS_LABELS.get(r.status, r.status), "是" if r.pilot else "",
                   r.enterprise, r.uscc, r.supplier, f"{r.item_code} {r.item_name}" if r.item_code else "",
                   r.contract_no, fen_to_decimal(r.face_value_fen), r.cycle, r.city_code, r.issued_at)

    return xlsx.write_xlsx(out, [xlsx.Sheet("服务券", XLSX_HEADER, XLSX_WIDTHS, rows())], progress)


# --------------------------------------------------------------------------- the PDF (DOC-1)


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_UNITS = ("", "拾", "佰", "仟")
_SECTIONS = ("", "万", "亿", "万亿")


def _four(g: int) -> str:
    out, zero, started = "", False, False
    for pos in (3, 2, 1, 0):
        d = g // 10**pos % 10
        if d == 0:
            zero = zero or started
        else:
            out += ("零" if zero else "") + _DIGITS[d] + _UNITS[pos]
            zero, started = False, True
    return out


def chinese_amount(fen: int) -> str:
    """人民币大写 of an amount in fen, e.g. 20000000 -> 贰拾万元整 (printed on the voucher)."""
    yuan_part, cents = divmod(int(fen), 100)
    groups = []
    while yuan_part:
        yuan_part, g = divmod(yuan_part, 10000)
        groups.append(g)
    out, need_zero = "", False
    for i in reversed(range(len(groups))):
        g = groups[i]
        if g == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or g < 1000):
            out += "零"
        out += _four(g) + _SECTIONS[i]
        need_zero = False
    out = (out or "零") + "元"
    jiao, fen_ = divmod(cents, 10)
    if cents == 0:
        return out + "整"
    if jiao:
        out += _DIGITS[jiao] + "角"
    elif fen_:
        out += "零"
    if fen_:
        out += _DIGITS[fen_] + "分"
    return out


def qr_svg(text: str) -> str:
    import segno

    return segno.make(text, error="m").svg_inline(scale=3, dark="#000", light=None, omitsize=False)


def render_voucher_pdf(v: Voucher) -> bytes:
    from blueprints.core import pdf

    url = verify_url(v.code)
    ctx = dict(v=v, a=v.application, code=display_code(v.code), url=url, qr=qr_svg(url))
    if has_request_context():
        return pdf.render_pdf("pdf/voucher.html", **ctx)
    with current_app.test_request_context():  # the template context processors expect a request
        return pdf.render_pdf("pdf/voucher.html", **ctx)


def store_pdf(v: Voucher, user) -> None:
    """Render once, at issuance; the stored bytes (with their SHA-256) are what is served later."""
    data = render_voucher_pdf(v)
    f = uploads.store_bytes(data, mime="application/pdf", name=f"服务券-{v.code}.pdf", kind="voucher_pdf",
                            owner_type="voucher", owner_id=v.id, user_id=getattr(user, "id", None))
    v.pdf_file_id = f.id
    db.session.flush()


# --------------------------------------------------------------------------- APP-6: bound forever

VOUCHER_FROZEN = ("code", "application_id", "enterprise_id", "supplier_id", "cycle_id", "city_code",
                  "face_value_fen", "issued_at")
APPLICATION_FROZEN = ("enterprise_id", "supplier_id", "cycle_id", "city_code", "contract_no", "contract_file_id",
                      "contract_signed_on", "contract_fee_fen", "catalog_item_id", "catalog_version_id",
                      "item_amount_fen", "submitted_at")


class FrozenField(Exception):
    pass


@event.listens_for(Voucher, "before_update")
def _freeze_voucher(mapper, connection, target: Voucher) -> None:
    state = inspect(target)
    changed = [f for f in VOUCHER_FROZEN if state.attrs[f].history.has_changes()]
    if changed:
        raise FrozenField(f"服务券的归属、合同、供应商和面值不能更改：{', '.join(changed)}")


@event.listens_for(Application, "before_update")
def _freeze_approved_application(mapper, connection, target: Application) -> None:
    state = inspect(target)
    hist = state.attrs.status.history
    before = hist.deleted[0] if hist.deleted else target.status
    if before != AppStatus.APPROVED:
        return
    changed = [f for f in APPLICATION_FROZEN if state.attrs[f].history.has_changes()]
    if changed:
        raise FrozenField(f"已发券的申领不能更改合同信息：{', '.join(changed)}")
