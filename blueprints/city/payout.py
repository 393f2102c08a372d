"""The city's settlement lists, objections and payout (PUB-1..4, PAY-1..7, DOC-2).

结算清单: gather approved settlements into a draft list for a period, generate its PDF and xlsx, publish
it for at least 7 days. 异议处理: answer each objection (uphold, dismiss) or pass it to the province.
兑付: after publicity, the proposed batch for a period (payout.propose) is shown before it is confirmed;
then each payment is recorded, one by one or from an xlsx file.
"""
from __future__ import annotations

import datetime as dt
import io

from flask import abort, flash, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from blueprints.city import bp
from blueprints.core import audit, jobs, list_jobs, paging, payout, workflow
from blueprints.core.application import Refused
from blueprints.core.cycles import parse_period, period_label_shown
from blueprints.core.htmx import page, redirect_to
from blueprints.core.issuance import normalize_code
from blueprints.core.nav import register_nav
from blueprints.core.timeutil import today
from models import (
    Budget, Enterprise, EntryStatus, ListEntry, ListStatus, Objection, ObjStatus, PayoutBatch, Role, SetStatus,
    Settlement, SettlementList, Supplier, Voucher, db,
)

register_nav(Role.CITY, [("结算清单", "city.payout_lists"), ("异议处理", "city.objections"), ("兑付", "city.payout")])

PER_PAGE = 20
ENTRIES_PER_PAGE = 50
MAX_PAYMENT_ROWS = 5000


def _own_list(list_id: int) -> SettlementList:
    lst = db.session.get(SettlementList, list_id)
    if lst is None or lst.city_code != current_user.city_code or lst.status == "discarded":
        abort(404)
    return lst


def _entry_rows(stmt):
    """Entries with the names a table shows, in one query (no N+1)."""
    return (stmt.join(Settlement, Settlement.id == ListEntry.settlement_id)
            .join(Enterprise, Enterprise.id == Settlement.enterprise_id)
            .join(Supplier, Supplier.id == Settlement.supplier_id)
            .join(Voucher, Voucher.id == ListEntry.voucher_id)
            .add_columns(Enterprise.name, Supplier.name, Voucher.code, Settlement.id))


def _search(stmt, q: str):
    q = (q or "").strip()
    if not q:
        return stmt
    code = normalize_code(q)
    conds = [Enterprise.name.contains(q)]
    if code:
        conds.append(Voucher.code == code)
    return stmt.where(db.or_(*conds))


def _periods() -> list[str]:
    found = set(db.session.execute(db.select(Budget.period).where(
        Budget.city_code == current_user.city_code).distinct()).scalars())
    return sorted((p for p in found if parse_period(p) == p), key=payout.period_key, reverse=True)


# --------------------------------------------------------------------------- lists


def _lists_page(status: int = 200, **ctx):
    pg = paging.paginate(db.select(SettlementList).where(SettlementList.city_code == current_user.city_code,
                                                        SettlementList.status != "discarded")
                         .options(joinedload(SettlementList.city)).order_by(SettlementList.id.desc()), per_page=PER_PAGE)
    unlisted = db.session.execute(db.select(db.func.count()).select_from(
        payout.unlisted(current_user.city_code).order_by(None).subquery())).scalar_one()
    ctx.setdefault("period", payout.current_period(current_user.city_code) or f"{today().year}-1")
    ctx.setdefault("error", "")
    return page("city/payout_lists.html", block="results", status=status, pg=pg, unlisted=unlisted,
                periods=_periods(), period_label=period_label_shown, today=today(), payout=payout, **ctx)


@bp.route("/payout-lists")
def payout_lists():
    """The city's settlement lists, newest first, and the form to gather a new one."""
    return _lists_page()


@bp.route("/payout-lists", methods=["POST"])
def payout_list_create():
    """Gather every approved, not yet listed settlement into a draft list for a period."""
    period = (request.form.get("period") or "").strip()
    try:
        lst = payout.create_list(current_user.city_code, period, current_user)
        db.session.commit()
    except Refused as exc:
        db.session.rollback()
        return _lists_page(422, period=period, error=str(exc))
    except IntegrityError:  # another officer listed the same settlements at the same moment
        db.session.rollback()
        return _lists_page(409, period=period, error="其他人刚刚生成了结算清单，请刷新页面查看")
    flash(f"已生成结算清单草稿：{lst.entries_count} 项。请核对后发布公示。", "success")
    return redirect_to(url_for("city.payout_list_detail", list_id=lst.id))


def _list_detail(lst: SettlementList, status: int = 200, **ctx):
    q = request.args.get("q", "")
    stmt = _search(_entry_rows(db.select(ListEntry).where(ListEntry.list_id == lst.id)), q).order_by(ListEntry.seq)
    pg = paging.paginate(stmt, per_page=ENTRIES_PER_PAGE, scalars=False)
    objections = payout.entry_objections([row[0].id for row in pg.items])
    ctx.setdefault("error", "")
    return page("city/payout_list_detail.html", block="entries", status=status, lst=lst, pg=pg, q=q,
                objections=objections, actions=workflow.actions_for(lst, current_user),
                events=audit.timeline("settlement_list", lst.id), payout=payout,
                min_days=payout.MIN_PUBLICITY_DAYS, max_days=payout.MAX_PUBLICITY_DAYS, **ctx)


@bp.route("/payout-lists/<int:list_id>")
def payout_list_detail(list_id: int):
    """One list: its entries (searchable), objections per entry, documents, publish or discard."""
    return _list_detail(_own_list(list_id))


@bp.route("/payout-lists/<int:list_id>/act", methods=["POST"])
def payout_list_act(list_id: int):
    """Publish the draft (with the publicity days) or discard it."""
    lst = _own_list(list_id)
    action = request.form.get("action", "")
    try:
        if action == "publish":
            try:
                days = int(request.form.get("days") or payout.MIN_PUBLICITY_DAYS)
            except ValueError:
                raise Refused("公示天数须为整数") from None
            payout.publish(lst, current_user, days)
            message = f"已发布公示，公示期至 {lst.publicity_ends_on:%Y-%m-%d}"
        elif action == "discard":
            payout.discard_list(lst, current_user)
            message = "已删除结算清单草稿"
        else:
            raise Refused("未知的操作")
        db.session.commit()
    except (Refused, workflow.NotAllowed) as exc:
        db.session.rollback()
        return _list_detail(_own_list(list_id), 422 if isinstance(exc, Refused) else 409, error=str(exc))
    flash(message, "success")
    if action == "discard":
        return redirect_to(url_for("city.payout_lists"))
    return redirect_to(url_for("city.payout_list_detail", list_id=lst.id))


@bp.route("/payout-lists/<int:list_id>/documents", methods=["POST"])
def payout_list_documents(list_id: int):
    """Generate the list's PDF and xlsx in the background (a progress page follows)."""
    lst = _own_list(list_id)
    try:
        job = list_jobs.start(lst, current_user)
    except jobs.JobError as exc:
        return _list_detail(lst, 429, error=str(exc))
    return redirect_to(url_for("common.job_detail", job_id=job.id))


# --------------------------------------------------------------------------- objections


@bp.route("/objections")
def objections():
    """Objections against the city's lists: open ones first (answer them before the publicity ends)."""
    state = request.args.get("status", "")
    stmt = (db.select(Objection).where(Objection.city_code == current_user.city_code)
            .options(joinedload(Objection.settlement_list).joinedload(SettlementList.city)))
    if state in ObjStatus.__members__.values():
        stmt = stmt.where(Objection.status == state)
    order = db.case((Objection.status == ObjStatus.OPEN, 0), (Objection.status == ObjStatus.ESCALATED, 1), else_=2)
    pg = paging.paginate(stmt.order_by(order, Objection.id), per_page=PER_PAGE)
    return page("city/objections.html", block="results", pg=pg, state=state, today=today(),
                labels=payout.OBJECTION_LABELS)


def _own_objection(obj_id: int) -> Objection:
    obj = db.session.get(Objection, obj_id)
    if obj is None or obj.city_code != current_user.city_code:
        abort(404)
    return obj


def objection_context(obj: Objection) -> dict:
    """What an objection's page shows (city and province): its entries with names, files, timeline."""
    from models import StoredFile

    rows = db.session.execute(_entry_rows(db.select(ListEntry).join(
        payout.ObjectionEntry, payout.ObjectionEntry.entry_id == ListEntry.id).where(
        payout.ObjectionEntry.objection_id == obj.id)).order_by(ListEntry.seq)).all()
    files = db.session.execute(db.select(StoredFile).where(StoredFile.id.in_(obj.file_ids or [-1]))).scalars().all()
    return dict(obj=obj, rows=rows, files=files, events=audit.timeline("objection", obj.id),
                labels=payout.OBJECTION_LABELS, lst=obj.settlement_list, in_publicity=payout.in_publicity)


def _objection_page(obj: Objection, status: int = 200, **ctx):
    ctx.setdefault("error", "")
    ctx.setdefault("form", {})
    return page("city/objection_detail.html", status=status,
                actions=workflow.actions_for(obj, current_user), **objection_context(obj), **ctx)


@bp.route("/objections/<int:obj_id>", methods=["GET", "POST"])
def objection_detail(obj_id: int):
    """One objection; while open: uphold, dismiss or pass to the province, with the answer."""
    obj = _own_objection(obj_id)
    if request.method == "GET":
        return _objection_page(obj)
    decision = request.form.get("decision", "")
    answer = request.form.get("answer", "")
    try:
        payout.city_answer(obj, current_user, decision, answer)
        db.session.commit()
    except payout.Stale as exc:
        db.session.rollback()
        return _objection_page(_own_objection(obj_id), 409, error=str(exc))
    except workflow.NotAllowed as exc:
        db.session.rollback()
        return _objection_page(_own_objection(obj_id), 409, error=str(exc))
    except Refused as exc:
        db.session.rollback()
        return _objection_page(_own_objection(obj_id), 422, error=str(exc),
                               form={"decision": decision, "answer": answer})
    flash(f"已处理：{payout.OBJECTION_LABELS.get(obj.status, obj.status)}", "success")
    return redirect_to(url_for("city.objection_detail", obj_id=obj.id))


# --------------------------------------------------------------------------- payout


def _payout_page(period: str | None, status: int = 200, **ctx):
    periods = _periods()
    period = period if period in periods else (periods[0] if periods else None)
    alloc = entries = None
    names = {}
    held = (0, 0)
    if period:
        alloc, entries = payout.propose(current_user.city_code, period)
        ids = [i.id for i, _ in alloc.queue]
        for k in range(0, len(ids), 2000):
            names.update({e_id: (ent, sup, code) for e_id, ent, sup, code in db.session.execute(
                db.select(ListEntry.id, Enterprise.name, Supplier.name, Voucher.code)
                .join(Settlement, Settlement.id == ListEntry.settlement_id)
                .join(Enterprise, Enterprise.id == Settlement.enterprise_id)
                .join(Supplier, Supplier.id == Settlement.supplier_id)
                .join(Voucher, Voucher.id == ListEntry.voucher_id).where(ListEntry.id.in_(ids[k:k + 2000]))).all()})
        held = db.session.execute(db.select(db.func.count(), db.func.coalesce(db.func.sum(ListEntry.amount_fen), 0))
                                  .where(ListEntry.city_code == current_user.city_code,
                                         ListEntry.status == EntryStatus.HELD)).one()
    budgets, paid = {}, None
    if period:
        budgets = {b.kind: b for b in db.session.execute(db.select(Budget).where(
            Budget.city_code == current_user.city_code, Budget.period == period)).scalars()}
        # rule: REL-2 -- paid from this period's budgets net of audit recoveries (the province overview's query)
        paid = payout.paid_net_of_recoveries(Budget.period == period, Budget.city_code == current_user.city_code
                                             ).get(current_user.city_code)
    batches = db.session.execute(db.select(PayoutBatch).where(PayoutBatch.city_code == current_user.city_code)
                                 .order_by(PayoutBatch.id.desc()).limit(10)).scalars().all()
    ctx.setdefault("error", "")
    return page("city/payout.html", status=status, period=period, periods=periods, period_label=period_label_shown,
                alloc=alloc, names=names, budgets=budgets, paid=paid, held=held, batches=batches,
                fingerprint=payout.fingerprint(alloc) if alloc else "", **ctx)


@bp.route("/payout", endpoint="payout")
def payout_view():
    """The proposed payout batch for a period: who is paid from which fund, who waits, and why."""
    return _payout_page(request.args.get("period"))


@bp.route("/payout/confirm", methods=["POST"])
def payout_confirm():
    """Commit the batch the officer saw (refused when the queue or the budgets changed meanwhile)."""
    period = request.form.get("period", "")
    if period not in _periods():
        return _payout_page(None, 422, error="请选择有预算的结算期")
    try:
        batch = payout.confirm(current_user.city_code, period, current_user, request.form.get("fingerprint", ""))
        db.session.commit()
    except payout.Stale as exc:
        db.session.rollback()
        return _payout_page(period, 409, error=str(exc))
    except Refused as exc:
        db.session.rollback()
        return _payout_page(period, 422, error=str(exc))
    except IntegrityError:  # a budget's CHECK constraint or a concurrent batch
        db.session.rollback()
        return _payout_page(period, 409, error="预算或待支付队列刚刚发生变化，请核对新的支付方案后再确认")
    flash(f"已确认支付批次：{batch.entries_count} 项。请在支付后逐项登记银行流水号。", "success")
    return redirect_to(url_for("city.payout_batch", batch_id=batch.id))


@bp.route("/payout/batches")
def payout_batches():
    """The city's confirmed payout batches, newest first."""
    pg = paging.paginate(db.select(PayoutBatch).where(PayoutBatch.city_code == current_user.city_code)
                         .order_by(PayoutBatch.id.desc()), per_page=PER_PAGE)
    unpaid = dict(db.session.execute(db.select(ListEntry.batch_id, db.func.count()).where(
        ListEntry.batch_id.in_([b.id for b in pg.items] or [-1]), ListEntry.status == EntryStatus.COMMITTED)
        .group_by(ListEntry.batch_id)).all())
    return page("city/payout_batches.html", block="results", pg=pg, unpaid=unpaid, period_label=period_label_shown)


def _own_batch(batch_id: int) -> PayoutBatch:
    b = db.session.get(PayoutBatch, batch_id)
    if b is None or b.city_code != current_user.city_code:
        abort(404)
    return b


def _batch_page(batch: PayoutBatch, status: int = 200, **ctx):
    q = request.args.get("q", "")
    stmt = _search(_entry_rows(db.select(ListEntry).where(ListEntry.batch_id == batch.id)), q).order_by(
        ListEntry.status.asc(), ListEntry.submitted_at, ListEntry.id)  # committed (unpaid) before paid
    pg = paging.paginate(stmt, per_page=ENTRIES_PER_PAGE, scalars=False)
    ctx.setdefault("errors", {})
    ctx.setdefault("upload_errors", [])
    ctx.setdefault("error", "")
    return page("city/payout_batch.html", block="entries", status=status, batch=batch, pg=pg, q=q,
                period_label=period_label_shown, today=today(), **ctx)


@bp.route("/payout/batches/<int:batch_id>")
def payout_batch(batch_id: int):
    """One batch: every entry with its payment, a form to record each, and the xlsx upload."""
    return _batch_page(_own_batch(batch_id))


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        return None


@bp.route("/list-entries/<int:entry_id>/pay", methods=["POST"])
def entry_pay(entry_id: int):
    """Record one entry's payment (date, bank reference)."""
    entry = db.session.get(ListEntry, entry_id)
    if entry is None or entry.city_code != current_user.city_code or entry.batch_id is None:
        abort(404)
    paid_on, ref = _date(request.form.get("paid_on")), request.form.get("bank_ref", "")
    errors = payout.payment_problems(entry, paid_on, ref)
    if not errors:
        try:
            payout.record_payment(entry, current_user, paid_on, ref)
            db.session.commit()
            flash("已登记支付，企业和供应商已收到通知", "success")
            return redirect_to(url_for("city.payout_batch", batch_id=entry.batch_id))
        except payout.Stale as exc:
            errors = {"": str(exc)}
        except (Refused, workflow.NotAllowed) as exc:
            errors = {"": str(exc)}
        db.session.rollback()
    return _batch_page(_own_batch(entry.batch_id), 409 if "" in errors else 422,
                       errors={entry.id: errors}, typed={entry.id: {"paid_on": request.form.get("paid_on", ""),
                                                                    "bank_ref": ref}})


@bp.route("/payout/batches/<int:batch_id>/payments", methods=["POST"])
def payout_batch_payments(batch_id: int):
    """Record many payments from an xlsx file (服务券编号, 支付日期, 银行流水号): all rows or none."""
    from openpyxl import load_workbook

    batch = _own_batch(batch_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename or not upload.filename.lower().endswith(".xlsx"):
        return _batch_page(batch, 422, upload_errors=[(None, "请选择 .xlsx 文件（第一行为表头：服务券编号、支付日期、银行流水号）")])
    data = upload.stream.read(5 * 1024 * 1024 + 1)
    if len(data) > 5 * 1024 * 1024:
        return _batch_page(batch, 413, upload_errors=[(None, "文件超过 5 MB")])
    try:
        ws = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        rows = list(ws.iter_rows(values_only=True, max_row=MAX_PAYMENT_ROWS + 1))
    except Exception:
        return _batch_page(batch, 422, upload_errors=[(None, "无法读取该文件：请用 Excel 另存为 .xlsx 后重试")])
    entries = {code: e for e, code in db.session.execute(
        db.select(ListEntry, Voucher.code).join(Voucher, Voucher.id == ListEntry.voucher_id)
        .where(ListEntry.batch_id == batch.id)).all()}
    problems, todo, seen = [], [], set()
    for n, row in enumerate(rows[1:], start=2):
        cells = list(row or ()) + [None] * 3
        if all(c in (None, "") for c in cells[:3]):
            continue
        code = normalize_code(str(cells[0] or ""))
        paid = cells[1]
        paid_on = paid.date() if isinstance(paid, dt.datetime) else paid if isinstance(paid, dt.date) else _date(str(paid or ""))
        ref = str(cells[2] or "").strip()
        e = entries.get(code) if code else None
        if e is None:
            problems.append((n, f"服务券编号“{cells[0] or ''}”不在本支付批次中"))
            continue
        if code in seen:
            problems.append((n, "同一服务券在文件中出现两次"))
            continue
        seen.add(code)
        errs = payout.payment_problems(e, paid_on, ref)
        if errs:
            problems.append((n, "；".join(errs.values())))
            continue
        todo.append((e, paid_on, ref))
    if not problems and not todo:
        problems.append((None, "文件中没有支付记录"))
    if problems:
        return _batch_page(batch, 422, upload_errors=problems[:100], upload_count=len(problems))
    try:
        for e, paid_on, ref in todo:
            payout.record_payment(e, current_user, paid_on, ref)
        db.session.commit()
    except (Refused, workflow.NotAllowed) as exc:
        db.session.rollback()
        return _batch_page(_own_batch(batch_id), 409, upload_errors=[(None, str(exc))])
    flash(f"已登记 {len(todo)} 笔支付", "success")
    return redirect_to(url_for("city.payout_batch", batch_id=batch.id))
