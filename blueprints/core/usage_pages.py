"""What the pages around usage verification read (VER-1, VER-3).

voucher_context() gives templates/voucher_view.html everything it shows for one voucher, for every
role: the voucher's facts, its settlement, its timeline and the 上云用量 box (days counted of N,
first and last day seen, verified or not, the province's override with its reason, the declared
addresses, and for the supplier and the province the supplier's cloud-side endpoints).
statuses() reads the usage of a page of vouchers in one query (the lists' "用量 k/N" column);
split_entries() cuts what the enterprise typed into one address or line number per entry.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

from sqlalchemy.exc import IntegrityError

from blueprints.core import usage
from blueprints.core.timeutil import today
from models import Voucher, VoucherUsage, db

# One entry per line, or separated by commas, semicolons or 、 (not by spaces: a line number may hold them).
SPLIT_RE = re.compile(r"[\r\n,，;；、]+")
MAX_INPUT_CHARS = 4000  # more than MAX_ADDRESSES entries of the longest form
TOO_LONG = f"一次最多填写 {MAX_INPUT_CHARS} 个字符，请分几次添加"

# The voucher roles that see the supplier's cloud-side endpoints beside the declared addresses.
ENDPOINT_ROLES = ("supplier", "province")


def split_entries(text: str) -> list[str]:
    """The entries typed in one box, in order, blanks and repeats dropped."""
    seen, out = set(), []
    for part in SPLIT_RE.split((text or "")[:MAX_INPUT_CHARS]):
        part = part.strip()
        if part and part not in seen:
            seen.add(part)
            out.append(part)
    return out


def check_entries(v: Voucher, text: str) -> list[dict]:
    """Inline validation (nothing saved): each entry with its normalised value or why it is refused."""
    if len(text or "") > MAX_INPUT_CHARS:  # never cut an entry in two
        return [{"entry": "", "ok": False, "message": TOO_LONG}]
    declared = {a.value for a in usage.addresses_of(v.id)}
    out = []
    for entry in split_entries(text):
        try:
            kind, value = usage.parse_declared(entry)
        except usage.AddressError as exc:
            out.append({"entry": entry, "ok": False, "message": str(exc)})
            continue
        known = value in declared
        out.append({"entry": entry, "ok": not known, "kind": kind, "value": value,
                    "message": f"{value} 已经申报过" if known else ""})
    return out


def add_entries(v: Voucher, text: str, user) -> list[dict]:
    """Declare every entry typed (VER-1); each in a savepoint, so the good ones are kept and the bad
    ones refused by name. Returns each entry's result; the caller commits."""
    if len(text or "") > MAX_INPUT_CHARS:  # cut at the limit, the last entry could be saved half typed
        return [{"entry": "", "ok": False, "message": TOO_LONG}]
    results = []
    for entry in split_entries(text):
        try:
            with db.session.begin_nested():
                a = usage.add_address(v, entry, user)
        except usage.AddressError as exc:
            results.append({"entry": entry, "ok": False, "message": str(exc)})
            continue
        except IntegrityError:  # declared at the same moment in another request (UNIQUE voucher_id, value)
            results.append({"entry": entry, "ok": False, "message": f"{entry} 已经申报过"})
            continue
        results.append({"entry": entry, "ok": True, "kind": a.kind, "value": a.value, "message": ""})
    return results


KIND_LABELS = {"ip": "IP 地址", "net": "网段", "line": "专线号"}


def voucher_context(v: Voucher, role: str, user, **extra) -> dict:
    """The context of voucher_view.html for `role` (enterprise, supplier, city, province)."""
    from blueprints.core import issuance, settlement

    ctx = dict(v=v, role=role, events=issuance.voucher_events(v), st=settlement.visible_settlement(v, user),
               settlement_next=settlement.NEXT_STEP, today=today(), usage=usage.status(v),
               usage_row=db.session.get(VoucherUsage, v.id), addresses=usage.addresses_of(v.id),
               kind_labels=KIND_LABELS, editable_problem=None, endpoints=None, results=None, retry_text="",
               override_error=None, reason_text="", checked=None, oob=False)
    from blueprints.core import supervision

    ctx["recoveries"] = supervision.recoveries_of(v.id)  # REL-2: shown to everyone who sees the voucher
    if role == "enterprise":
        ctx["editable_problem"] = usage.addresses_editable(v)
    if role in ENDPOINT_ROLES:
        ctx["endpoints"] = list(v.supplier.endpoints or [])
    ctx.update(extra)
    return ctx


def statuses(vouchers) -> dict[int, usage.Status]:
    """voucher id -> usage.Status for a page of vouchers (their cycles loaded), in one query."""
    vouchers = list(vouchers)
    if not vouchers:
        return {}
    rows = {u.voucher_id: u for u in db.session.execute(
        db.select(VoucherUsage).where(VoucherUsage.voucher_id.in_([v.id for v in vouchers]))).scalars()}
    return {v.id: usage.status(v, rows.get(v.id) or none_seen(v.id)) for v in vouchers}


def none_seen(voucher_id: int):
    """A usage summary with nothing recorded yet, for usage.status() without a query."""
    return SimpleNamespace(voucher_id=voucher_id, days=0, first_day=None, last_day=None, override="",
                           override_reason="")
