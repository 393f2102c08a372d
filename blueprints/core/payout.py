"""Settlement lists, publicity, objections and budget-bound payout (PUB-1..4, PAY-1..7, PIL-3, DOC-2).

A city gathers its approved, not yet listed settlements into a list for a settlement period (a draft),
publishes it for at least 7 full calendar days (PUB-1), answers objections (an entry under an
unresolved objection is held, PUB-4; what the city cannot settle goes to the province, PUB-3), and
after publicity pays in payout batches against its budgets for the period.

Who is paid is decided by one pure function, allocate(): pilot entries first from the pilot fund while
it covers the whole amount (PAY-5), then the general queue strictly in order (PAY-3): pilot entries the
fund could not cover, carried-over entries (PAY-4), the rest in settlement submission order (PAY-2);
the first entry that does not fit stops the queue. The same function answers "where am I in the
queue" on the settlement pages and the public list, so the position shown is the payout's.

Confirming a batch runs in one transaction: the budgets are locked, the allocation is computed again
and must equal what the officer saw, the entries move listed -> committed with a conditional update
and the budgets' committed_fen grows with conditional updates (and a CHECK constraint) that can never
pass the cap (PAY-6). Functions only flush; callers commit.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field

from blueprints.core import audit, notices, workflow
from blueprints.core.application import Refused, link
from blueprints.core.cycles import parse_period, period_label
from blueprints.core.money import yuan
from blueprints.core.timeutil import now, today
from models import (
    Budget, EntryStatus, ListEntry, ListStatus, Objection, ObjectionEntry, ObjStatus, PayoutBatch, SetStatus,
    Settlement, SettlementList, Voucher, db,
)

MIN_PUBLICITY_DAYS = 7
MAX_PUBLICITY_DAYS = 30
TRACKING_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
LIVE = (EntryStatus.LISTED, EntryStatus.HELD, EntryStatus.COMMITTED, EntryStatus.PAID)
UNRESOLVED = (ObjStatus.OPEN, ObjStatus.ESCALATED)


class Stale(Refused):
    """What the officer saw changed meanwhile (-> 409): look again before confirming."""


# --------------------------------------------------------------------------- the allocation (pure)


@dataclass(frozen=True)
class Item:
    """One payable entry as the allocation sees it."""

    id: int
    amount: int  # fen: face value + bonus (PAY-7)
    pilot: bool = False
    carried: bool = False  # listed in an earlier period and still unpaid (PAY-4)
    order: tuple = ()  # (submitted_at, id): settlement submission order (PAY-2)


@dataclass(frozen=True)
class Allocation:
    paid: tuple  # ((Item, "pilot" | "general"), ...) in payout order
    waiting: tuple  # (Item, ...) in queue order: they come first next time (PAY-4)
    queue: tuple  # ((Item, fund or None), ...): every item in the order it is served
    pilot_left: int
    general_left: int

    @property
    def pilot_fen(self) -> int:
        return sum(i.amount for i, f in self.paid if f == "pilot")

    @property
    def general_fen(self) -> int:
        return sum(i.amount for i, f in self.paid if f == "general")

    def place_of(self, item_id: int):
        """(position from 1, amount ahead in fen, fund or None) of an item, or None."""
        ahead = 0
        for n, (item, fund) in enumerate(self.queue, 1):
            if item.id == item_id:
                return n, ahead, fund
            ahead += item.amount
        return None


def allocate(items, *, general_left: int, pilot_left: int) -> Allocation:
    """Who is paid now, from which fund, and who waits (PAY-2, PAY-3, PAY-4, PAY-5).

    Pilot items in their order are paid from the pilot fund while it covers the whole amount; the first
    it cannot cover and every later pilot item go to the front of the general queue. The general queue
    (those pilot items, then carried-over items, then the others, each group in submission order) is paid
    strictly in order: the first item that does not fit the general budget stops it, and it and every
    later item wait. Never a partial payment, never one payment split between funds."""
    items = list(items)
    if len({i.id for i in items}) != len(items):
        raise ValueError("an item appears twice")
    if any(i.amount <= 0 for i in items):
        raise ValueError("amounts are positive")
    key = lambda i: (i.order, i.id)  # noqa: E731
    pilots = sorted((i for i in items if i.pilot), key=lambda i: (not i.carried, *key(i)))
    others = sorted((i for i in items if not i.pilot), key=lambda i: (not i.carried, *key(i)))
    paid, queue = [], []
    overflow = []
    for n, item in enumerate(pilots):
        if item.amount <= pilot_left:
            pilot_left -= item.amount
            paid.append((item, "pilot"))
            queue.append((item, "pilot"))
        else:  # the pilot fund stops here: this and every later pilot item join the general queue
            overflow = pilots[n:]
            break
    waiting = []
    stopped = False
    for item in overflow + others:
        if not stopped and item.amount <= general_left:
            general_left -= item.amount
            paid.append((item, "general"))
            queue.append((item, "general"))
        else:
            stopped = True
            waiting.append(item)
            queue.append((item, None))
    return Allocation(tuple(paid), tuple(waiting), tuple(queue), pilot_left, general_left)


# --------------------------------------------------------------------------- periods


def period_key(period: str) -> tuple[int, int]:
    y, n = period.split("-")
    return int(y), int(n)


def current_period(city_code: str) -> str | None:
    """The city's latest settlement period with a budget (the one payouts run against now)."""
    periods = db.session.execute(db.select(Budget.period).where(Budget.city_code == city_code).distinct()).scalars()
    found = sorted((p for p in periods if parse_period(p) == p), key=period_key)
    return found[-1] if found else None


def budgets_left(city_code: str, period: str) -> tuple[int, int]:
    """(general, pilot) fen left in the city's budgets for the period."""
    left = {"general": 0, "pilot": 0}
    for kind, cap, committed in db.session.execute(db.select(Budget.kind, Budget.cap_fen, Budget.committed_fen).where(
            Budget.city_code == city_code, Budget.period == period)).all():
        left[kind] = cap - committed
    return left["general"], left["pilot"]


# --------------------------------------------------------------------------- lists


def unlisted(city_code: str):
    """The city's approved settlements on no live list entry, in submission order (the next list)."""
    live = db.select(ListEntry.settlement_id).where(ListEntry.status.in_(LIVE))
    return (db.select(Settlement).where(Settlement.city_code == city_code, Settlement.status == SetStatus.APPROVED,
                                        Settlement.id.not_in(live))
            .order_by(Settlement.submitted_at, Settlement.id))


def create_list(city_code: str, period: str, user) -> SettlementList:
    """A draft list of every approved, not yet listed settlement of the city (DOC-2), in submission order."""
    if parse_period(period) != period:
        raise Refused("结算期格式为“年份-期次”，如 2026-1")
    rows = db.session.execute(unlisted(city_code).add_columns(Voucher).join(
        Voucher, Voucher.id == Settlement.voucher_id)).all()
    if not rows:
        raise Refused("没有待列入结算清单的兑现申请（地市审核通过后才能列入）")
    seq = (db.session.execute(db.select(db.func.max(SettlementList.seq)).where(
        SettlementList.city_code == city_code, SettlementList.period == period)).scalar() or 0) + 1
    lst = SettlementList(city_code=city_code, period=period, seq=seq, status=ListStatus.DRAFT,
                         created_by=getattr(user, "id", None))
    db.session.add(lst)
    db.session.flush()
    total = 0
    entries = []
    for n, (st, v) in enumerate(rows, 1):
        amount = v.face_value_fen + (st.bonus_fen or 0)
        total += amount
        entries.append(dict(list_id=lst.id, settlement_id=st.id, voucher_id=v.id, city_code=city_code, seq=n,
                            submitted_at=st.submitted_at, face_fen=v.face_value_fen, bonus_fen=st.bonus_fen or 0,
                            amount_fen=amount, pilot=bool(v.pilot), status=EntryStatus.LISTED, version=1))
    db.session.execute(db.insert(ListEntry), entries)
    lst.entries_count, lst.total_fen = len(entries), total
    db.session.flush()
    audit.record("settlement_list", lst.id, "create", actor=user, to_state=lst.status,
                 data={"period": period, "seq": seq, "entries": len(entries), "total_fen": total})
    return lst


def discard_list(lst: SettlementList, user) -> None:
    """A draft list is given up: its settlements are free for the next list."""
    if lst.status != ListStatus.DRAFT:
        raise Refused("已公示的结算清单不能删除")
    workflow.apply(lst, "discard", user)
    db.session.execute(db.update(ListEntry).where(ListEntry.list_id == lst.id).values(
        status=EntryStatus.REMOVED, version=ListEntry.version + 1).execution_options(synchronize_session=False))
    db.session.flush()


def publish(lst: SettlementList, user, days: int = MIN_PUBLICITY_DAYS) -> None:
    """PUB-1: public for `days` full calendar days after today; objections until then, payout after."""
    if lst.status != ListStatus.DRAFT:
        raise Refused("该结算清单已公示")
    if not isinstance(days, int) or not MIN_PUBLICITY_DAYS <= days <= MAX_PUBLICITY_DAYS:
        raise Refused(f"公示期为 {MIN_PUBLICITY_DAYS} 至 {MAX_PUBLICITY_DAYS} 天")
    live = db.session.execute(db.select(db.func.count()).select_from(ListEntry).where(
        ListEntry.list_id == lst.id, ListEntry.status == EntryStatus.LISTED)).scalar_one()
    if not live:
        raise Refused("结算清单中没有条目")
    ends_on = today() + dt.timedelta(days=days)
    workflow.apply(lst, "publish", user, data={"days": days, "ends_on": ends_on.isoformat()})
    lst.publicity_days = days
    lst.published_at, lst.published_by = now(), getattr(user, "id", None)
    lst.publicity_ends_on = ends_on
    db.session.flush()
    body = (f"{lst.title}已在平台公示，公示期至 {lst.publicity_ends_on:%Y-%m-%d}；"
            "如有异议，可在公示期内提出。公示期满后按提交兑现申请的先后顺序在预算内支付。")
    pairs = db.session.execute(db.select(Settlement.id, Settlement.enterprise_id, Settlement.supplier_id).join(
        ListEntry, ListEntry.settlement_id == Settlement.id).where(ListEntry.list_id == lst.id)).all()
    for st_id, ent_id, sup_id in pairs:
        notices.notify_org(enterprise_id=ent_id, title="您的兑现申请已列入结算清单公示", body=body,
                           link=link("enterprise.settlement_detail", st_id=st_id))
    for sup_id in sorted({p[2] for p in pairs}):
        notices.notify_org(supplier_id=sup_id, title="客户的兑现申请已列入结算清单公示", body=body,
                           link=link("public.settlement_list", list_id=lst.id))


def in_publicity(lst: SettlementList, on: dt.date | None = None) -> bool:
    on = on or today()
    return lst.status == ListStatus.PUBLISHED and lst.publicity_ends_on is not None and on <= lst.publicity_ends_on


def publicity_over(lst: SettlementList, on: dt.date | None = None) -> bool:
    on = on or today()
    return lst.status == ListStatus.PUBLISHED and lst.publicity_ends_on is not None and on > lst.publicity_ends_on


# --------------------------------------------------------------------------- objections


def _tracking_no() -> str:
    return "YY" + "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(10))


PHONE_RE = re.compile(r"^1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


@dataclass
class ObjectionInput:
    entry_ids: list[int]
    text: str
    contact_name: str = ""
    contact: str = ""
    errors: dict = field(default_factory=dict)


def check_objection(lst: SettlementList, data: ObjectionInput, *, public: bool) -> dict[str, str]:
    """Field errors (Chinese) of an objection; empty when it may be raised."""
    errors: dict[str, str] = {}
    if not in_publicity(lst):
        errors[""] = "该结算清单不在公示期内，不能再提出异议"
    if not data.entry_ids:
        errors["entries"] = "请选择有异议的条目（可多选）"
    else:
        found = set(db.session.execute(db.select(ListEntry.id).where(
            ListEntry.list_id == lst.id, ListEntry.id.in_(data.entry_ids),
            ListEntry.status.in_((EntryStatus.LISTED, EntryStatus.HELD)))).scalars())
        if found != set(data.entry_ids):
            errors["entries"] = "所选条目不在该结算清单上或已撤下，请刷新后重新选择"
    text = (data.text or "").strip()
    if len(text) < 10:
        errors["text"] = "请写明异议的事实和理由（至少 10 个字）"
    elif len(text) > 2000:
        errors["text"] = "异议内容最多 2000 字"
    if public:
        if not (data.contact_name or "").strip():
            errors["contact_name"] = "请填写您的姓名或单位"
        contact = (data.contact or "").strip()
        if not (PHONE_RE.match(contact.replace(" ", "")) or EMAIL_RE.match(contact)):
            errors["contact"] = "请填写有效的手机号、座机号或电子邮箱，以便地市核实"
    return errors


def raise_objection(lst: SettlementList, data: ObjectionInput, *, user=None, file_ids=()) -> Objection:
    """PUB-2: an objection against entries of a list in publicity; the entries are held (PUB-4)."""
    public = user is None
    errors = check_objection(lst, data, public=public)
    if errors:
        raise Refused("；".join(errors.values()))
    obj = Objection(tracking_no=_tracking_no(), list_id=lst.id, city_code=lst.city_code, status=ObjStatus.OPEN,
                    raised_by=getattr(user, "id", None), enterprise_id=getattr(user, "enterprise_id", None),
                    supplier_id=getattr(user, "supplier_id", None),
                    contact_name=(data.contact_name or getattr(user, "display_name", "") or "").strip()[:100],
                    contact=(data.contact or "").strip()[:100], text=data.text.strip(), file_ids=list(file_ids))
    db.session.add(obj)
    db.session.flush()
    ids = sorted(set(data.entry_ids))
    db.session.execute(db.insert(ObjectionEntry), [{"objection_id": obj.id, "entry_id": i} for i in ids])
    entries = db.session.execute(db.select(ListEntry).where(ListEntry.id.in_(ids))).scalars().all()
    for e in entries:
        if e.status == EntryStatus.LISTED:
            e.status = EntryStatus.HELD
            audit.record("list_entry", e.id, "hold", actor=user, from_state=EntryStatus.LISTED, to_state=e.status,
                         data={"objection": obj.tracking_no})
    db.session.flush()
    audit.record("objection", obj.id, "raise", actor=user, to_state=obj.status,
                 data={"tracking_no": obj.tracking_no, "entries": ids, "public": public})
    notices.notify_org(city_code=lst.city_code, title="结算清单收到异议",
                       body=f"{lst.title}：{len(ids)} 个条目，受理编号 {obj.tracking_no}",
                       link=link("city.objection_detail", obj_id=obj.id))
    for e in entries:
        st = e.settlement
        notices.notify_org(enterprise_id=st.enterprise_id, title="您的结算清单条目收到异议，暂缓支付",
                           body=f"受理编号 {obj.tracking_no}；地市核实处理后将通知您。",
                           link=link("enterprise.settlement_detail", st_id=st.id))
    return obj


def _release_or_remove(obj: Objection, user, decision: str) -> None:
    """Apply a final decision to the objection's entries: upheld takes them off the list and sends their
    settlements back to the city's review; dismissed releases each entry no other objection holds."""
    from blueprints.core import settlement as settle

    for e in obj.entries:
        if decision == ObjStatus.UPHELD and e.status in (EntryStatus.LISTED, EntryStatus.HELD):
            before = e.status
            e.status = EntryStatus.REMOVED
            audit.record("list_entry", e.id, "remove", actor=user, from_state=before, to_state=e.status,
                         reason=obj.answer, data={"objection": obj.tracking_no})
            st = e.settlement
            if st.status == SetStatus.APPROVED:
                settle.reopen(st, user, f"结算清单异议成立（受理编号 {obj.tracking_no}）：{obj.answer}")
        elif decision == ObjStatus.DISMISSED and e.status == EntryStatus.HELD:
            others = db.session.execute(db.select(Objection.id).join(
                ObjectionEntry, ObjectionEntry.objection_id == Objection.id).where(
                ObjectionEntry.entry_id == e.id, Objection.id != obj.id,
                Objection.status.in_(UNRESOLVED)).limit(1)).first()
            if others is None:
                e.status = EntryStatus.LISTED
                audit.record("list_entry", e.id, "unhold", actor=user, from_state=EntryStatus.HELD,
                             to_state=e.status, data={"objection": obj.tracking_no})
                notices.notify_org(enterprise_id=e.settlement.enterprise_id, title="异议不成立，您的条目恢复支付排队",
                                   body=f"受理编号 {obj.tracking_no}：{obj.answer}",
                                   link=link("enterprise.settlement_detail", st_id=e.settlement_id))
    db.session.flush()


def _decide(obj: Objection, user, decision: str, answer: str) -> None:
    workflow.apply(obj, decision, user, reason=answer)
    obj.answer = answer
    obj.answered_by, obj.answered_at = getattr(user, "id", None), now()
    db.session.flush()
    _release_or_remove(obj, user, decision)
    label = OBJECTION_LABELS[decision]
    if obj.raised_by:
        notices.notify_users([obj.raised_by], title=f"您的异议已处理：{label}",
                             body=f"受理编号 {obj.tracking_no}：{answer}",
                             link=link("public.objection_lookup", tracking_no=obj.tracking_no))
    if obj.escalated_at is not None:  # the province decided: the city that passed it on hears the outcome
        notices.notify_org(city_code=obj.city_code, title=f"省级已处理结算清单异议：{label}",
                           body=f"受理编号 {obj.tracking_no}：{answer}", link=link("city.objection_detail", obj_id=obj.id))
    for sup_id in sorted({e.settlement.supplier_id for e in obj.entries}):
        notices.notify_org(supplier_id=sup_id, title=f"客户结算清单条目的异议已处理：{label}",
                           body=f"受理编号 {obj.tracking_no}：{answer}")


OBJECTION_LABELS = {ObjStatus.OPEN: "地市处理中", ObjStatus.ESCALATED: "已提交省级处理",
                    ObjStatus.UPHELD: "异议成立", ObjStatus.DISMISSED: "异议不成立"}


def city_answer(obj: Objection, user, decision: str, answer: str) -> None:
    """PUB-2, PUB-3: the city upholds or dismisses an open objection with its answer, or escalates it."""
    answer = (answer or "").strip()
    if obj.status != ObjStatus.OPEN:
        raise Stale("该异议已处理（可能已被他人处理，请刷新页面）")
    if not answer:
        raise Refused("请填写答复（核实的情况和结论）" if decision != "escalate" else "请写明提交省级处理的原因")
    if decision == "escalate":
        workflow.apply(obj, "escalate", user, reason=answer)
        obj.escalated_at, obj.escalation_note = now(), answer
        db.session.flush()
        from models import Role, User

        province = db.session.execute(db.select(User.id).where(User.role == Role.PROVINCE,
                                                               User.is_active.is_(True))).scalars().all()
        notices.notify_users(province, title="地市提交了一件结算清单异议", body=f"受理编号 {obj.tracking_no}：{answer}",
                             link=link("province.objection_detail", obj_id=obj.id))
        return
    if decision not in (ObjStatus.UPHELD, ObjStatus.DISMISSED):
        raise Refused("请选择处理结论")
    _decide(obj, user, decision, answer)


def province_decide(obj: Objection, user, decision: str, answer: str, *, site_check_on: dt.date | None = None,
                    findings: str = "") -> None:
    """PUB-3: the province decides an escalated objection, with the experts' on-site check if there was one."""
    answer = (answer or "").strip()
    if obj.status != ObjStatus.ESCALATED:
        raise Stale("该异议不在省级处理中（可能已被他人处理，请刷新页面）")
    if decision not in (ObjStatus.UPHELD, ObjStatus.DISMISSED):
        raise Refused("请选择处理结论")
    if not answer:
        raise Refused("请填写处理结论的说明")
    if site_check_on is not None:
        if site_check_on > today():
            raise Refused("现场核查日期不能晚于今天")
        if not (findings or "").strip():
            raise Refused("请填写现场核查的发现")
    elif (findings or "").strip():
        raise Refused("填写了现场核查的发现，请同时填写核查日期")
    obj.site_check_on, obj.site_check_findings = site_check_on, (findings or "").strip()
    _decide(obj, user, decision, answer)


def entry_objections(entry_ids) -> dict[int, list[Objection]]:
    ids = list(entry_ids)
    out: dict[int, list[Objection]] = {i: [] for i in ids}
    if not ids:
        return out
    for eid, obj in db.session.execute(db.select(ObjectionEntry.entry_id, Objection).join(
            Objection, Objection.id == ObjectionEntry.objection_id).where(ObjectionEntry.entry_id.in_(ids))
            .order_by(Objection.id)).all():
        out[eid].append(obj)
    return out


# --------------------------------------------------------------------------- payout


def payable_conditions(on: dt.date | None = None) -> tuple:
    """Entries waiting for payout: listed (not held) on a published list whose publicity is over (PUB-1);
    for a select joining ListEntry to SettlementList."""
    on = on or today()
    return (ListEntry.status == EntryStatus.LISTED, SettlementList.status == ListStatus.PUBLISHED,
            SettlementList.publicity_ends_on < on)


def payable(city_code: str, on: dt.date | None = None):
    """The city's entries waiting for payout, in submission order, with the period of their list."""
    return (db.select(ListEntry, SettlementList.period).join(SettlementList, SettlementList.id == ListEntry.list_id)
            .where(ListEntry.city_code == city_code, *payable_conditions(on))
            .order_by(ListEntry.submitted_at, ListEntry.id))


def items_for(city_code: str, period: str, on: dt.date | None = None) -> list[Item]:
    """The city's payable entries as the allocation sees them (columns only: a public page asks this too)."""
    q = payable(city_code, on).with_only_columns(ListEntry.id, ListEntry.amount_fen, ListEntry.pilot,
                                                 ListEntry.submitted_at, SettlementList.period)
    mark = period_key(period)
    return [Item(i, amount, bool(pilot), period_key(listed_in) < mark, (submitted, i))
            for i, amount, pilot, submitted, listed_in in db.session.execute(q).all()]


def propose(city_code: str, period: str, on: dt.date | None = None) -> tuple[Allocation, dict[int, Item]]:
    """The batch a payout for the period would make now, and the items it considered by id."""
    items = items_for(city_code, period, on)
    general, pilot = budgets_left(city_code, period)
    return allocate(items, general_left=general, pilot_left=pilot), {i.id: i for i in items}


def fingerprint(a: Allocation) -> str:
    """What the officer saw: the entries to pay and their funds (the confirm form sends it back)."""
    return ",".join(f"{i.id}:{f[0]}" for i, f in a.paid)


def confirm(city_code: str, period: str, user, seen: str) -> PayoutBatch:
    """PAY-1..6: commit the proposed batch; refuses (Stale) when the queue or the budgets changed since
    the officer looked, and never lets a budget or an entry be used twice, even under parallel requests."""
    from blueprints.core.cycles import budgets_for_update

    if parse_period(period) != period:
        raise Refused("结算期格式为“年份-期次”，如 2026-1")
    budgets = budgets_for_update(city_code, period)  # PostgreSQL: row locks; SQLite: the write transaction
    alloc, entries = propose(city_code, period)
    if fingerprint(alloc) != seen:
        raise Stale("待支付队列或预算已发生变化，请核对新的支付方案后再确认")
    if not alloc.paid:
        raise Refused("没有可以在本期预算内支付的条目")
    batch = PayoutBatch(city_code=city_code, period=period, entries_count=len(alloc.paid), pilot_fen=alloc.pilot_fen,
                        general_fen=alloc.general_fen, waiting_count=len(alloc.waiting),
                        confirmed_by=getattr(user, "id", None))
    db.session.add(batch)
    db.session.flush()
    for fund, amount in (("pilot", alloc.pilot_fen), ("general", alloc.general_fen)):
        if not amount:
            continue
        b = budgets.get(fund)
        res = db.session.execute(db.update(Budget).where(
            Budget.id == (b.id if b else -1), Budget.committed_fen + amount <= Budget.cap_fen).values(
            committed_fen=Budget.committed_fen + amount).execution_options(synchronize_session=False))
        if res.rowcount != 1:
            raise Stale("预算余额已发生变化，请核对新的支付方案后再确认")
    for fund in ("pilot", "general"):
        ids = [i.id for i, f in alloc.paid if f == fund]
        for k in range(0, len(ids), 2000):
            chunk = ids[k:k + 2000]
            res = db.session.execute(db.update(ListEntry).where(
                ListEntry.id.in_(chunk), ListEntry.status == EntryStatus.LISTED).values(
                status=EntryStatus.COMMITTED, batch_id=batch.id, fund=fund, budget_id=budgets[fund].id,
                version=ListEntry.version + 1).execution_options(synchronize_session=False))
            if res.rowcount != len(chunk):
                raise Stale("部分条目已被其他支付批次处理，请刷新后重试")
    for b in budgets.values():
        db.session.refresh(b)
    for obj in list(db.session.identity_map.values()):  # loaded entries read their new state
        if isinstance(obj, ListEntry) and obj.id in entries:
            db.session.expire(obj)
    audit.record("payout_batch", batch.id, "confirm", actor=user, to_state="confirmed",
                 data={"period": period, "entries": len(alloc.paid), "pilot_fen": alloc.pilot_fen,
                       "general_fen": alloc.general_fen, "waiting": len(alloc.waiting)})
    paid_ids = [i.id for i, _ in alloc.paid]
    for k in range(0, len(paid_ids), 2000):
        rows = db.session.execute(db.select(Settlement.id, Settlement.enterprise_id, Settlement.supplier_id,
                                            ListEntry.amount_fen).join(ListEntry, ListEntry.settlement_id == Settlement.id)
                                  .where(ListEntry.id.in_(paid_ids[k:k + 2000]))).all()
        for st_id, ent_id, _sup, amount in rows:
            notices.notify_org(enterprise_id=ent_id, title="您的兑现款已列入支付批次",
                               body=f"金额 {yuan(amount)}，{period_label(period)}预算内支付；到账后将再次通知您。",
                               link=link("enterprise.settlement_detail", st_id=st_id))
    return batch


BANK_REF_RE = re.compile(r"^[A-Za-z0-9\-_/]{4,60}$")


def payment_problems(entry: ListEntry, paid_on: dt.date | None, bank_ref: str) -> dict[str, str]:
    errors = {}
    if entry.status != EntryStatus.COMMITTED:
        errors[""] = "该条目不在待登记支付的状态（可能已登记，请刷新页面）"
    if paid_on is None:
        errors["paid_on"] = "请填写支付日期"
    elif paid_on > today():
        errors["paid_on"] = "支付日期不能晚于今天"
    elif entry.batch is not None and paid_on < (entry.batch.confirmed_at + dt.timedelta(hours=8)).date():
        errors["paid_on"] = "支付日期不能早于支付批次确认的日期"
    if not BANK_REF_RE.match((bank_ref or "").strip()):
        errors["bank_ref"] = "请填写银行流水号（4 至 60 位字母、数字或 - _ /）"
    return errors


def record_payment(entry: ListEntry, user, paid_on: dt.date | None, bank_ref: str) -> None:
    """PAY-1: the city records a committed entry's payment; the enterprise and the supplier are told."""
    errors = payment_problems(entry, paid_on, bank_ref)
    if errors:
        raise Refused("；".join(errors.values()))
    workflow.find(entry, "pay", user)
    res = db.session.execute(db.update(ListEntry).where(
        ListEntry.id == entry.id, ListEntry.status == EntryStatus.COMMITTED).values(
        status=EntryStatus.PAID, paid_on=paid_on, bank_ref=bank_ref.strip(), paid_at=now(),
        paid_by=getattr(user, "id", None), version=ListEntry.version + 1).execution_options(synchronize_session=False))
    if res.rowcount != 1:
        raise Stale("该条目已登记支付（可能已被他人登记，请刷新页面）")
    db.session.refresh(entry)
    audit.record("list_entry", entry.id, "pay", actor=user, from_state=EntryStatus.COMMITTED, to_state=EntryStatus.PAID,
                 data={"paid_on": paid_on.isoformat(), "bank_ref": entry.bank_ref, "amount_fen": entry.amount_fen})
    st = entry.settlement
    body = f"{st.enterprise.name}：{yuan(entry.amount_fen)}，{paid_on:%Y-%m-%d} 支付，银行流水号 {entry.bank_ref}"
    notices.notify_org(enterprise_id=st.enterprise_id, title="服务券兑现款已支付", body=body,
                       link=link("enterprise.settlement_detail", st_id=st.id))
    notices.notify_org(supplier_id=st.supplier_id, title="客户的服务券兑现款已支付", body=body,
                       link=link("supplier.settlement_detail", st_id=st.id))


# --------------------------------------------------------------------------- paid, net of recoveries (REL-2)


def paid_net_of_recoveries(*where) -> dict[str, dict[str, int]]:
    """Per city: the entries paid from the budgets `where` selects (conditions on Budget: the period or
    periods, the city), what was paid, the audit recoveries recorded against those entries and what was
    paid net of them, in integer fen: {city_code: {paid_count, paid_fen, recovered_fen, net_paid_fen}}.

    One grouped query (recoveries summed per entry first, so an entry recovered twice is counted once).
    The province's payout overview and a city's own figures and payout page all read it."""
    from models import Recovery

    # rule: REL-2 -- recoveries on entries paid from the budgets are netted out of what was paid
    recovered = (db.select(Recovery.entry_id, db.func.sum(Recovery.amount_fen).label("fen"))
                 .group_by(Recovery.entry_id).subquery())
    out: dict[str, dict[str, int]] = {}
    for code, n, paid, back in db.session.execute(
            db.select(Budget.city_code, db.func.count(ListEntry.id), db.func.sum(ListEntry.amount_fen),
                      db.func.sum(recovered.c.fen))
            .select_from(ListEntry).join(Budget, Budget.id == ListEntry.budget_id)
            .outerjoin(recovered, recovered.c.entry_id == ListEntry.id)
            .where(ListEntry.status == EntryStatus.PAID, *where).group_by(Budget.city_code)):
        paid, back = int(paid or 0), int(back or 0)
        out[code] = {"paid_count": int(n), "paid_fen": paid, "recovered_fen": back, "net_paid_fen": paid - back}
    return out


# --------------------------------------------------------------------------- where am I


@dataclass(frozen=True)
class Place:
    state: str  # listed | publicity | held | queued | committed | paid | removed
    entry: ListEntry
    list: SettlementList
    period: str | None = None
    position: int | None = None
    queue_len: int | None = None
    ahead_fen: int | None = None
    fund: str | None = None  # the fund that would pay it now, None when it waits
    general_left: int | None = None
    pilot_left: int | None = None

    @property
    def fits(self) -> bool:
        return self.fund is not None


def live_entry(settlement_id: int) -> ListEntry | None:
    return db.session.execute(db.select(ListEntry).where(
        ListEntry.settlement_id == settlement_id, ListEntry.status.in_(LIVE))).scalar_one_or_none()


def place_of(entry: ListEntry, alloc_cache: dict | None = None) -> Place:
    """Where an entry stands: in publicity, held, its place in the payout queue (by allocate(), so the
    same answer as the payout would give), committed or paid."""
    lst = entry.settlement_list
    if entry.status in (EntryStatus.PAID, EntryStatus.COMMITTED, EntryStatus.HELD, EntryStatus.REMOVED):
        return Place(entry.status, entry, lst)
    if lst.status != ListStatus.PUBLISHED:
        return Place("listed", entry, lst)
    if in_publicity(lst):
        return Place("publicity", entry, lst)
    cache = alloc_cache if alloc_cache is not None else {}  # one page's places: each figure read once
    if ("period", entry.city_code) not in cache:
        cache["period", entry.city_code] = current_period(entry.city_code)
    period = cache["period", entry.city_code]
    if period is None:
        return Place("queued", entry, lst)
    key = (entry.city_code, period)
    if key not in cache:
        cache[key] = propose(entry.city_code, period)[0]
        cache["left", *key] = budgets_left(entry.city_code, period)
    alloc = cache[key]
    found = alloc.place_of(entry.id)
    general, pilot = cache["left", *key]
    if found is None:
        return Place("queued", entry, lst, period=period, general_left=general, pilot_left=pilot)
    pos, ahead, fund = found
    return Place("queued", entry, lst, period=period, position=pos, queue_len=len(alloc.queue), ahead_fen=ahead,
                 fund=fund, general_left=general, pilot_left=pilot)
