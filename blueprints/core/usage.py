"""Usage verification from connection metadata (VER-1, VER-3, SET-5, SUP-6).

The enterprise declares, per voucher, its enterprise-side addresses (IP, CIDR range, line number); the
supplier's cloud-side endpoints are on its profile. The import engine (connections.py) turns connection
records into the distinct Beijing-time days on which a voucher's enterprise reached its supplier and
hands them to record_days(); nothing else of a record is kept. A voucher's usage is verified when it has
at least N such days after the contract's signing day (N: the cycle's verification_days), unless the
province overrode it either way with a recorded reason. Verified vouchers move their waiting
settlements on to the city (settlement.advance_verified). Functions only flush; callers commit.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import re
import unicodedata
from dataclasses import dataclass

from blueprints.core import audit, notices
from blueprints.core.timeutil import now, today
from models import (
    SetStatus, Settlement, UsageDay, Voucher, VoucherAddress, VoucherStatus, VoucherUsage, db,
)

MAX_V4_PREFIX = 24  # a declared IPv4 range is no wider than /24
MAX_V6_PREFIX = 48
MAX_ADDRESSES = 50  # per voucher
LINE_RE = re.compile(r"^[A-Z0-9][A-Z0-9\-_/.]{3,39}$")
HEALTH_DAYS_BEFORE = 15  # the usage health notice, days before the settlement deadline
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class AddressError(ValueError):
    """A declared address that cannot be used; the message (Chinese) says why."""


# --------------------------------------------------------------------------- addresses


def parse_declared(text: str) -> tuple[str, str]:
    """(kind, normalised value) of an enterprise-side address as typed, or AddressError (VER-1)."""
    raw = unicodedata.normalize("NFKC", text or "").strip()
    if not raw:
        raise AddressError("请填写地址或专线号")
    if "/" in raw or ":" in raw or re.fullmatch(r"[\d.]+", raw):
        try:
            if "/" in raw:
                net = ipaddress.ip_network(raw, strict=False)
                kind = "net"
            else:
                net = ipaddress.ip_network(ipaddress.ip_address(raw))
                kind = "ip"
        except ValueError:
            raise AddressError(f"“{raw}”不是有效的 IP 地址或网段（例如 121.8.10.10、121.8.10.0/24、240e:3a1:1::/48）") from None
        limit = MAX_V4_PREFIX if net.version == 4 else MAX_V6_PREFIX
        if net.prefixlen < limit:
            raise AddressError(f"网段 {net} 过大：IPv{net.version} 网段最大为 /{limit}")
        if not net.is_global:
            shown = net.network_address if net.num_addresses == 1 else net
            raise AddressError(f"{shown} 不是公网地址：请填写运营商分配给贵企业的公网出口地址")
        if kind == "ip" or net.num_addresses == 1:
            return "ip", str(net.network_address)
        return "net", str(net)
    if DOMAIN_RE.match(raw.lower().rstrip(".")) and re.search(r"[a-z]", raw.lower().rsplit(".", 1)[-1]):
        raise AddressError(f"“{raw}”是域名，不是企业端地址：请填写贵企业的公网出口 IP 地址、网段或专线号"
                           "（云端的域名由供应商在单位资料中填写）")
    line = raw.upper().replace(" ", "")
    if not LINE_RE.match(line):
        raise AddressError(f"“{raw}”不是有效的地址或专线号（专线号为 4 至 40 位字母、数字或 - _ / .）")
    return "line", line


def addresses_of(voucher_id: int) -> list[VoucherAddress]:
    return list(db.session.execute(
        db.select(VoucherAddress).where(VoucherAddress.voucher_id == voucher_id).order_by(VoucherAddress.id)).scalars())


def addresses_editable(v: Voucher) -> str | None:
    """Why the declared addresses can no longer change (VER-1: until its settlement is approved), or None."""
    if v.status != VoucherStatus.ISSUED:
        return "该服务券已作废或已放弃"
    approved = db.session.execute(db.select(Settlement.id).where(
        Settlement.voucher_id == v.id, Settlement.status == SetStatus.APPROVED)).first()
    if approved is not None:
        return "兑现申请已审核通过，地址不能再修改"
    return None


def add_address(v: Voucher, text: str, user) -> VoucherAddress:
    problem = addresses_editable(v)
    if problem:
        raise AddressError(problem)
    kind, value = parse_declared(text)
    existing = addresses_of(v.id)
    if any(a.value == value for a in existing):
        raise AddressError(f"{value} 已经申报过")
    if len(existing) >= MAX_ADDRESSES:
        raise AddressError(f"每张服务券最多申报 {MAX_ADDRESSES} 个地址或专线号")
    a = VoucherAddress(voucher_id=v.id, kind=kind, value=value)
    db.session.add(a)
    db.session.flush()
    audit.record("voucher", v.id, "address_add", actor=user, reason=value, data={"kind": kind, "value": value})
    return a


def remove_address(v: Voucher, address_id: int, user) -> bool:
    problem = addresses_editable(v)
    if problem:
        raise AddressError(problem)
    a = db.session.get(VoucherAddress, address_id)
    if a is None or a.voucher_id != v.id:
        return False
    audit.record("voucher", v.id, "address_remove", actor=user, reason=a.value, data={"kind": a.kind, "value": a.value})
    db.session.delete(a)
    db.session.flush()
    return True


# --------------------------------------------------------------------------- endpoints and matching


def parse_endpoint(text: str):
    """A supplier's cloud-side endpoint: an ip_network, or a lower-case domain name; None when neither."""
    raw = unicodedata.normalize("NFKC", text or "").strip().lower().rstrip(".")
    if not raw:
        return None
    try:
        return ipaddress.ip_network(raw, strict=False)
    except ValueError:
        pass
    return raw if DOMAIN_RE.match(raw) else None


def domain_matches(host: str, domain: str) -> bool:
    """Equal, or a subdomain: api.example.com matches example.com; evil-example.com does not."""
    host = (host or "").strip().lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


# --------------------------------------------------------------------------- status and the rule


@dataclass(frozen=True)
class Status:
    days: int
    needed: int
    first_day: dt.date | None
    last_day: dt.date | None
    override: str  # "" | verified | not_verified
    override_reason: str
    verified: bool

    @property
    def text(self) -> str:
        if self.override == "verified":
            return f"省级核定为已完成：{self.override_reason}"
        if self.override == "not_verified":
            return f"省级核定为未完成：{self.override_reason}"
        seen = f"，最近一次 {self.last_day:%Y-%m-%d}" if self.last_day else ""
        if self.verified:
            return f"已完成：{self.days} 天有连接记录（要求 {self.needed} 天）{seen}"
        return f"已计 {self.days} / {self.needed} 天{seen}"

    @property
    def text_shown(self) -> str:
        """`text` in the reader's language, for pages (`text` goes into stored notices)."""
        from flask_babel import gettext as _

        if self.override == "verified":
            return _("省级核定为已完成：%(reason)s", reason=self.override_reason)
        if self.override == "not_verified":
            return _("省级核定为未完成：%(reason)s", reason=self.override_reason)
        seen = _("，最近一次 %(day)s", day=f"{self.last_day:%Y-%m-%d}") if self.last_day else ""
        if self.verified:
            return _("已完成：%(days)s 天有连接记录（要求 %(needed)s 天）", days=self.days, needed=self.needed) + seen
        return _("已计 %(days)s / %(needed)s 天", days=self.days, needed=self.needed) + seen


def status(v: Voucher, usage: VoucherUsage | None = None) -> Status:
    """VER-3 for one voucher (pass `usage` when already loaded)."""
    u = usage if usage is not None else db.session.get(VoucherUsage, v.id)
    needed = v.cycle.verification_days or 5
    days = u.days if u else 0
    override = u.override if u else ""
    verified = override == "verified" or (override != "not_verified" and days >= needed)
    return Status(days, needed, u.first_day if u else None, u.last_day if u else None, override,
                  u.override_reason if u else "", verified)


def is_verified(v: Voucher) -> bool:
    return status(v).verified


@dataclass(frozen=True)
class Recorded:
    """What record_days stored: how many new (voucher, day) rows, and the vouchers that gained one."""

    days: int
    vouchers: list[int]


_CHUNK = 50_000  # (voucher, day) pairs per statement


def record_days(pairs, import_id: int | None) -> Recorded:
    """Store the (voucher_id, day) pairs an import found; a day already known is skipped by the database
    itself (ON CONFLICT DO NOTHING on the primary key), so concurrent imports proving the same days store
    each once and neither fails. The caller has already dropped days on or before each voucher's contract
    date. PostgreSQL gets the pairs as two arrays (one statement per 50,000), SQLite as a multi-row insert."""
    pairs = sorted(set(pairs))
    if not pairs:
        return Recorded(0, [])
    new: list[int] = []
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        stmt = db.text(
            "INSERT INTO usage_day (voucher_id, day, import_id) SELECT v, d, :import_id "
            "FROM unnest(:vids, :days) AS t(v, d) ON CONFLICT DO NOTHING RETURNING voucher_id"
        ).bindparams(db.bindparam("vids", type_=ARRAY(db.Integer)), db.bindparam("days", type_=ARRAY(db.Date)))
        for i in range(0, len(pairs), _CHUNK):
            chunk = pairs[i:i + _CHUNK]
            new += db.session.execute(stmt, {"import_id": import_id, "vids": [v for v, _ in chunk],
                                             "days": [d for _, d in chunk]}).scalars().all()
    else:
        from sqlalchemy.dialects.sqlite import insert

        stmt = insert(UsageDay).on_conflict_do_nothing().returning(UsageDay.voucher_id)
        for i in range(0, len(pairs), _CHUNK):
            rows = [{"voucher_id": v, "day": d, "import_id": import_id} for v, d in pairs[i:i + _CHUNK]]
            new += db.session.execute(stmt, rows).scalars().all()
    return Recorded(len(new), sorted(set(new)))


def _ids_param(ids: list[int]):
    """`column IN ids` as one array parameter on PostgreSQL (one plan, no parameter limit), else IN (...)."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return lambda col: col == db.any_(db.bindparam(None, ids, type_=ARRAY(db.Integer)))
    return lambda col: col.in_(ids)


def refresh(voucher_ids) -> list[int]:
    """Recompute the summaries of these vouchers from their usage days, in the database (a few statements
    per 5,000 vouchers); stamp verified_at on those whose days now reach N; move the settlements of those
    that became verified on to the city (SET-5). Returns the ids that became verified."""
    from blueprints.core import settlement
    from models import Cycle

    ids = sorted(set(voucher_ids))
    became: list[int] = []
    pg = db.session.get_bind().dialect.name == "postgresql"
    if pg:
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    for i in range(0, len(ids), 5000):
        chunk = ids[i:i + 5000]
        within = _ids_param(chunk)
        db.session.execute(insert(VoucherUsage).from_select(
            ["voucher_id", "days", "override", "override_reason"],
            db.select(Voucher.id, db.literal(0), db.literal(""), db.literal("")).where(within(Voucher.id)),
        ).on_conflict_do_nothing())
        if pg:  # a concurrent import's days, once it commits, are counted by the statements below
            db.session.execute(db.select(VoucherUsage.voucher_id).where(within(VoucherUsage.voucher_id))
                               .order_by(VoucherUsage.voucher_id).with_for_update())
        mine = UsageDay.voucher_id == VoucherUsage.voucher_id
        db.session.execute(
            db.update(VoucherUsage).where(within(VoucherUsage.voucher_id)).values(
                days=db.select(db.func.count()).where(mine).scalar_subquery(),
                first_day=db.select(db.func.min(UsageDay.day)).where(mine).scalar_subquery(),
                last_day=db.select(db.func.max(UsageDay.day)).where(mine).scalar_subquery(),
            ).execution_options(synchronize_session=False))
        crossed = db.session.execute(
            db.select(VoucherUsage.voucher_id, VoucherUsage.override)
            .join(Voucher, Voucher.id == VoucherUsage.voucher_id).join(Cycle, Cycle.id == Voucher.cycle_id)
            .where(within(VoucherUsage.voucher_id), VoucherUsage.verified_at.is_(None),
                   VoucherUsage.days >= db.func.coalesce(Cycle.verification_days, 5))).all()
        if crossed:
            db.session.execute(db.update(VoucherUsage).where(
                VoucherUsage.voucher_id.in_([vid for vid, _ in crossed])).values(verified_at=now())
                .execution_options(synchronize_session=False))
            became += [vid for vid, override in crossed if not override]  # an override decided it already
    touched = set(ids)
    for obj in list(db.session.identity_map.values()):  # loaded summaries read the new figures
        if isinstance(obj, VoucherUsage) and obj.voucher_id in touched:
            db.session.expire(obj)
    if became:
        waiting = db.session.execute(db.select(Settlement).where(
            Settlement.voucher_id.in_(became), Settlement.status == SetStatus.VERIFICATION)).scalars().all()
        for s in waiting:
            settlement.advance_verified(s)
    return sorted(became)


def override(v: Voucher, user, decision: str, reason: str) -> None:
    """The province marks a voucher's usage verified or not, whatever the data says (VER-3), with a reason;
    decision "" removes the override."""
    from blueprints.core import settlement
    from blueprints.core.application import Refused

    reason = (reason or "").strip()
    if decision not in ("verified", "not_verified", ""):
        raise Refused("未知的核定结论")
    if decision and not reason:
        raise Refused("请填写核定理由（例如现场核查的结论）")
    u = db.session.get(VoucherUsage, v.id)
    if u is None:
        u = VoucherUsage(voucher_id=v.id, days=0, override="", override_reason="")
        db.session.add(u)
    before = u.override
    u.override, u.override_reason = decision, reason
    u.override_by, u.override_at = getattr(user, "id", None), now()
    db.session.flush()
    said = {"verified": "核定为已完成：", "not_verified": "核定为未完成："}.get(decision, "")
    audit.record("voucher", v.id, "usage_override" if decision else "usage_override_removed", actor=user,
                 reason=said + reason if reason else said.rstrip("："), data={"from": before, "to": decision})
    if status(v, u).verified:
        s = db.session.execute(db.select(Settlement).where(Settlement.voucher_id == v.id)).scalar_one_or_none()
        if s is not None and s.status == SetStatus.VERIFICATION:
            settlement.advance_verified(s)


def health_notices(on: dt.date | None = None) -> int:
    """HEALTH_DAYS_BEFORE days before a cycle's settlement deadline: a notice to the enterprise and the
    supplier of every issued voucher still short of its N days (once per voucher). Returns how many."""
    from blueprints.core.application import link
    from models import Cycle

    on = on or today()
    rows = db.session.execute(
        db.select(Voucher, VoucherUsage).join(Cycle, Cycle.id == Voucher.cycle_id)
        .outerjoin(VoucherUsage, VoucherUsage.voucher_id == Voucher.id)
        .where(Voucher.status == VoucherStatus.ISSUED,
               Voucher.id.not_in(db.select(Settlement.voucher_id).where(Settlement.status == SetStatus.APPROVED)),
               Cycle.settlement_deadline <= on + dt.timedelta(days=HEALTH_DAYS_BEFORE),
               Cycle.settlement_deadline >= on,
               db.or_(VoucherUsage.voucher_id.is_(None), VoucherUsage.warned_at.is_(None)))
        .order_by(Voucher.id)).all()
    sent = 0
    for v, u in rows:
        st = status(v, u)
        if st.verified:
            continue
        if u is None:
            u = VoucherUsage(voucher_id=v.id, days=0, override="", override_reason="")
            db.session.add(u)
        u.warned_at = now()
        body = (f"{v.enterprise.name}：{st.text}。兑现截止日 {v.cycle.settlement_deadline:%Y-%m-%d} 前须满 {st.needed} 天；"
                "请核对申报的企业端地址是否正确、服务是否在用。")
        notices.notify_org(enterprise_id=v.enterprise_id, title="服务券上云用量尚未达标",
                           body=body, link=link("enterprise.voucher_detail", voucher_id=v.id))
        notices.notify_org(supplier_id=v.supplier_id, title="客户服务券上云用量尚未达标", body=body,
                           link=link("supplier.voucher_detail", voucher_id=v.id))
        sent += 1
    db.session.flush()
    return sent
