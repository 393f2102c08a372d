"""The enterprise's settlement form: invoice and payment rows, parsed from the posted fields and saved.

Field names carry the row: inv-<id>-number, inv-<id>-code, inv-<id>-date, inv-<id>-seller_name,
inv-<id>-seller_uscc, inv-<id>-total, inv-<id>-file; pay-<id>-date, pay-<id>-payee, pay-<id>-account,
pay-<id>-amount, pay-<id>-file; acceptance_file, other_file, note, unit (yuan | wan).

Never lose what was typed: a field with a format error is not saved (the stored value stays) but
its text is shown again with the error; every other field is saved.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy.orm.attributes import flag_modified

from blueprints.core import audit, money, uploads
from blueprints.core.settlement import (
    ENTITY, EDITABLE, InvoiceRow, PaymentRow, digits, file_shas, reading_to_dict, row_labels,
)
from blueprints.core.timeutil import today
from blueprints.core.workflow import NotAllowed
from models import Settlement, SettlementInvoice, SettlementPayment, StoredFile, db

FILE_QUOTA = 80  # stored files per settlement (many invoices and proofs, and their replacements)
INVOICE_FIELDS = ("number", "code", "date", "seller_name", "seller_uscc", "total")
PAYMENT_FIELDS = ("date", "payee", "account", "amount")
MAX_ROWS = 30


@dataclass
class Parsed:
    invoices: list[InvoiceRow] = field(default_factory=list)
    payments: list[PaymentRow] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # what was typed, by field name
    errors: dict[str, str] = field(default_factory=dict)  # field name -> Chinese message
    unit: str = "yuan"
    note: str = ""
    prefilled: set[str] = field(default_factory=set)  # field names an invoice file filled in
    stored: dict[str, int] = field(default_factory=dict)  # file kind -> files this save stored
    refused_files: dict[str, tuple[str, str]] = field(default_factory=dict)  # field name -> (file name, reason)


def _date(text: str, name: str, errors: dict) -> dt.date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors[name] = "日期格式不正确，请按 年-月-日 填写"
        return None


def _amount(text: str, name: str, unit: str, errors: dict) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        fen = money.parse_yuan(text, unit)
    except money.MoneyError as exc:
        errors[name] = str(exc)
        return None
    if fen <= 0:
        errors[name] = "金额必须大于 0"
        return None
    return fen


def amount_text(fen: int | None, unit: str = "yuan") -> str:
    """An amount as the form shows it: 1234.56 (元) or 0.123456 (万元), no separators."""
    if fen is None:
        return ""
    d = money.fen_to_decimal(fen)
    if unit == "wan":
        return format((d / 10000).normalize(), "f")
    return format(d, "f")


def from_stored(st: Settlement) -> Parsed:
    """The form's values as stored (GET)."""
    from blueprints.core.settlement import invoice_rows, payment_rows

    p = Parsed(invoices=invoice_rows(st), payments=payment_rows(st), note=st.note or "")
    for r in p.invoices:
        p.texts.update({f"{r.key}-number": r.number, f"{r.key}-code": r.code,
                        f"{r.key}-date": r.issued_on.isoformat() if r.issued_on else "",
                        f"{r.key}-seller_name": r.seller_name, f"{r.key}-seller_uscc": r.seller_uscc,
                        f"{r.key}-total": amount_text(r.total_fen)})
    for r in p.payments:
        p.texts.update({f"{r.key}-date": r.paid_on.isoformat() if r.paid_on else "",
                        f"{r.key}-payee": r.payee_name, f"{r.key}-account": r.payee_account,
                        f"{r.key}-amount": amount_text(r.amount_fen)})
    return p


def parse(st: Settlement, form) -> Parsed:
    """The posted values for the settlement's own rows (unknown row ids are ignored)."""
    unit = "wan" if form.get("unit") == "wan" else "yuan"
    p = Parsed(unit=unit, note=(form.get("note") or "").strip()[:2000])
    stored = {f"inv-{i.id}": i for i in st.invoices}
    shas = file_shas(st)
    for key, inv in stored.items():
        t = {f: (form.get(f"{key}-{f}") or "").strip() for f in INVOICE_FIELDS}
        p.texts.update({f"{key}-{f}": v for f, v in t.items()})
        number = digits(t["number"]) if t["number"] else ""
        if t["number"] and len(number) not in (8, 20):
            p.errors[f"{key}-number"] = "发票号码应为 8 位或 20 位数字"
            number = ""
        code = digits(t["code"]) if t["code"] else ""
        if t["code"] and len(code) not in (10, 12):
            p.errors[f"{key}-code"] = "发票代码应为 10 位或 12 位数字；全电发票没有代码，可不填"
            code = ""
        uscc = t["seller_uscc"].upper().replace(" ", "")
        if uscc and len(uscc) != 18:
            p.errors[f"{key}-seller_uscc"] = "统一社会信用代码应为 18 位"
            uscc = ""
        p.invoices.append(InvoiceRow(
            key=key, number=number, code=code, issued_on=_date(t["date"], f"{key}-date", p.errors),
            seller_name=t["seller_name"][:200], seller_uscc=uscc,
            total_fen=_amount(t["total"], f"{key}-total", unit, p.errors),
            file_sha=shas.get(inv.file_id, ""), has_file=inv.file_id is not None,
            reading=inv.read_data))
    for pay in st.payments:
        key = f"pay-{pay.id}"
        t = {f: (form.get(f"{key}-{f}") or "").strip() for f in PAYMENT_FIELDS}
        p.texts.update({f"{key}-{f}": v for f, v in t.items()})
        p.payments.append(PaymentRow(
            key=key, paid_on=_date(t["date"], f"{key}-date", p.errors), payee_name=t["payee"][:200],
            payee_account=t["account"][:40], amount_fen=_amount(t["amount"], f"{key}-amount", unit, p.errors),
            has_file=pay.file_id is not None))
    return p


def save(st: Settlement, p: Parsed, files, user) -> list[tuple[str, str]]:
    """Store the well-formed fields and the good uploaded files; returns notes on what the invoice files
    filled in by themselves, as (row key, text). A bad field or file is left out and named in p.errors."""
    if st.status not in EDITABLE:
        raise NotAllowed("该兑现申请已提交，不能修改")
    invoices = {f"inv-{i.id}": i for i in st.invoices}
    payments = {f"pay-{x.id}": x for x in st.payments}
    for r in p.invoices:
        inv = invoices[r.key]
        for name, attr, value in (("number", "number", r.number), ("code", "code", r.code),
                                  ("date", "issued_on", r.issued_on), ("seller_name", "seller_name", r.seller_name),
                                  ("seller_uscc", "seller_uscc", r.seller_uscc), ("total", "total_fen", r.total_fen)):
            if f"{r.key}-{name}" not in p.errors:
                setattr(inv, attr, value)
    for r in p.payments:
        pay = payments[r.key]
        for name, attr, value in (("date", "paid_on", r.paid_on), ("payee", "payee_name", r.payee_name),
                                  ("account", "payee_account", r.payee_account), ("amount", "amount_fen", r.amount_fen)):
            if f"{r.key}-{name}" not in p.errors:
                setattr(pay, attr, value)
    st.note = p.note
    flag_modified(st, "note")  # always UPDATE the settlement row: its version check refuses a save that
    # races a submission (the rows alone would not touch it)
    notes = []
    for key, inv in invoices.items():
        f = _store(st, files.get(f"{key}-file"), "invoice", user, f"{key}-file", p)
        if f is not None:
            inv.file_id = f.id
            inv.read_data = None
            notes += _read_invoice(inv, f, p)
    for key, pay in payments.items():
        f = _store(st, files.get(f"{key}-file"), "payment_proof", user, f"{key}-file", p)
        if f is not None:
            pay.file_id = f.id
    f = _store(st, files.get("acceptance_file"), "acceptance_report", user, "acceptance_file", p)
    if f is not None:
        st.acceptance_file_id = f.id
    _store(st, files.get("other_file"), "settlement_other", user, "other_file", p)
    for r in p.invoices:  # the checks read the rows as they are now stored
        inv = invoices[r.key]
        r.has_file = inv.file_id is not None
        r.file_sha = db.session.get(StoredFile, inv.file_id).sha256 if inv.file_id else ""
        r.reading = inv.read_data
    for r in p.payments:
        r.has_file = payments[r.key].file_id is not None
    db.session.flush()
    return notes


def _store(st, storage, kind, user, field_name, p: Parsed):
    """Store one uploaded file; a refused file is reported on its field (p.errors) and nothing of it is
    kept, while the rest of the form is saved."""
    if storage is None or not storage.filename:
        return None
    name = uploads.safe_filename(storage.filename) or "未命名文件"
    try:
        f = uploads.save_upload(storage, kind=kind, owner_type=ENTITY, owner_id=st.id, user_id=user.id,
                                quota=FILE_QUOTA)
    except uploads.UploadError as exc:
        p.errors[field_name] = f"文件“{name}”未保存：{exc}"
        p.refused_files[field_name] = (name, str(exc))
        return None
    p.stored[kind] = p.stored.get(kind, 0) + 1
    return f


# Names of the form's fields as the "saved / not saved" banner and the error summary say them.
FIELD_NAMES = {
    "inv": {"number": "发票号码", "code": "发票代码", "date": "开票日期", "seller_name": "销售方名称",
            "seller_uscc": "销售方统一社会信用代码", "total": "价税合计", "file": "发票文件"},
    "pay": {"date": "付款日期", "payee": "收款方名称", "account": "收款账号", "amount": "金额", "file": "付款凭证文件"},
}
PLACES = {"acceptance_file": "验收报告", "other_file": "其他材料"}


def problems(st: Settlement, p: Parsed) -> list[tuple[str, str, str]]:
    """Every refused field and file as (input id, what it is, why): "发票第 2 行的文件“x.pdf”" with the
    upload's reason, "发票第 1 行的发票号码" with the format error; in the form's order."""
    labels = row_labels(st)
    out = []
    for name, message in p.errors.items():
        key, _sep, suffix = name.rpartition("-")
        place = _(PLACES[name]) if name in PLACES else labels.get(key, "")
        if name in p.refused_files:
            file_name, reason = p.refused_files[name]
            out.append((name, _("%(place)s的文件“%(name)s”", place=place, name=file_name), reason))
        elif place:
            what = FIELD_NAMES.get(key.partition("-")[0], {}).get(suffix)
            out.append((name, _("%(place)s的%(field)s", place=place, field=_(what)) if what else place, message))
        else:
            out.append((name, "", message))
    return out


def saved_items(p: Parsed) -> list[str]:
    """What a save kept, for the banner: the files it stored by kind and count, and the typed values."""
    out = []
    for kind, text in (("invoice", "发票 %(n)s 张"), ("payment_proof", "付款凭证 %(n)s 份"),
                       ("acceptance_report", "验收报告"), ("settlement_other", "其他材料 %(n)s 份")):
        if p.stored.get(kind):
            out.append(_(text, n=p.stored[kind]) if "%(n)s" in text else _(text))
    typed = any(v for k, v in p.texts.items() if k not in p.errors) or p.note
    if typed:
        field_errors = any(k not in p.refused_files for k in p.errors)
        out.append(_("其余填写内容") if field_errors else _("填写的内容"))
    return out


LABELS = {"number": "发票号码", "code": "发票代码", "issued_on": "开票日期", "seller_name": "销售方名称",
          "seller_uscc": "销售方统一社会信用代码", "total_fen": "价税合计"}


def _read_invoice(inv: SettlementInvoice, f, p: Parsed) -> list[tuple[str, str]]:
    """Read the uploaded invoice (QR code, PDF text) and fill the row's empty fields from it."""
    from blueprints.core import invoice_read

    try:
        reading = invoice_read.read(uploads.read_bytes(f), f.mime)
    except Exception:  # reading is a convenience: never a reason to lose the upload
        return []
    inv.read_data = reading_to_dict(reading)
    if inv.read_data is None:
        return []
    filled = []
    key = f"inv-{inv.id}"
    values = {"number": reading.number, "code": reading.code, "issued_on": reading.issued_on,
              "seller_name": reading.seller_name, "seller_uscc": reading.seller_uscc, "total_fen": reading.total_fen}
    form_names = {"number": "number", "code": "code", "issued_on": "date", "seller_name": "seller_name",
                  "seller_uscc": "seller_uscc", "total_fen": "total"}
    fits = {"number": lambda x: len(digits(x)) in (8, 20), "code": lambda x: len(digits(x)) in (10, 12),
            "seller_uscc": lambda x: len(x) == 18, "seller_name": lambda x: len(x) <= 200,
            "total_fen": lambda x: 0 < x < money.MAX_FEN, "issued_on": lambda x: True}
    for attr, value in values.items():
        if value and not getattr(inv, attr) and fits[attr](value):
            setattr(inv, attr, value)
            filled.append(LABELS[attr])
            name = f"{key}-{form_names[attr]}"
            p.prefilled.add(name)
            p.texts[name] = (value.isoformat() if isinstance(value, dt.date)
                             else amount_text(value, p.unit) if attr == "total_fen" else str(value))
            p.errors.pop(name, None)
    if not filled:
        return [(key, f"已读取发票 {reading.number or ''} 的二维码/文字，填写内容将与之核对")]
    return [(key, f"已从发票文件识别并填入：{'、'.join(filled)}，请核对")]


def add_row(st: Settlement, kind: str) -> str:
    if st.status not in EDITABLE:
        raise NotAllowed("该兑现申请已提交，不能修改")
    rows = st.invoices if kind == "inv" else st.payments
    if len(rows) >= MAX_ROWS:
        raise NotAllowed(f"每份兑现申请最多 {MAX_ROWS} 行")
    row = SettlementInvoice() if kind == "inv" else SettlementPayment()
    rows.append(row)
    db.session.flush()
    return f"{kind}-{row.id}"


def remove_row(st: Settlement, key: str) -> bool:
    if st.status not in EDITABLE:
        raise NotAllowed("该兑现申请已提交，不能修改")
    kind, _, ident = key.partition("-")
    rows = st.invoices if kind == "inv" else st.payments if kind == "pay" else None
    if rows is None or not ident.isdigit():
        return False
    for row in rows:
        if row.id == int(ident):
            rows.remove(row)
            db.session.flush()
            return True
    return False


def remove_other_file(st: Settlement, file_id: int) -> bool:
    from blueprints.core.settlement import owned_file

    f = owned_file(st, file_id)
    if f is None or f.kind != "settlement_other" or st.status not in EDITABLE:
        return False
    f.kind = "settlement_other_removed"
    db.session.flush()
    return True


def record_save(st: Settlement, user) -> None:
    """Drafts are saved often; the timeline gets one 'save' row per day at most."""
    last = db.session.execute(
        db.select(audit.AuditEvent.at).where(audit.AuditEvent.entity_type == ENTITY,
                                             audit.AuditEvent.entity_id == st.id,
                                             audit.AuditEvent.action == "save")
        .order_by(audit.AuditEvent.id.desc()).limit(1)).scalar_one_or_none()
    from blueprints.core.timeutil import local

    if last is None or local(last).date() != today():
        audit.record(ENTITY, st.id, "save", actor=user, data={"invoices": len(st.invoices),
                                                             "payments": len(st.payments)})
