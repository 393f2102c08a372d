"""Settlement (兑现): from an issued voucher to an approved claim (SET-1..6, AMT-4, SLA-3, DL-2..4).

The enterprise files invoices, payment proofs and the acceptance report; the automatic checks
(checks()) run as it types and again for every reviewer; submission is refused while any fails.
Its supplier confirms or returns; then the settlement waits for usage verification (SET-5) and
moves on to the city by itself once the voucher's usage is verified, or by the province's
recorded override; the city approves, returns or rejects. A rejection (false material) voids the
voucher at once. Functions only flush; the route (or the CLI command) commits.

Race-free guarantees rest on UNIQUE constraints, not on prior reads: invoice_claim (one invoice
or invoice file behind one settlement, SET-6) and bonus_grant (the AMT-4 bonus once per
enterprise).
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from blueprints.core import audit, notices, timeutil, workflow
from blueprints.core.application import Refused, link, parse_reasons
from blueprints.core.money import yuan
from blueprints.core.timeutil import local, now, today
from models import (
    BonusGrant, CityTarget, Cycle, Enterprise, InvoiceClaim, RegStatus, Role, SetStatus, Settlement,
    SettlementInvoice, SettlementPayment, StoredFile, Voucher, VoucherStatus, db,
)

ENTITY = "settlement"
RESUBMIT_WORKING_DAYS = 5  # DL-2 decision: after a return, even past the deadline
DEFAULT_REVIEW_DAYS = 10  # SLA-3 default, a cycle setting
BONUS_FEN = 200_000 * 100  # AMT-4
EDITABLE = (SetStatus.DRAFT, SetStatus.RETURNED)
SUBMITTED = (SetStatus.SUPPLIER_REVIEW, SetStatus.VERIFICATION, SetStatus.CITY_REVIEW, SetStatus.APPROVED,
             SetStatus.REJECTED)

NEXT_STEP = {
    SetStatus.DRAFT: "填写发票、付款凭证和验收报告，检查全部通过后提交",
    SetStatus.SUPPLIER_REVIEW: "等待供应商确认发票和付款",
    SetStatus.VERIFICATION: "等待上云用量核验：连接记录满规定天数后自动转地市审核",
    SetStatus.CITY_REVIEW: "等待地市经信部门审核",
    SetStatus.RETURNED: "按退回原因修改后，在期限内重新提交",
    SetStatus.APPROVED: "审核通过，等待列入结算清单公示和兑付",
    SetStatus.REJECTED: "兑现申请已被驳回，服务券已作废",
}

SUPPLIER_RETURN_REASONS = (
    "发票不是本单位开具的，或发票信息与本单位开票记录不符",
    "付款凭证与本单位收款记录不符",
    "服务尚未实施完成，验收报告不属实",
)
CITY_RETURN_REASONS = (
    "发票或付款凭证文件不清晰、不完整",
    "服务实施验收报告缺少双方签章",
    "填报的金额、日期与凭证不一致",
)


# --------------------------------------------------------------------------- rows and checks


@dataclass
class InvoiceRow:
    """One invoice as typed (or stored): what the checks read."""

    key: str  # "inv-<id>"
    number: str = ""
    code: str = ""
    issued_on: dt.date | None = None
    seller_name: str = ""
    seller_uscc: str = ""
    total_fen: int | None = None
    file_sha: str = ""
    has_file: bool = False
    reading: dict | None = None


@dataclass
class PaymentRow:
    key: str  # "pay-<id>"
    paid_on: dt.date | None = None
    payee_name: str = ""
    payee_account: str = ""
    amount_fen: int | None = None
    has_file: bool = False


@dataclass
class Finding:
    """One automatic check: ok True/False; `row` names the row it is about ("" for the whole)."""

    topic: str  # invoice | payment | total | material
    row: str
    ok: bool
    text: str
    rule: str = ""
    blocking: bool = True


@dataclass
class Checked:
    findings: list[Finding] = field(default_factory=list)
    invoiced_fen: int = 0
    paid_fen: int = 0

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok and f.blocking]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok and not f.blocking]

    @property
    def passed(self) -> bool:
        return not self.failed

    def for_row(self, key: str) -> list[Finding]:
        return [f for f in self.findings if f.row == key and not f.ok]


def file_shas(st: Settlement) -> dict[int, str]:
    """The SHA-256 of every invoice file of the settlement, in one query (file id -> sha)."""
    ids = [i.file_id for i in st.invoices if i.file_id]
    if not ids:
        return {}
    return dict(db.session.execute(db.select(StoredFile.id, StoredFile.sha256).where(StoredFile.id.in_(ids))).all())


def invoice_rows(st: Settlement) -> list[InvoiceRow]:
    shas = file_shas(st)
    return [InvoiceRow(key=f"inv-{i.id}", number=i.number, code=i.code, issued_on=i.issued_on,
                       seller_name=i.seller_name, seller_uscc=i.seller_uscc, total_fen=i.total_fen,
                       file_sha=shas.get(i.file_id, ""), has_file=i.file_id is not None,
                       reading=i.read_data) for i in st.invoices]


def payment_rows(st: Settlement) -> list[PaymentRow]:
    return [PaymentRow(key=f"pay-{p.id}", paid_on=p.paid_on, payee_name=p.payee_name,
                       payee_account=p.payee_account, amount_fen=p.amount_fen, has_file=p.file_id is not None)
            for p in st.payments]


_BRACKETS = str.maketrans({"（": "(", "）": ")", "【": "(", "】": ")", "[": "(", "]": ")", "〔": "(", "〕": ")"})


def same_name(a: str, b: str) -> bool:
    """Payee = supplier, ignoring spaces, full/half width and bracket forms (SET-6)."""
    def norm(s: str) -> str:
        s = unicodedata.normalize("NFKC", s or "").translate(_BRACKETS)
        return re.sub(r"\s+", "", s).upper()

    return bool(norm(a)) and norm(a) == norm(b)


def digits(s: str) -> str:
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", s or ""))


def claim_keys(row: InvoiceRow) -> list[str]:
    keys = []
    if row.number and row.seller_uscc:
        # An 8-digit paper invoice number is unique only within its 发票代码; a 20-digit 全电 number has no code.
        keys.append(f"no:{row.seller_uscc.upper()}:{digits(row.code)}:{digits(row.number)}")
    if row.file_sha:
        keys.append(f"file:{row.file_sha}")
    return keys


def _label(kind: str, n: int, row) -> str:
    if kind == "inv":
        return _("发票第 %(n)s 行（%(no)s）", n=n, no=row.number) if row.number else _("发票第 %(n)s 行", n=n)
    return _("付款凭证第 %(n)s 行", n=n)


def checks(st: Settlement, invoices: list[InvoiceRow], payments: list[PaymentRow], *,
           has_acceptance: bool, on: dt.date | None = None) -> Checked:
    """Every automatic check (SET-1, SET-2, SET-6): each failure names its row and how to fix it."""
    on = on or today()
    v: Voucher = st.voucher
    supplier = v.supplier
    signed = v.application.contract_signed_on
    out = Checked()
    add = out.findings.append

    if not invoices:
        add(Finding("invoice", "", False, _("请至少添加一张发票"), "SET-1"))
    seen: dict[str, str] = {}
    for n, r in enumerate(invoices, 1):
        label = _label("inv", n, r)
        missing = [name for name, value in (("发票号码", r.number), ("开票日期", r.issued_on),
                                             ("销售方名称", r.seller_name), ("销售方统一社会信用代码", r.seller_uscc),
                                             ("价税合计", r.total_fen), ("发票文件", r.has_file)) if not value]
        if missing:
            fields = _("、").join(_(m) for m in missing)
            add(Finding("invoice", r.key, False, _("%(label)s：请填写%(fields)s", label=label, fields=fields),
                        "SET-1"))
        if r.number and len(digits(r.number)) not in (8, 20):
            add(Finding("invoice", r.key, False, _("%(label)s：发票号码应为 8 位或 20 位数字", label=label), "SET-1"))
        if r.code and len(digits(r.code)) not in (10, 12):
            add(Finding("invoice", r.key, False, _("%(label)s：发票代码应为 10 位或 12 位数字（全电发票没有发票代码，可不填）", label=label),
                        "SET-1"))
        # The invoice's identity (SET-6) is issuer + code + number: an 8-digit number needs its code,
        # a 20-digit 全电 number has none.
        if len(digits(r.number)) == 8 and not r.code:
            add(Finding("invoice", r.key, False, _("%(label)s：8 位号码的发票须填写发票代码（10 或 12 位，印在发票右上角）", label=label),
                        "SET-6"))
        if len(digits(r.number)) == 20 and r.code:
            add(Finding("invoice", r.key, False, _("%(label)s：20 位号码的全电发票没有发票代码，请清空发票代码", label=label), "SET-6"))
        if r.seller_uscc:
            if r.seller_uscc.upper() != (supplier.uscc or "").upper():
                add(Finding("invoice", r.key, False,
                            _("%(label)s：开票方统一社会信用代码 %(uscc)s 不是本券供应商“%(name)s”的代码"
                              "（%(own)s）；只能使用供应商开具的发票", label=label, uscc=r.seller_uscc, name=supplier.name,
                              own=supplier.uscc), "SET-6"))
            else:
                add(Finding("invoice", r.key, True, _("%(label)s：开票方是本券供应商", label=label), "SET-6"))
        if r.issued_on is not None:
            if signed is not None and r.issued_on < signed:
                add(Finding("invoice", r.key, False,
                            _("%(label)s：开票日期 %(day)s 早于合同签订日期 %(signed)s", label=label, day=f"{r.issued_on:%Y-%m-%d}",
                              signed=f"{signed:%Y-%m-%d}"), "SET-1"))
            if r.issued_on > on:
                add(Finding("invoice", r.key, False, _("%(label)s：开票日期 %(day)s 晚于今天", label=label,
                                                          day=f"{r.issued_on:%Y-%m-%d}"), "SET-1"))
        for key in claim_keys(r):
            if key in seen:
                what = _("同一张发票") if key.startswith("no:") else _("同一个发票文件")
                add(Finding("invoice", r.key, False, _("%(label)s：与%(other)s是%(what)s，请删除重复的一行", label=label,
                                                       other=seen[key], what=what), "SET-6"))
            else:
                seen[key] = label
        if r.total_fen is not None and r.total_fen <= 0:
            add(Finding("invoice", r.key, False, _("%(label)s：价税合计必须大于 0", label=label), "SET-1"))
        if r.reading:
            for text in reading_mismatches(r):
                add(Finding("invoice", r.key, False, f"{label}：{text}", "SET-1", blocking=False))

    claimed = claimed_elsewhere(st, invoices)
    for r in invoices:
        if r.key in claimed:
            n = invoices.index(r) + 1
            add(Finding("invoice", r.key, False,
                        _("%(label)s：%(what)s已用于另一份兑现申请，同一张发票不能重复使用", label=_label("inv", n, r),
                          what=claimed[r.key]), "SET-6"))

    if not payments:
        add(Finding("payment", "", False, _("请至少添加一份付款凭证"), "SET-1"))
    for n, p in enumerate(payments, 1):
        label = _label("pay", n, p)
        missing = [name for name, value in (("付款日期", p.paid_on), ("收款方名称", p.payee_name),
                                             ("金额", p.amount_fen), ("付款凭证文件", p.has_file)) if not value]
        if missing:
            fields = _("、").join(_(m) for m in missing)
            add(Finding("payment", p.key, False, _("%(label)s：请填写%(fields)s", label=label, fields=fields),
                        "SET-1"))
        if p.payee_name:
            if same_name(p.payee_name, supplier.name):
                add(Finding("payment", p.key, True, _("%(label)s：收款方是本券供应商", label=label), "SET-6"))
            else:
                add(Finding("payment", p.key, False,
                            _("%(label)s：收款方“%(payee)s”不是本券供应商“%(name)s”；只能计入付给供应商的款项", label=label,
                              payee=p.payee_name, name=supplier.name),
                            "SET-6"))
        if p.paid_on is not None:
            if signed is not None and p.paid_on < signed:
                add(Finding("payment", p.key, False,
                            _("%(label)s：付款日期 %(day)s 早于合同签订日期 %(signed)s", label=label, day=f"{p.paid_on:%Y-%m-%d}",
                              signed=f"{signed:%Y-%m-%d}"), "SET-1"))
            if p.paid_on > on:
                add(Finding("payment", p.key, False, _("%(label)s：付款日期 %(day)s 晚于今天", label=label,
                                                          day=f"{p.paid_on:%Y-%m-%d}"), "SET-1"))
        if p.amount_fen is not None and p.amount_fen <= 0:
            add(Finding("payment", p.key, False, _("%(label)s：金额必须大于 0", label=label), "SET-1"))

    face = v.face_value_fen
    out.invoiced_fen = sum(r.total_fen or 0 for r in invoices)
    out.paid_fen = sum(p.amount_fen or 0 for p in payments)
    for topic, total, what in (("invoice", out.invoiced_fen, "发票价税合计"), ("payment", out.paid_fen, "付款合计")):
        if total >= face:
            add(Finding("total", "", True, _("%(what)s %(total)s，不低于服务券面值 %(face)s", what=_(what), total=yuan(total),
                                             face=yuan(face)), "SET-2"))
        else:
            add(Finding("total", "", False, _("%(what)s %(total)s 低于服务券面值 %(face)s，还差 %(short)s"
                                              "：须实际支付并取得发票的金额不低于面值", what=_(what), total=yuan(total),
                                              face=yuan(face), short=yuan(face - total)), "SET-2"))
    if has_acceptance:
        add(Finding("material", "", True, _("已上传服务实施验收报告"), "SET-1"))
    else:
        add(Finding("material", "", False, _("请上传服务实施验收报告（双方签章）"), "SET-1"))
    return out


def reading_mismatches(r: InvoiceRow) -> list[str]:
    """What the invoice file itself says (QR code, text layer) against what was typed."""
    from blueprints.core import invoice_read

    reading = reading_from_dict(r.reading)
    if reading is None:
        return []
    return invoice_read.mismatches(reading, number=r.number, code=r.code, issued_on=r.issued_on,
                                   total_fen=r.total_fen, seller_uscc=r.seller_uscc)


def reading_to_dict(reading) -> dict | None:
    """What invoice_read found in a file, as JSON for SettlementInvoice.read_data (None: nothing)."""
    if reading is None or not reading.found:
        return None
    qr = reading.qr
    return {
        "number": reading.number, "code": reading.code,
        "issued_on": reading.issued_on.isoformat() if reading.issued_on else None,
        "pretax_fen": reading.pretax_fen, "total_fen": reading.total_fen, "seller_name": reading.seller_name,
        "seller_uscc": reading.seller_uscc, "sources": list(reading.sources),
        "qr": None if qr is None else {"kind": qr.kind, "code": qr.code, "number": qr.number,
                                       "pretax_fen": qr.pretax_fen, "check_code": qr.check_code, "raw": qr.raw,
                                       "issued_on": qr.issued_on.isoformat() if qr.issued_on else None},
    }


def reading_from_dict(d: dict | None):
    from blueprints.core import invoice_read

    if not d:
        return None

    def day(text):
        try:
            return dt.date.fromisoformat(text) if text else None
        except ValueError:
            return None

    q = d.get("qr")
    qr = None if not q else invoice_read.QrData(kind=q.get("kind", ""), code=q.get("code", ""),
                                                 number=q.get("number", ""), pretax_fen=q.get("pretax_fen"),
                                                 issued_on=day(q.get("issued_on")), check_code=q.get("check_code", ""),
                                                 raw=q.get("raw", ""))
    return invoice_read.Reading(qr=qr, number=d.get("number", ""), code=d.get("code", ""),
                                issued_on=day(d.get("issued_on")), pretax_fen=d.get("pretax_fen"),
                                total_fen=d.get("total_fen"), seller_name=d.get("seller_name", ""),
                                seller_uscc=d.get("seller_uscc", ""), sources=tuple(d.get("sources") or ()))


def claimed_elsewhere(st: Settlement, invoices: list[InvoiceRow]) -> dict[str, str]:
    """Row key -> what is already claimed by another settlement (one query)."""
    by_key = {k: r for r in invoices for k in claim_keys(r)}
    if not by_key:
        return {}
    q = db.select(InvoiceClaim.key).where(InvoiceClaim.key.in_(list(by_key)))
    if st.id is not None:
        q = q.where(InvoiceClaim.settlement_id != st.id)
    out = {}
    for key in db.session.execute(q).scalars():
        r = by_key[key]
        out.setdefault(r.key, f"发票 {r.number}" if key.startswith("no:") else "该发票文件")
    return out


def check_stored(st: Settlement, on: dt.date | None = None) -> Checked:
    return checks(st, invoice_rows(st), payment_rows(st), has_acceptance=st.acceptance_file_id is not None, on=on)


# --------------------------------------------------------------------------- deadlines


def filing_problem(st: Settlement, on: dt.date | None = None) -> str | None:
    """DL-2: why the settlement can no longer be submitted, or None."""
    on = on or today()
    if st.voucher.status != VoucherStatus.ISSUED:
        return "该服务券已作废或已放弃，不能再申请兑现"
    if on <= st.filing_deadline:
        return None
    if st.status == SetStatus.RETURNED and st.resubmit_by is not None:
        return f"退回后须在 {st.filing_deadline:%Y-%m-%d} 前重新提交，已逾期；按规定该服务券作废"
    return f"本批次兑现申请已于 {st.cycle.settlement_deadline:%Y-%m-%d} 截止，不能再提交"


# --------------------------------------------------------------------------- filing


def start(v: Voucher, user) -> Settlement:
    """A draft settlement for an issued voucher, with one empty invoice and payment row."""
    existing = db.session.execute(db.select(Settlement).where(Settlement.voucher_id == v.id)).scalar_one_or_none()
    if existing is not None:
        return existing
    if v.status != VoucherStatus.ISSUED:
        raise Refused("该服务券已作废或已放弃，不能申请兑现")
    if today() > v.cycle.settlement_deadline:
        raise Refused(f"本批次兑现申请已于 {v.cycle.settlement_deadline:%Y-%m-%d} 截止，不能再申请")
    st = Settlement(voucher_id=v.id, enterprise_id=v.enterprise_id, supplier_id=v.supplier_id, cycle_id=v.cycle_id,
                    city_code=v.city_code, status=SetStatus.DRAFT, return_reasons=[])
    st.invoices.append(SettlementInvoice())
    st.payments.append(SettlementPayment())
    db.session.add(st)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:  # a second tab started it at the same moment
        raise Refused("该服务券已有兑现申请，请刷新页面") from None
    audit.record(ENTITY, st.id, "create", actor=user, to_state=SetStatus.DRAFT, data={"voucher_id": v.id})
    return st


def _claim_invoices(st: Settlement) -> None:
    """SET-6, race-free: this settlement's invoice keys, or Refused naming the invoice."""
    db.session.execute(db.delete(InvoiceClaim).where(InvoiceClaim.settlement_id == st.id))
    for n, r in enumerate(invoice_rows(st), 1):
        for key in claim_keys(r):
            try:
                with db.session.begin_nested():
                    db.session.add(InvoiceClaim(settlement_id=st.id, key=key))
            except IntegrityError:
                what = f"发票 {r.number}" if key.startswith("no:") else f"发票第 {n} 行的文件"
                raise Refused(f"{what}已用于另一份兑现申请，同一张发票不能重复使用（发票第 {n} 行）") from None


def lock_voucher(voucher_id: int) -> bool:
    """Take the voucher's row lock (a no-op conditional UPDATE; SQLite's BEGIN IMMEDIATE already
    serialises writers) while it is still issued: a submission and the void sweep never interleave.
    False: the voucher is no longer issued."""
    result = db.session.execute(
        db.update(Voucher).where(Voucher.id == voucher_id, Voucher.status == VoucherStatus.ISSUED)
        .values(status=Voucher.status).execution_options(synchronize_session=False))
    return result.rowcount == 1


def release_claims(st: Settlement) -> None:
    db.session.execute(db.delete(InvoiceClaim).where(InvoiceClaim.settlement_id == st.id))


def submit(st: Settlement, user) -> None:
    """SET-1/SET-3: every check passes, the invoices are claimed, the time is stamped once."""
    workflow.find(st, "submit", user)
    if not lock_voucher(st.voucher_id):
        raise Refused("该服务券已作废或已放弃，不能再申请兑现")
    problem = filing_problem(st)
    if problem:
        raise Refused(problem)
    result = check_stored(st)
    if not result.passed:
        raise Refused("还有未通过的检查：" + "；".join(f.text for f in result.failed))
    _claim_invoices(st)
    first = st.submitted_at is None
    if first:
        st.submitted_at = now()  # SET-3: orders payouts (PAY-2); kept across withdrawals and returns
    st.last_submitted_at = now()
    st.invoiced_fen, st.paid_fen = result.invoiced_fen, result.paid_fen
    st.return_reasons = []
    st.returned_by = ""
    st.resubmit_by = None
    st.confirmed_at = None
    workflow.apply(st, "submit", user, data={"invoiced_fen": st.invoiced_fen, "paid_fen": st.paid_fen,
                                            "invoices": len(st.invoices), "payments": len(st.payments),
                                            "resubmitted": not first})
    notices.notify_org(supplier_id=st.supplier_id, title="有客户的兑现申请待您确认",
                       body=f"{st.enterprise.name}：发票 {yuan(st.invoiced_fen)}，付款 {yuan(st.paid_fen)}",
                       link=link("supplier.settlement_detail", st_id=st.id))


def withdraw(st: Settlement, user) -> None:
    """Until the supplier confirms; the draft keeps everything and its first submission time."""
    t = workflow.find(st, "withdraw", user)
    if today() > st.cycle.settlement_deadline and st.resubmit_by is None:
        raise Refused("兑现截止日期已过，撤回后将不能再提交；如需修改，请联系供应商退回")
    del t
    workflow.apply(st, "withdraw", user)
    release_claims(st)
    notices.notify_org(supplier_id=st.supplier_id, title="客户撤回了兑现申请",
                       body=f"{st.enterprise.name} 撤回了兑现申请，修改后会重新提交。")


# --------------------------------------------------------------------------- supplier, verification, city


def _reason_items(st: Settlement, ticked: list[str], other: str, row_reasons: dict[str, str],
                  allowed: tuple[str, ...]) -> list[dict]:
    items = [{"row": "", "text": t} for t in parse_reasons(ticked, other, allowed)]
    valid = {f"inv-{i.id}" for i in st.invoices} | {f"pay-{p.id}" for p in st.payments}
    for key, text in row_reasons.items():
        text = (text or "").strip()[:300]
        if text and key in valid:
            items.append({"row": key, "text": text})
    return items[:100]


def _return(st: Settlement, user, items: list[dict]) -> None:
    if not items:
        raise Refused("请至少列出一条退回原因（可写在对应的行旁边）")
    labels = row_labels(st)
    lines = [(f"{labels.get(i['row'], '')}：" if i["row"] else "") + i["text"] for i in items]
    workflow.apply(st, "return", user, reason="\n".join(lines), data={"reasons": items})
    st.return_reasons = items
    st.returned_by = str(user.acting_role)
    st.returned_at = now()
    st.resubmit_by = timeutil.add_working_days(today(), RESUBMIT_WORKING_DAYS)  # DL-2 decision
    st.due_on = None
    # Back to the start: it is confirmed, verified and sent to the city again after resubmission.
    st.confirmed_at = st.verified_at = st.reached_city_at = None
    st.verified_how = ""
    release_claims(st)  # the enterprise may replace the invoices; resubmission claims them again
    who = "供应商" if user.acting_role == Role.SUPPLIER else "地市经信部门"
    notices.notify_org(enterprise_id=st.enterprise_id,
                       title=f"{who}退回了您的兑现申请，请在 {st.filing_deadline:%Y-%m-%d} 前修改并重新提交",
                       body="\n".join(f"{n}. {line}" for n, line in enumerate(lines, 1)),
                       link=link("enterprise.settlement_edit", st_id=st.id))


def row_labels(st: Settlement) -> dict[str, str]:
    labels = {f"inv-{i.id}": f"发票第 {n} 行" + (f"（{i.number}）" if i.number else "")
              for n, i in enumerate(st.invoices, 1)}
    labels.update({f"pay-{p.id}": f"付款凭证第 {n} 行" for n, p in enumerate(st.payments, 1)})
    return labels


def supplier_confirm(st: Settlement, user) -> None:
    """SET-4: the invoices and payments are real; then the usage gate (SET-5)."""
    from blueprints.core.eligibility import supplier_problem

    problem = supplier_problem(st.supplier, st.cycle_id)
    if problem:
        raise Refused(problem + "，不能确认")  # REL-4
    workflow.apply(st, "confirm", user)
    st.confirmed_at = now()
    notices.notify_org(enterprise_id=st.enterprise_id, title="供应商已确认您的兑现申请",
                       body="下一步：上云用量核验（连接记录满规定天数），通过后自动转地市审核。",
                       link=link("enterprise.settlement_detail", st_id=st.id))
    advance_verified(st)


def supplier_return(st: Settlement, user, ticked: list[str], other: str, row_reasons: dict[str, str]) -> None:
    workflow.find(st, "return", user)
    _return(st, user, _reason_items(st, ticked, other, row_reasons, SUPPLIER_RETURN_REASONS))


def usage_verified(st: Settlement) -> bool:
    """SET-5: is the voucher's usage verified (VER-3: N days of connection records, or the province's
    override of the voucher's usage)?"""
    from blueprints.core import usage

    return usage.is_verified(st.voucher)


def _to_city(st: Settlement, user, action: str, reason: str = "", data: dict | None = None) -> None:
    st.verified_at = now()
    st.reached_city_at = now()
    days = st.cycle.settlement_review_days or DEFAULT_REVIEW_DAYS
    st.due_on = timeutil.add_working_days(today(), days)  # SLA-3
    if action == "verified":
        before = st.status
        st.status = SetStatus.CITY_REVIEW
        audit.record(ENTITY, st.id, "verified", actor=None, from_state=before, to_state=st.status, data=data)
    else:
        workflow.apply(st, action, user, reason=reason, data=data)
    notices.notify_org(city_code=st.city_code, title="有新的兑现申请待审核",
                       body=f"{st.enterprise.name}：面值 {yuan(st.voucher.face_value_fen)}，{st.due_on:%Y-%m-%d} 前审结",
                       link=link("city.settlement_detail", st_id=st.id))
    notices.notify_org(enterprise_id=st.enterprise_id, title="您的兑现申请已转地市审核",
                       link=link("enterprise.settlement_detail", st_id=st.id))


def advance_verified(st: Settlement) -> bool:
    """Move a waiting settlement to the city once its usage is verified (the platform's own step)."""
    if st.status != SetStatus.VERIFICATION or not usage_verified(st):
        return False
    st.verified_how = "usage"
    _to_city(st, None, "verified", data={"days": st.cycle.settlement_review_days})
    return True


def override_verification(st: Settlement, user, reason: str) -> None:
    """SET-5: the province lets a settlement through without data, with a recorded reason."""
    reason = (reason or "").strip()
    if not reason:
        raise Refused("请填写核定理由（例如现场核查的结论）")
    workflow.find(st, "override", user)
    st.verified_how = "override"
    _to_city(st, user, "override", reason=reason)


def review_problem(st: Settlement) -> str | None:
    """What stops the city from approving: a failing automatic check (SET-2, SET-6)."""
    from blueprints.core import usage

    if usage.status(st.voucher).override == "not_verified":  # VER-3: the province found the service unused
        return "省级已核定该服务券上云用量未完成，不能审核通过；如材料虚假请驳回，或请省级复核"
    result = check_stored(st)
    # Invoices are claimed by this settlement already: claimed_elsewhere excludes its own keys.
    if not result.passed:
        return "自动检查未通过，不能通过：" + "；".join(f.text for f in result.failed)
    return None


def bonus_due(e: Enterprise) -> bool:
    """AMT-4: an approved profile with the 两化融合贯标 certificate, never subsidised for it."""
    return (e.status == RegStatus.APPROVED and bool(e.dcmm_certified) and e.dcmm_file_id is not None
            and not e.dcmm_subsidy_received)


def _grant_bonus(st: Settlement) -> int:
    """AMT-4 once per enterprise: the UNIQUE bonus_grant row decides, also under parallel approvals."""
    if not bonus_due(st.enterprise):
        return 0
    earlier = db.session.execute(db.select(Settlement.id).where(
        Settlement.enterprise_id == st.enterprise_id, Settlement.status == SetStatus.APPROVED,
        Settlement.id != st.id).limit(1)).first()
    if earlier is not None:
        return 0  # only the first settlement a city approves carries it
    try:
        with db.session.begin_nested():
            db.session.add(BonusGrant(enterprise_id=st.enterprise_id, settlement_id=st.id, amount_fen=BONUS_FEN))
    except IntegrityError:
        return 0  # already granted on another settlement
    st.bonus_fen = BONUS_FEN
    return BONUS_FEN


def approve(st: Settlement, user) -> None:
    """SET-6: the city approves; the AMT-4 bonus is recorded on the first approved settlement."""
    workflow.find(st, "approve", user)
    problem = review_problem(st)
    if problem:
        raise Refused(problem)
    bonus = _grant_bonus(st)
    st.decided_at = now()
    st.due_on = None
    workflow.apply(st, "approve", user, data={"face_value_fen": st.voucher.face_value_fen, "bonus_fen": bonus,
                                             "invoiced_fen": st.invoiced_fen, "paid_fen": st.paid_fen})
    body = f"服务券面值 {yuan(st.voucher.face_value_fen)}" + (f"，另含两化融合贯标奖补 {yuan(bonus)}" if bonus else "")
    notices.notify_org(enterprise_id=st.enterprise_id, title="您的兑现申请已通过地市审核", body=body + "，将列入结算清单公示。",
                       link=link("enterprise.settlement_detail", st_id=st.id))
    notices.notify_org(supplier_id=st.supplier_id, title="客户的兑现申请已通过地市审核", body=st.enterprise.name)


def city_return(st: Settlement, user, ticked: list[str], other: str, row_reasons: dict[str, str]) -> None:
    workflow.find(st, "return", user)
    _return(st, user, _reason_items(st, ticked, other, row_reasons, CITY_RETURN_REASONS))
    notices.notify_org(supplier_id=st.supplier_id, title="地市退回了客户的兑现申请",
                       body=f"{st.enterprise.name} 修改后将重新提交，届时请再次确认。")


def reject(st: Settlement, user, reason: str) -> None:
    """SET-6/DL-2: final, for false material; the voucher is void at once and counts (DL-3, DL-4)."""
    reason = (reason or "").strip()
    if not reason:
        raise Refused("请填写驳回理由（材料虚假的具体情形）")
    workflow.apply(st, "reject", user, reason=reason)
    st.decided_at = now()
    st.due_on = None
    if st.bonus_fen:  # reopened after an upheld objection: the bonus was never paid, it stays due
        db.session.execute(db.delete(BonusGrant).where(BonusGrant.settlement_id == st.id))
        st.bonus_fen = 0
    end_voucher(st.voucher, user, VoucherStatus.VOID, f"兑现申请被驳回（材料虚假）：{reason}")
    notices.notify_org(supplier_id=st.supplier_id, title="客户的兑现申请被驳回", body=f"{st.enterprise.name}：{reason}")


def reopen(st: Settlement, user, reason: str) -> None:
    """PUB-2/PUB-3: an upheld objection takes an approved settlement off its list and back to the city's
    review (a step of the objection's decision, not a button: outside the table, like "verified")."""
    if st.status != SetStatus.APPROVED:
        raise Refused("只有已通过的兑现申请可以退回重新审核")
    before = st.status
    st.status = SetStatus.CITY_REVIEW
    st.decided_at = None
    st.due_on = timeutil.add_working_days(today(), st.cycle.settlement_review_days or DEFAULT_REVIEW_DAYS)
    audit.record(ENTITY, st.id, "reopen", actor=user, from_state=before, to_state=st.status, reason=reason)
    notices.notify_org(enterprise_id=st.enterprise_id, title="结算清单异议成立，您的兑现申请退回地市重新审核",
                       body=reason, link=link("enterprise.settlement_detail", st_id=st.id))
    notices.notify_org(city_code=st.city_code, title="异议成立的兑现申请待重新审核", body=st.enterprise.name,
                       link=link("city.settlement_detail", st_id=st.id))


def bulk_approve(ids: list[int], user) -> list[tuple[int, str, bool, str]]:
    """Approve several settlements, each in its own savepoint: (id, enterprise, ok, message) per item."""
    from blueprints.core.access import can_act

    results = []
    for sid in ids[:100]:
        st = db.session.get(Settlement, sid)
        if st is None or not can_act(user, st):
            results.append((sid, "", False, "不存在或无权处理"))
            continue
        name = st.enterprise.name
        try:
            with db.session.begin_nested():
                approve(st, user)
            results.append((sid, name, True, "已通过" + (f"（含贯标奖补 {yuan(st.bonus_fen)}）" if st.bonus_fen else "")))
        except (Refused, workflow.NotAllowed) as exc:
            db.session.refresh(st)
            results.append((sid, name, False, str(exc)))
        except (StaleDataError, IntegrityError):
            db.session.expire(st)
            results.append((sid, name, False, "已被他人同时处理，请刷新后查看"))
    return results


# --------------------------------------------------------------------------- void, release, penalties


def end_voucher(v: Voucher, user, status: str, reason: str, *, notify: bool = True) -> None:
    """Make an issued voucher void or released: audit row, notice; frees the cumulative cap (AMT-3)."""
    before = v.status
    v.status = status
    v.ended_at = now()
    v.end_reason = reason
    audit.record("voucher", v.id, "void" if status == VoucherStatus.VOID else "release", actor=user,
                 from_state=before, to_state=status, reason=reason, data={"face_value_fen": v.face_value_fen})
    if notify:
        title = "您的服务券已作废" if status == VoucherStatus.VOID else "您已放弃服务券"
        notices.notify_org(enterprise_id=v.enterprise_id, title=title, body=reason,
                           link=link("enterprise.voucher_detail", voucher_id=v.id))


def release_problem(v: Voucher, on: dt.date | None = None) -> str | None:
    if v.status != VoucherStatus.ISSUED:
        return "该服务券已作废或已放弃"
    st = db.session.execute(db.select(Settlement).where(Settlement.voucher_id == v.id)
                            .execution_options(populate_existing=True)).scalar_one_or_none()
    if st is not None and st.status != SetStatus.DRAFT:
        return "该服务券已提交兑现申请，不能放弃"
    if st is not None and st.submitted_at is not None:
        return "该服务券的兑现申请已提交过，不能放弃"
    return None


def release_allowed(user) -> bool:
    """Only a signatory of the enterprise gives a voucher up (workflow.SIGNED_ACTIONS)."""
    from blueprints.core.team import may_sign

    return may_sign(user)


def release_counts_as_void(v: Voucher, on: dt.date | None = None) -> bool:
    """DL-2 decision: a release after the cycle's application deadline counts as void."""
    return (on or today()) > v.cycle.application_deadline


def release(v: Voucher, user) -> str:
    """Give back an unused voucher. Before the application deadline: released, its face value
    returns to the city's quota (CYC-3) and the enterprise's cap; after it: void (DL-2, DL-3).
    Irreversible and possibly counted against the enterprise: a signatory's act (workflow.SIGNED_ACTIONS)."""
    if not release_allowed(user):
        raise Refused(workflow.NOT_SIGNATORY_RELEASE)
    if not lock_voucher(v.id):
        raise Refused("该服务券已作废或已放弃")
    problem = release_problem(v)  # after the lock: a submission in another tab is seen
    if problem:
        raise Refused(problem)
    if release_counts_as_void(v):
        end_voucher(v, user, VoucherStatus.VOID, "企业在申领截止后主动放弃，按作废处理", notify=False)
        return VoucherStatus.VOID
    end_voucher(v, user, VoucherStatus.RELEASED, "企业在申领截止前主动放弃，面值退回本市发放额度", notify=False)
    db.session.execute(
        db.update(CityTarget).where(CityTarget.city_code == v.city_code, CityTarget.year == v.cycle.year)
        .values(issued_fen=CityTarget.issued_fen - v.face_value_fen).execution_options(synchronize_session=False))
    from blueprints.core.supervision import give_back_supplier_quota

    give_back_supplier_quota(v)
    # A draft settlement stays (its files and timeline belong to it); the voucher can no longer be filed.
    return VoucherStatus.RELEASED


def expired_vouchers(on: dt.date | None = None):
    """DL-2: issued vouchers whose cycle's settlement deadline has passed with nothing filed in time:
    no settlement, a never-submitted or withdrawn draft, or a return not resubmitted in time."""
    on = on or today()
    late_return = db.and_(Settlement.status == SetStatus.RETURNED, Settlement.resubmit_by < on)
    unfiled = db.or_(Settlement.id.is_(None), Settlement.status == SetStatus.DRAFT, late_return)
    return (db.select(Voucher).join(Cycle, Cycle.id == Voucher.cycle_id)
            .outerjoin(Settlement, Settlement.voucher_id == Voucher.id)
            .where(Voucher.status == VoucherStatus.ISSUED, Cycle.settlement_deadline < on, unfiled)
            .order_by(Voucher.id))


def void_expired(on: dt.date | None = None, batch: int = 500) -> int:
    """The DL-2 sweep (flask vouchers void-expired): idempotent, an audit row and a notice per voucher.
    Commits per batch; returns how many vouchers became void."""
    on = on or today()
    done = last_id = 0
    while True:
        vouchers = db.session.execute(expired_vouchers(on).where(Voucher.id > last_id).limit(batch)).scalars().all()
        if not vouchers:
            return done
        for v in vouchers:
            last_id = v.id
            if not lock_voucher(v.id):
                continue
            # Re-read after the lock: a submission that committed meanwhile is filed in time.
            st = db.session.execute(db.select(Settlement).where(Settlement.voucher_id == v.id)
                                    .execution_options(populate_existing=True)).scalar_one_or_none()
            if st is not None and not (st.status == SetStatus.DRAFT or (
                    st.status == SetStatus.RETURNED and st.resubmit_by is not None and st.resubmit_by < on)):
                continue
            if st is not None and st.status == SetStatus.RETURNED:
                why = f"退回后未在 {st.filing_deadline:%Y-%m-%d} 前重新提交兑现申请，服务券作废"
            else:
                why = f"未在兑现截止日期 {v.cycle.settlement_deadline:%Y-%m-%d} 前提交兑现申请，服务券作废"
            end_voucher(v, None, VoucherStatus.VOID, why)
            done += 1
        db.session.commit()


@dataclass(frozen=True)
class Penalty:
    void_count: int
    disqualified: bool  # DL-4
    suspended_cycle: Cycle | None  # DL-3: the one cycle it cannot apply in
    text: str


def penalty(enterprise_id: int) -> Penalty:
    """DL-3/DL-4 from the enterprise's void vouchers (one query, plus the next cycle when suspended)."""
    voids = db.session.execute(
        db.select(Voucher.ended_at, Voucher.cycle_id).where(Voucher.enterprise_id == enterprise_id,
                                                            Voucher.status == VoucherStatus.VOID)
        .order_by(Voucher.ended_at, Voucher.id)
    ).all()
    n = len(voids)
    if n >= 3:
        return Penalty(n, True, None, f"已有 {n} 张服务券作废，申领资格已被取消")
    if n == 2:
        second_at, cycle_id = voids[1]
        own = db.session.get(Cycle, cycle_id)
        after = max(local(second_at).date() if second_at else today(), own.application_deadline)
        nxt = db.session.execute(
            db.select(Cycle).where(Cycle.application_deadline > after, Cycle.id != cycle_id,
                                   Cycle.announced_at.is_not(None))
            .order_by(Cycle.application_deadline, Cycle.id).limit(1)).scalar_one_or_none()
        if nxt is None:
            return Penalty(n, False, None, "已有 2 张服务券作废，下一批次（尚未公布）暂停申领资格")
        return Penalty(n, False, nxt, f"已有 2 张服务券作废，暂停“{nxt.name}”的申领资格"
                                      f"（至该批次申领截止 {nxt.application_deadline:%Y-%m-%d}）")
    return Penalty(n, False, None, "")


def suspended_for(p: Penalty, cycle_id: int | None) -> bool:
    return p.suspended_cycle is not None and cycle_id == p.suspended_cycle.id


def visible_settlement(v: Voucher, user) -> Settlement | None:
    """The voucher's settlement when the user may see it (ROLE-8), for the voucher pages."""
    from blueprints.core.access import can_see

    st = db.session.execute(db.select(Settlement).where(Settlement.voucher_id == v.id)).scalar_one_or_none()
    return st if st is not None and can_see(user, st) else None


# --------------------------------------------------------------------------- stored files


def owned_file(st: Settlement, file_id: int | None) -> StoredFile | None:
    if not file_id:
        return None
    f = db.session.get(StoredFile, file_id)
    return f if f is not None and f.owner_type == ENTITY and f.owner_id == st.id else None


def other_files(st: Settlement) -> list[StoredFile]:
    return list(db.session.execute(
        db.select(StoredFile).where(StoredFile.owner_type == ENTITY, StoredFile.owner_id == st.id,
                                    StoredFile.kind == "settlement_other").order_by(StoredFile.id)).scalars())
