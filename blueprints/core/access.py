"""Access control that fails closed (ROLE-8).

Every endpoint declares who may use it: a blueprint's roles (guard_blueprint) or a
view's own (@allow / @public). enforce() runs before every request and refuses any
endpoint without a declaration. Object access goes through get_visible_or_404(), which
answers 404 for records outside the user's organisation or city.
"""
from __future__ import annotations

from typing import Callable, Iterable

from flask import abort, current_app, request
from flask_login import current_user

from models import Application, Enterprise, RegStatus, Role, StoredFile, Supplier, Voucher, db
from models import Budget, CatalogVersion, CityTarget, Cycle
from models import ProfileChange
from models import Settlement
from models import ConnectionImport  # the evidence file of a CSV import
from models import CompletionTable
from models import ListEntry, Objection, SettlementList
from models import Complaint  # public messages and complaints (SUP-5)

PUBLIC = "public"
ANY_USER = "any_user"

BLUEPRINT_ACCESS: dict[str, frozenset] = {}


def guard_blueprint(bp, *roles: Role | str) -> None:
    """Declare once who may use every endpoint of a blueprint (a view may narrow or widen)."""
    BLUEPRINT_ACCESS[bp.name] = frozenset(roles)


def allow(*roles: Role | str) -> Callable:
    def deco(view):
        view._access = frozenset(roles)
        return view

    return deco


def public(view):
    view._access = frozenset({PUBLIC})
    return view


def declaration(endpoint: str) -> frozenset | None:
    if endpoint == "static":
        return frozenset({PUBLIC})
    view = current_app.view_functions.get(endpoint)
    found = getattr(view, "_access", None)
    if found is not None:
        return found
    bp = endpoint.rsplit(".", 1)[0] if "." in endpoint else None
    return BLUEPRINT_ACCESS.get(bp)


def role_allowed(user, decl: Iterable) -> bool:
    decl = frozenset(decl)
    if PUBLIC in decl:
        return True
    if not user.is_authenticated:
        return False
    return ANY_USER in decl or user.acting_role in decl


def enforce():
    """before_request: fail closed on undeclared endpoints; 403 on a role not declared."""
    if request.endpoint is None:
        return None  # 404/405 handled by Flask
    decl = declaration(request.endpoint)
    if decl is None:
        current_app.logger.error("endpoint %s has no access declaration", request.endpoint)
        abort(403)
    if PUBLIC in decl:
        return None
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if not role_allowed(current_user, decl):
        current_app.logger.warning(
            "denied: user=%s role=%s endpoint=%s", current_user.id, current_user.role, request.endpoint
        )
        abort(403)
    return None


# --------------------------------------------------------------------------- row scope


def _see_enterprise(user, e: Enterprise) -> bool:
    r = user.acting_role
    if r == Role.ENTERPRISE:
        return user.enterprise_id == e.id
    if r == Role.CITY:
        return e.city_code == user.city_code and e.status != RegStatus.DRAFT
    if r == Role.PROVINCE:
        return True
    return False


def _see_supplier(user, s: Supplier) -> bool:
    r = user.acting_role
    if r == Role.SUPPLIER:
        return user.supplier_id == s.id
    if r == Role.CITY:
        return bool(s.in_province) and s.city_code == user.city_code and s.status != RegStatus.DRAFT
    if r == Role.PROVINCE:
        return True
    if r == Role.EXPERT:
        return s.status in (RegStatus.PROVINCE_REVIEW, RegStatus.APPROVED, RegStatus.REJECTED, RegStatus.RETURNED) and s.submitted_at is not None
    return False


def supplier_applications_clause(supplier_id: int | None):
    """ROLE-8: the applications a supplier may see, as a SQL condition. A returned application
    whose supplier the enterprise has changed stays hidden from the new supplier until it is
    resubmitted to it: while returned, only the supplier it was submitted to (its contract claim)."""
    from models import AppStatus, ContractClaim

    claimed = db.select(ContractClaim.id).where(ContractClaim.application_id == Application.id,
                                                ContractClaim.supplier_id == supplier_id).exists()
    return db.and_(Application.supplier_id == supplier_id, Application.submitted_at.is_not(None),
                   db.or_(Application.status != AppStatus.RETURNED, claimed))


def _see_application(user, a: Application) -> bool:
    r = user.acting_role
    if r == Role.ENTERPRISE:
        return user.enterprise_id == a.enterprise_id
    if r == Role.SUPPLIER:
        from models import AppStatus, ContractClaim

        if user.supplier_id is None or user.supplier_id != a.supplier_id or a.submitted_at is None:
            return False
        if a.status != AppStatus.RETURNED:
            return True
        return db.session.execute(db.select(ContractClaim.id).where(
            ContractClaim.application_id == a.id, ContractClaim.supplier_id == user.supplier_id)).first() is not None
    if r == Role.CITY:
        return user.city_code == a.city_code and a.submitted_at is not None
    if r == Role.PROVINCE:
        return a.submitted_at is not None
    return False


def _see_voucher(user, v: Voucher) -> bool:
    r = user.acting_role
    if r == Role.ENTERPRISE:
        return user.enterprise_id == v.enterprise_id
    if r == Role.SUPPLIER:
        return user.supplier_id == v.supplier_id
    if r == Role.CITY:
        return user.city_code == v.city_code
    return r == Role.PROVINCE


def _see_file(user, f: StoredFile) -> bool:
    if f.kind.endswith("_removed") and user.acting_role != Role.ENTERPRISE:
        return False  # material the enterprise took back before submitting
    owner = owner_of(f)
    return owner is not None and can_see(user, owner)


# Catalog versions, cycles, city targets and budgets.
def _see_catalog_version(user, v) -> bool:
    return user.acting_role == Role.PROVINCE or v.status == "published"


def _see_cycle(user, c) -> bool:
    return user.acting_role == Role.PROVINCE or c.announced_at is not None


def _see_city_figures(user, row) -> bool:
    r = user.acting_role
    return r == Role.PROVINCE or (r == Role.CITY and user.city_code == row.city_code)


# A change to an approved profile (REG-9) is seen by its owner and its reviewers.
def _see_profile_change(user, c) -> bool:
    r = user.acting_role
    if r == Role.ENTERPRISE:
        return c.enterprise_id is not None and user.enterprise_id == c.enterprise_id
    if r == Role.SUPPLIER:
        return c.supplier_id is not None and user.supplier_id == c.supplier_id
    if r == Role.CITY:
        return c.city_code is not None and c.city_code == user.city_code and c.submitted_at is not None
    return r == Role.PROVINCE and c.submitted_at is not None


# A settlement is its enterprise's; its supplier, city and the province see it once submitted.
def _see_settlement(user, st) -> bool:
    r = user.acting_role
    if r == Role.ENTERPRISE:
        return user.enterprise_id == st.enterprise_id
    if st.submitted_at is None or st.status == "draft":  # withdrawn to a draft: the enterprise's alone again
        return False
    if r == Role.SUPPLIER:
        return user.supplier_id == st.supplier_id
    if r == Role.CITY:
        return user.city_code == st.city_code
    return r == Role.PROVINCE


# A completion table (VER-4) is the province's; its city sees it once sent.
def _see_completion_table(user, t) -> bool:
    r = user.acting_role
    if r == Role.PROVINCE:
        return True
    return r == Role.CITY and t.city_code == user.city_code and t.sent_at is not None


# A connection import (and its evidence file, VER-2) is the province's alone.
def _see_connection_import(user, ci) -> bool:
    return user.acting_role == Role.PROVINCE


# A draft list is its city's (and the province's); a published one is public. An entry
# follows its settlement; an objection is its city's, the province's, and its author's.
def _see_settlement_list(user, lst) -> bool:
    r = user.acting_role
    if r == Role.PROVINCE:
        return True
    if r == Role.CITY:
        return user.city_code == lst.city_code
    return lst.status == "published"


def _see_list_entry(user, e) -> bool:
    r = user.acting_role
    if r == Role.CITY:
        return user.city_code == e.city_code
    return _see_settlement(user, e.settlement)


def _see_objection(user, o) -> bool:
    r = user.acting_role
    if r == Role.PROVINCE:
        return True
    if r == Role.CITY:
        return user.city_code == o.city_code
    return o.raised_by is not None and o.raised_by == user.id


# A public message (SUP-5) is the province's; a city sees it once forwarded to it. The sender has
# no account: the public look-up by tracking number shows the answer, never the message's files.
def _see_complaint(user, c) -> bool:
    r = user.acting_role
    if r == Role.PROVINCE:
        return True
    return r == Role.CITY and c.city_code is not None and c.city_code == user.city_code


VISIBILITY: dict[type, Callable] = {
    Enterprise: _see_enterprise,
    Supplier: _see_supplier,
    Application: _see_application,
    Voucher: _see_voucher,
    StoredFile: _see_file,
    CatalogVersion: _see_catalog_version,
    Cycle: _see_cycle,
    CityTarget: _see_city_figures,
    Budget: _see_city_figures,
    ProfileChange: _see_profile_change,
    Settlement: _see_settlement,
    ConnectionImport: _see_connection_import,
    CompletionTable: _see_completion_table,
    SettlementList: _see_settlement_list,
    ListEntry: _see_list_entry,
    Objection: _see_objection,
    Complaint: _see_complaint,
}

# Models a file can belong to, by StoredFile.owner_type.
FILE_OWNERS: dict[str, type] = {
    "enterprise": Enterprise,
    "supplier": Supplier,
    "application": Application,
    "voucher": Voucher,
    "settlement": Settlement,
    "connection_import": ConnectionImport,
    "completion_table": CompletionTable,
    "settlement_list": SettlementList,
    "objection": Objection,
    "complaint": Complaint,
}


def owner_of(f: StoredFile):
    model = FILE_OWNERS.get(f.owner_type)
    return db.session.get(model, f.owner_id) if model and f.owner_id else None


def can_see(user, obj) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    check = VISIBILITY.get(type(obj))
    try:
        return bool(check and check(user, obj))
    except Exception:  # a failing check denies (fails closed)
        current_app.logger.exception("visibility check failed")
        return False


def can_act(user, obj) -> bool:
    """Row scope for workflow actions: seeing the record is required; owners act on their own."""
    if isinstance(obj, Enterprise) and user.acting_role == Role.ENTERPRISE:
        return user.enterprise_id == obj.id
    if isinstance(obj, Supplier) and user.acting_role == Role.SUPPLIER:
        return user.supplier_id == obj.id
    if isinstance(obj, Supplier) and user.acting_role == Role.CITY:
        return bool(obj.in_province) and obj.city_code == user.city_code
    if isinstance(obj, Enterprise) and user.acting_role == Role.CITY:
        return obj.city_code == user.city_code
    return can_see(user, obj)


def get_visible_or_404(model, ident, user=None):
    user = user or current_user
    obj = db.session.get(model, ident)
    if obj is None or not can_see(user, obj):
        abort(404)
    return obj
