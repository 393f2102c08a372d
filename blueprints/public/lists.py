"""Published settlement lists, objections and their look-up, open to everyone (ROLE-7, PUB-1, PUB-2, PUB-4).

Anyone may read a published list: enterprise and supplier names, voucher codes, amounts, the 试点 mark and
where each entry stands (publicity, held, its place in the payout queue, paid). No USCC, contact, contract
or invoice figures. During publicity anyone may object to entries: a logged-in enterprise or supplier as
itself, everyone else with a contact; the objection gets a tracking number whose answer anyone holding it
can look up (never the objector's contact). Objections and look-ups are limited per address, counted in
the database so every worker shares the count.
"""
from __future__ import annotations

import re
from datetime import timedelta

from flask import abort, current_app, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from blueprints.common import send_stored
from blueprints.core import paging, payout, security
from blueprints.core.access import public
from blueprints.core.application import Refused
from blueprints.core.cycles import period_label_shown
from blueprints.core.htmx import page, redirect_to
from blueprints.core.issuance import normalize_code
from blueprints.core.uploads import UploadError, safe_filename, save_upload
from blueprints.core.uploads import problem as upload_problem
from blueprints.public import bp
from models import (
    Enterprise, EntryStatus, ListEntry, ListStatus, Objection, ObjectionEntry, ObjStatus, Role, Settlement,
    SettlementList, Supplier, Voucher, db,
)

LISTS_PER_PAGE = 20
ENTRIES_PER_PAGE = 50
CHOICES_SHOWN = 50  # the objection form lists every open entry up to this many, else it asks for a search
MAX_FILES = 5
TRACKING_RE = re.compile(rf"^YY[{payout.TRACKING_ALPHABET}]{{10}}$")


def _limited(kind: str, limit: int, window: timedelta) -> bool:
    return security.address_limited(kind, limit, window)


def _published_or_404(list_id: int) -> SettlementList:
    """A published list; drafts, discarded and unknown lists do not exist for the public."""
    lst = db.session.get(SettlementList, list_id)
    if lst is None or lst.status != ListStatus.PUBLISHED:
        abort(404)
    return lst


def _named(stmt):
    """Entries with the names a public table shows, in one query (no query per row)."""
    return (stmt.join(Settlement, Settlement.id == ListEntry.settlement_id)
            .join(Enterprise, Enterprise.id == Settlement.enterprise_id)
            .join(Supplier, Supplier.id == Settlement.supplier_id)
            .join(Voucher, Voucher.id == ListEntry.voucher_id)
            .add_columns(Enterprise.name, Supplier.name, Voucher.code))


def _search(stmt, q: str):
    if not q:
        return stmt
    code = normalize_code(q)
    conds = [Enterprise.name.contains(q, autoescape=True)]
    if code:
        conds.append(Voucher.code == code)
    return stmt.where(db.or_(*conds))


# --------------------------------------------------------------------------- lists


@bp.route("/public/settlement-lists")
@public
def settlement_lists():
    """Published settlement lists, newest first, by city: what is open for objection and until when."""
    from blueprints.core.registration import city_names

    cities = city_names()
    city = request.args.get("city", "") if request.args.get("city", "") in cities else ""
    stmt = (db.select(SettlementList).where(SettlementList.status == ListStatus.PUBLISHED)
            .options(joinedload(SettlementList.city))
            .order_by(SettlementList.published_at.desc(), SettlementList.id.desc()))
    if city:
        stmt = stmt.where(SettlementList.city_code == city)
    pg = paging.paginate(stmt, per_page=LISTS_PER_PAGE)
    return page("public/payout_lists.html", block="results", pg=pg, city=city, cities=cities,
                in_publicity=payout.in_publicity, period_label=period_label_shown)


@bp.route("/public/settlement-lists/<int:list_id>")
@public
def settlement_list(list_id: int):
    """One published list: names, voucher codes, amounts and where each entry stands (PUB-1, PUB-4)."""
    lst = _published_or_404(list_id)
    q = (request.args.get("q") or "").strip()[:100]
    stmt = _search(_named(db.select(ListEntry).where(ListEntry.list_id == lst.id)), q).order_by(ListEntry.seq)
    pg = paging.paginate(stmt, per_page=ENTRIES_PER_PAGE, scalars=False)
    cache: dict = {}  # one allocation for the whole page, not one per row
    places = {row[0].id: payout.place_of(row[0], cache) for row in pg.items}
    return page("public/payout_list.html", block="entries", lst=lst, pg=pg, q=q, places=places,
                open=payout.in_publicity(lst), period_label=period_label_shown)


@bp.route("/public/settlement-lists/<int:list_id>/pdf")
@public
def settlement_list_pdf(list_id: int):
    """The published list as its stored PDF (DOC-2)."""
    lst = _published_or_404(list_id)
    if lst.pdf_file is None:
        abort(404)
    return send_stored(lst.pdf_file, inline=request.args.get("inline") == "1")


# --------------------------------------------------------------------------- objections


def _signed_in_party() -> bool:
    """A logged-in enterprise or supplier objects as itself; anyone else from the public page, with a contact."""
    return current_user.is_authenticated and current_user.acting_role in (Role.ENTERPRISE, Role.SUPPLIER)


def _entry_ids(values) -> list[int]:
    return sorted({int(v) for v in values if str(v).isdigit() and len(str(v)) < 12})[:500]


def _choices(lst: SettlementList, chosen: list[int], q: str):
    """(chosen rows, other rows to pick from, more_than_shown): entries that may still be objected to."""
    base = _named(db.select(ListEntry).where(
        ListEntry.list_id == lst.id, ListEntry.status.in_((EntryStatus.LISTED, EntryStatus.HELD))))
    picked = db.session.execute(base.where(ListEntry.id.in_(chosen or [-1])).order_by(ListEntry.seq)).all()
    if not q and lst.entries_count > CHOICES_SHOWN:
        return picked, [], True
    rows = db.session.execute(_search(base.where(ListEntry.id.not_in(chosen or [-1])), q)
                              .order_by(ListEntry.seq).limit(CHOICES_SHOWN + 1)).all()
    return picked, rows[:CHOICES_SHOWN], len(rows) > CHOICES_SHOWN


def _objection_form(lst: SettlementList, data: payout.ObjectionInput, status: int = 200, block=None, **ctx):
    q = (request.values.get("q") or "").strip()[:100]
    picked, rows, more = _choices(lst, data.entry_ids, q)
    ctx.setdefault("errors", {})
    return page("public/payout_objection_form.html", block=block, status=status, lst=lst, data=data, q=q,
                picked=picked, rows=rows, more=more, party=_signed_in_party(), open=payout.in_publicity(lst),
                max_files=MAX_FILES, **ctx)


def _file_problems(files) -> list[str]:
    """Why each chosen file would be refused, by its name (“x.pdf”：reason), without storing anything."""
    out = []
    for f in files:
        problem = upload_problem(f)
        if problem:
            out.append(f"“{safe_filename(f.filename) or f.filename}”：{problem}")
    return out


def _save_files(files) -> list:
    """Store the material; UploadError (nothing kept: the caller rolls back) names the file at fault."""
    saved = []
    for f in files:
        try:
            saved.append(save_upload(f, kind="objection_material", owner_type="objection", owner_id=None,
                                     user_id=current_user.id if current_user.is_authenticated else None))
        except UploadError as exc:
            raise UploadError(f"“{f.filename}”：{exc}") from None
    return saved


@bp.route("/public/settlement-lists/<int:list_id>/objection", methods=["GET", "POST"])
@public
def objection_new(list_id: int):
    """Object to entries of a list in publicity, with material (PUB-2); the entries are held (PUB-4)."""
    lst = _published_or_404(list_id)
    if request.method == "POST":
        return _objection_submit(lst)
    data = payout.ObjectionInput(_entry_ids(request.args.getlist("entry")), "")
    return _objection_form(lst, data, block="choices" if request.args.get("choices") else None)


def _objection_submit(lst: SettlementList):
    """The POST of objection_new: 409 after publicity, 429 over the address's limit, 422 with every field
    kept on an error (the material is chosen again), else 303 to the look-up with the tracking number."""
    f = request.form
    data = payout.ObjectionInput(_entry_ids(f.getlist("entry")), f.get("text", "")[:4000],
                                 f.get("contact_name", "")[:100], f.get("contact", "")[:100])
    if not payout.in_publicity(lst):  # rule: PUB-2 -- only during publicity
        return _objection_form(lst, data, 409, errors={"": "该结算清单不在公示期内，不能再提出异议"})
    party = _signed_in_party()
    limit = current_app.config.get("OBJECTION_LIMIT_PER_ADDRESS", 10)
    if not party and _limited("objection", limit, timedelta(hours=1)):
        return _objection_form(lst, data, 429, errors={"": "提交过于频繁，请一小时后再试"})
    files = [x for x in request.files.getlist("files") if x and x.filename]
    # rule: PUB-2 -- one pass: the fields and every chosen file are checked together, so one answer names
    # every problem (a bad file beside a too-short text); nothing is stored while any is left.
    errors = payout.check_objection(lst, data, public=not party)
    if len(files) > MAX_FILES:
        errors["files"] = f"材料最多 {MAX_FILES} 个文件"
    elif bad := _file_problems(files):
        errors["files"] = "；".join(bad)
    if errors:
        return _objection_form(lst, data, 422, errors=errors)
    try:
        saved = _save_files(files)  # owner_id is set once the objection exists
        obj = payout.raise_objection(lst, data, user=current_user if party else None, file_ids=[x.id for x in saved])
    except (UploadError, Refused) as exc:
        db.session.rollback()  # nothing is kept: neither the files' rows nor the objection
        return _objection_form(lst, data, 422, errors={"files" if isinstance(exc, UploadError) else "": str(exc)})
    for x in saved:
        x.owner_id = obj.id
    db.session.commit()
    return redirect_to(url_for("public.objection_lookup", tracking_no=obj.tracking_no, new=1))


# --------------------------------------------------------------------------- look-up


@bp.route("/public/objections")
@public
def objection_lookup():
    """Look an objection up by its tracking number: its state and, once decided, the answer (PUB-2, PUB-3)."""
    typed = (request.args.get("tracking_no") or "")[:60]
    number = re.sub(r"[\s\-]", "", typed).upper()
    ctx = dict(typed=typed, obj=None, rows=[], labels=payout.OBJECTION_LABELS, new=request.args.get("new") == "1")
    if not number:
        return page("public/payout_objection_lookup.html", **ctx)
    limit = current_app.config.get("VERIFY_LIMIT_PER_ADDRESS", 60)
    if _limited("objection-lookup", limit, timedelta(minutes=1)):
        return page("public/payout_objection_lookup.html", status=429, limited=True, **ctx)
    obj = db.session.execute(db.select(Objection).where(Objection.tracking_no == number)).scalar_one_or_none() \
        if TRACKING_RE.match(number) else None
    if obj is None:
        return page("public/payout_objection_lookup.html", status=404, unknown=True, **ctx)
    rows = db.session.execute(_named(db.select(ListEntry).join(
        ObjectionEntry, ObjectionEntry.entry_id == ListEntry.id).where(
        ObjectionEntry.objection_id == obj.id)).order_by(ListEntry.seq)).all()
    ctx.update(obj=obj, rows=rows, decided=obj.status in (ObjStatus.UPHELD, ObjStatus.DISMISSED))
    return page("public/payout_objection_lookup.html", **ctx)
