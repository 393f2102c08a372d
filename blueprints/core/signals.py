"""Fraud signals: flags with their evidence for the city's and the province's reviewers.

A flag is never a decision: nothing here changes a record or blocks a step; the review pages show the
flags beside the record and the reviewer checks them (REL-1: related parties are for the reviewer to judge).

What is compared, and what is not (only what the data supports):
- shared contact: the enterprise's and the supplier's contact phones and their users' phones (digits only,
  a leading 86 dropped); their contact e-mail addresses (the same address, or the same domain unless it is a
  public webmail domain); the IP addresses of the audit trail: those from which the enterprise submitted the
  record against those of the supplier's own steps on it (its confirmation, a return). Not compared: an
  address (neither Enterprise nor Supplier has an address field), a legal representative (only Enterprise
  has legal_rep; Supplier has none) and users' e-mail (User has no e-mail field).
- contract fee: above the 95th percentile (nearest rank) of at least 20 other filed contracts for the same
  catalog item; exactly at the item's cap while at least 5 other customers of the same supplier also filed
  exactly at their item's cap.
- registration burst: at least 10 customers of the supplier (enterprises that filed an application naming
  it) and 60% or more of them created on the platform (Enterprise.created_at, local days) within 3 days.

for_applications() / for_settlements() flag a batch (one page of a list) with a fixed number of queries,
however many records the batch or the database holds; for_application() / for_settlement() are a batch of one.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Date, and_, case, cast, func, literal_column, or_, select, tuple_

from blueprints.core.money import yuan
from models import Application, AuditEvent, CatalogItem, Enterprise, Settlement, Supplier, User, Voucher, db

# Thresholds.
FEE_PERCENTILE = 95
FEE_MIN_OTHERS = 20
CAP_MIN_OTHERS = 5
BURST_MIN_CUSTOMERS = 10
BURST_SHARE = 0.6
BURST_DAYS = 3
LOCAL_OFFSET_HOURS = 8  # Asia/Shanghai has no daylight saving: a local day is UTC + 8 h

# Public webmail: thousands of unrelated people share these domains, so a shared domain says nothing.
PUBLIC_MAIL_DOMAINS = frozenset({
    "qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "hotmail.com", "sina.com", "foxmail.com",
    "aliyun.com", "vip.qq.com", "yeah.net", "sina.cn", "sohu.com", "139.com", "189.cn", "live.com",
    "yahoo.com", "icloud.com",
})

ACTION_LABELS = {"submit": "提交", "confirm": "确认", "return": "退回", "withdraw": "撤回"}
ENTITY_LABELS = {"application": "申领", "settlement": "兑现申请"}


@dataclass(frozen=True)
class Flag:
    code: str
    title: str
    evidence: str


# --------------------------------------------------------------------------- small helpers


def mask_phone(phone: str) -> str:
    """138****0000: enough to compare on the page, not enough to call."""
    digits = normalise_phone(phone)
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "****" + digits[-2:]


def normalise_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) > 11 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def _mail(address: str) -> tuple[str, str]:
    """(address, domain), lower-cased; ("", "") unless it looks like an address."""
    address = (address or "").strip().lower()
    if address.count("@") != 1:
        return "", ""
    domain = address.rsplit("@", 1)[1]
    return (address, domain) if domain else ("", "")


def _mask_mail(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:2]}***@{domain}"


def _usable_ip(ip: str) -> bool:
    # A loopback or unparsable address is where the server saw itself (no proxy header): not evidence.
    try:
        addr = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return False
    return not (addr.is_loopback or addr.is_unspecified)


# --------------------------------------------------------------------------- shared contact (REL-1)


def _contact_flags(ent: Enterprise, sup: Supplier, users: list[tuple]) -> list[Flag]:
    """users: (enterprise_id, supplier_id, name, phone) of both organisations' accounts."""
    flags: list[Flag] = []
    ent_phones = [("企业联系电话", ent.contact_phone)]
    sup_phones = [("供应商联系电话", sup.contact_phone)]
    for ent_id, sup_id, name, phone in users:
        if ent_id == ent.id:
            ent_phones.append((f"企业账号“{name}”的手机号", phone))
        if sup_id == sup.id:
            sup_phones.append((f"供应商账号“{name}”的手机号", phone))
    seen = set()
    for e_label, e_phone in ent_phones:
        e_digits = normalise_phone(e_phone)
        if len(e_digits) < 7:
            continue
        for s_label, s_phone in sup_phones:
            if normalise_phone(s_phone) == e_digits and e_digits not in seen:
                seen.add(e_digits)
                flags.append(Flag("shared_phone", "企业与供应商使用相同电话",
                                  f"{e_label} {mask_phone(e_phone)} 与{s_label}相同"))
    e_addr, e_domain = _mail(ent.contact_email)
    s_addr, s_domain = _mail(sup.contact_email)
    if e_addr and e_addr == s_addr:
        flags.append(Flag("shared_email", "企业与供应商使用相同邮箱",
                          f"企业联系邮箱与供应商联系邮箱同为 {_mask_mail(e_addr)}"))
    elif e_domain and e_domain == s_domain and e_domain not in PUBLIC_MAIL_DOMAINS:
        flags.append(Flag("shared_email_domain", "企业与供应商邮箱域名相同",
                          f"企业联系邮箱与供应商联系邮箱同属域名 {e_domain}（非公共邮箱）"))
    return flags


def _ip_flags(events: list[tuple], ent_id: int, sup_id: int) -> list[Flag]:
    """events: (entity_type, action, body, ip) of the record's own audit events (application, settlement)."""
    filed: dict[str, set[str]] = defaultdict(set)  # ip -> what the enterprise submitted from it
    supplier_steps: dict[str, set[str]] = defaultdict(set)
    for entity, action, body, ip in events:
        if not _usable_ip(ip):
            continue
        what = f"{ACTION_LABELS.get(action, '操作')}{ENTITY_LABELS.get(entity, '')}"
        if body == f"enterprise:{ent_id}" and action == "submit":
            filed[ip].add(what)
        elif body == f"supplier:{sup_id}":
            supplier_steps[ip].add(what)
    return [Flag("shared_ip", "企业与供应商从同一 IP 地址操作",
                 f"企业{'、'.join(sorted(filed[ip]))}的 IP 地址 {ip} 与供应商{'、'.join(sorted(supplier_steps[ip]))}时的 IP 地址相同")
            for ip in sorted(filed.keys() & supplier_steps.keys())]


# --------------------------------------------------------------------------- contract fee


def _filed():
    return and_(Application.submitted_at.is_not(None), Application.contract_fee_fen.is_not(None))


def _rank(m: int) -> int:
    """Nearest-rank position of the 95th percentile among m values: ceil(0.95 m), in integers."""
    return (FEE_PERCENTILE * m + 99) // 100


def _fee_ranks(item_ids: set[int]) -> dict[int, tuple[int, dict[int, int]]]:
    """item id -> (filed contracts n, {rank: fee}) with the fees at the two ranks a percentile of "the
    others" needs: with the application among the filed ones (n - 1 others) or not (n others). One windowed
    query for every item of the batch; it returns at most two rows per item, never the fees themselves."""
    if not item_ids:
        return {}
    ordered = (select(Application.catalog_item_id.label("item"), Application.contract_fee_fen.label("fee"),
                      func.row_number().over(partition_by=Application.catalog_item_id,
                                             order_by=(Application.contract_fee_fen, Application.id)).label("rn"),
                      func.count().over(partition_by=Application.catalog_item_id).label("n"))
               .where(Application.catalog_item_id.in_(item_ids), _filed()).subquery())
    n = ordered.c.n
    rows = db.session.execute(select(ordered.c.item, ordered.c.n, ordered.c.rn, ordered.c.fee).where(
        n >= FEE_MIN_OTHERS,
        or_(ordered.c.rn == (FEE_PERCENTILE * (n - 1) + 99) // 100, ordered.c.rn == (FEE_PERCENTILE * n + 99) // 100),
    )).all()
    out: dict[int, tuple[int, dict[int, int]]] = {}
    for item, total, rn, fee in rows:
        out.setdefault(item, (int(total), {}))[1][int(rn)] = int(fee)
    return out


def _fee_flags(a: Application, ranks: dict[int, tuple[int, dict[int, int]]], caps: dict[int, int],
               at_cap: dict[int, tuple[int, int]]) -> list[Flag]:
    flags: list[Flag] = []
    fee, item = a.contract_fee_fen, a.catalog_item_id
    if fee is None or item is None:
        return flags
    filed = a.submitted_at is not None
    # The percentile is of the other contracts: the application's own fee is left out of the population.
    n, fees = ranks.get(item, (0, {}))
    others = n - 1 if filed else n
    if others >= FEE_MIN_OTHERS:
        p95 = fees.get(_rank(others))
        if p95 is not None and fee > p95:
            flags.append(Flag("fee_outlier", "合同金额高于同类合同",
                              f"合同金额 {yuan(fee)} 高于同一目录项目其他 {others} 份合同金额的第 95 百分位数 {yuan(p95)}"))
    cap = caps.get(item)
    if cap is not None and fee == cap and a.supplier_id is not None:
        customers, at = at_cap.get(a.supplier_id, (0, 0))
        mine = 1 if filed else 0  # this application's enterprise is among those counted once it is filed
        other_customers, other_at = customers - mine, at - mine
        if other_at >= CAP_MIN_OTHERS:
            flags.append(Flag("fee_at_cap", "多家客户合同金额恰为封顶额",
                              f"合同金额恰等于目录项目封顶额 {yuan(cap)}；该供应商的其他 {other_customers} 家客户企业中"
                              f"有 {other_at} 家也恰按封顶额申报"))
    return flags


def _at_cap_counts(supplier_ids: set[int]) -> dict[int, tuple[int, int]]:
    """supplier id -> (customers, customers with a filed contract exactly at its item's cap)."""
    if not supplier_ids:
        return {}
    at_cap = case((Application.contract_fee_fen == CatalogItem.cap_fen, Application.enterprise_id))
    rows = db.session.execute(
        select(Application.supplier_id, func.count(Application.enterprise_id.distinct()), func.count(at_cap.distinct()))
        .outerjoin(CatalogItem, CatalogItem.id == Application.catalog_item_id)
        .where(Application.supplier_id.in_(supplier_ids), _filed())
        .group_by(Application.supplier_id)).all()
    return {sid: (int(total), int(at)) for sid, total, at in rows}


# --------------------------------------------------------------------------- registration burst


def _local_day(column):
    """The local calendar day of a UTC timestamp column, on either engine."""
    # Constants inline, not bound: the expression is both selected and grouped by, and PostgreSQL accepts
    # that only when the two are the same text (two parameters $1, $2 would not be).
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(literal_column("'Asia/Shanghai'"), column), Date)
    return func.date(column, literal_column(f"'+{LOCAL_OFFSET_HOURS} hours'"))


def _burst_flags(supplier_ids: set[int]) -> dict[int, Flag]:
    """supplier id -> its burst flag, from one query: per supplier and local day, customers created that day."""
    if not supplier_ids:
        return {}
    day = _local_day(Enterprise.created_at)
    customers = (select(Application.supplier_id.label("sid"), Application.enterprise_id.label("eid"))
                 .where(Application.supplier_id.in_(supplier_ids), Application.submitted_at.is_not(None))
                 .distinct().subquery())
    rows = db.session.execute(
        select(customers.c.sid, day, func.count())
        .join(Enterprise, Enterprise.id == customers.c.eid)
        .group_by(customers.c.sid, day)).all()
    per_supplier: dict[int, dict[dt.date, int]] = defaultdict(dict)
    for sid, d, n in rows:
        if d is not None:
            per_supplier[sid][d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)[:10])] = int(n)
    out = {}
    for sid, days in per_supplier.items():
        total = sum(days.values())
        if total < BURST_MIN_CUSTOMERS:
            continue
        best, start = 0, None
        for d in sorted(days):  # every window that starts on a day with registrations; the earliest wins a tie
            n = sum(days.get(d + dt.timedelta(days=i), 0) for i in range(BURST_DAYS))
            if n > best:
                best, start = n, d
        if best >= BURST_SHARE * total:
            end = start + dt.timedelta(days=BURST_DAYS - 1)
            out[sid] = Flag("registration_burst", "供应商的客户集中在几天内注册",
                            f"该供应商的 {total} 家客户企业中有 {best} 家（{best * 100 // total}%）于 "
                            f"{start.isoformat()} 至 {end.isoformat()} 在平台注册")
    return out


# --------------------------------------------------------------------------- batches


def _users_of(ent_ids: set[int], sup_ids: set[int]) -> list[tuple]:
    if not ent_ids and not sup_ids:
        return []
    return db.session.execute(
        select(User.enterprise_id, User.supplier_id, func.coalesce(func.nullif(User.display_name, ""), User.username),
               User.phone)
        .where(or_(User.enterprise_id.in_(ent_ids), User.supplier_id.in_(sup_ids)), User.phone != "")).all()


def _events_of(keys: list[tuple[str, int]]) -> dict[tuple[str, int], list[tuple]]:
    """(entity type, id) -> its events' (entity_type, action, body, ip), read along ix_audit_entity."""
    out: dict[tuple[str, int], list[tuple]] = defaultdict(list)
    if not keys:
        return out
    rows = db.session.execute(
        select(AuditEvent.entity_type, AuditEvent.entity_id, AuditEvent.action, AuditEvent.body, AuditEvent.ip)
        .where(tuple_(AuditEvent.entity_type, AuditEvent.entity_id).in_(keys), AuditEvent.ip != "")).all()
    for entity, eid, action, body, ip in rows:
        out[(entity, eid)].append((entity, action, body, ip))
    return out


def _flag_apps(apps: list[Application], extra_events: dict[int, list[tuple]] | None = None) -> dict[int, list[Flag]]:
    """Application id -> flags. extra_events: application id -> more events to compare (a settlement's)."""
    apps = [a for a in apps if a.supplier_id is not None]
    if not apps:
        return {}
    ent_ids = {a.enterprise_id for a in apps}
    sup_ids = {a.supplier_id for a in apps}
    # Read once for the batch (held here: the session's identity map alone keeps only weak references).
    enterprises = {e.id: e for e in db.session.execute(select(Enterprise).where(Enterprise.id.in_(ent_ids))).scalars()}
    suppliers = {s.id: s for s in db.session.execute(select(Supplier).where(Supplier.id.in_(sup_ids))).scalars()}
    users = _users_of(ent_ids, sup_ids)
    events = _events_of([("application", a.id) for a in apps])
    item_ids = {a.catalog_item_id for a in apps if a.catalog_item_id is not None and a.contract_fee_fen is not None}
    ranks = _fee_ranks(item_ids)
    caps = dict(db.session.execute(select(CatalogItem.id, CatalogItem.cap_fen).where(CatalogItem.id.in_(item_ids))
                                   ).all()) if item_ids else {}
    at_cap_sups = {a.supplier_id for a in apps
                   if a.catalog_item_id in caps and a.contract_fee_fen == caps[a.catalog_item_id]}
    at_cap = _at_cap_counts(at_cap_sups)
    bursts = _burst_flags(sup_ids)
    out = {}
    for a in apps:
        ent, sup = enterprises[a.enterprise_id], suppliers[a.supplier_id]
        flags = _contact_flags(ent, sup, users)
        flags += _ip_flags(events.get(("application", a.id), []) + (extra_events or {}).get(a.id, []),
                           ent.id, sup.id)
        flags += _fee_flags(a, ranks, caps, at_cap)
        if sup.id in bursts:
            flags.append(bursts[sup.id])
        out[a.id] = flags
    return out


def for_applications(apps: list[Application]) -> dict[int, list[Flag]]:
    """Application id -> its flags (an empty list when none), for a page of applications."""
    found = _flag_apps(list(apps))
    return {a.id: found.get(a.id, []) for a in apps}


def for_application(a: Application) -> list[Flag]:
    return for_applications([a])[a.id]


def for_settlements(settlements: list[Settlement]) -> dict[int, list[Flag]]:
    """Settlement id -> its flags: its application's, with the settlement's own submission and confirmation
    compared for the IP address as well."""
    settlements = list(settlements)
    if not settlements:
        return {}
    pairs = db.session.execute(
        select(Voucher.id, Application).join(Application, Application.id == Voucher.application_id)
        .where(Voucher.id.in_({st.voucher_id for st in settlements}))).all()
    app_of_voucher = {vid: a for vid, a in pairs}
    events = _events_of([("settlement", st.id) for st in settlements])
    extra = defaultdict(list)
    for st in settlements:
        a = app_of_voucher.get(st.voucher_id)
        if a is not None:
            extra[a.id] += events.get(("settlement", st.id), [])
    found = _flag_apps(list(app_of_voucher.values()), extra)
    return {st.id: found.get(app_of_voucher[st.voucher_id].id, []) if st.voucher_id in app_of_voucher else []
            for st in settlements}


def for_settlement(st: Settlement) -> list[Flag]:
    return for_settlements([st])[st.id]
