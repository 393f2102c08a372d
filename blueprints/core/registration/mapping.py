"""Between the profile forms and the models: initial form data, form values, their JSON encoding."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from blueprints.core.money import parse_yuan
from blueprints.core.registration.checks import parse_endpoints, parse_related_parties, related_text
from blueprints.core.registration.fields import FILE_ATTRS
from models import CATALOG_CATEGORIES, Enterprise, Supplier


# --------------------------------------------------------------------------- form <-> model


def _plain(d: Decimal) -> str:
    return format(d.normalize(), "f")


def enterprise_initial(e: Enterprise, proposed: dict | None = None) -> dict:
    values = {a: getattr(e, a) for a in (
        "name", "uscc", "city_code", "legal_rep", "established_on", "revenue_fen", "contact_name",
        "contact_phone", "contact_email", "dcmm_certified", "dcmm_subsidy_received", "no_violation_declared")}
    values.update(_files_as_text(_decode(proposed or {})))
    fen = values.pop("revenue_fen")
    values["revenue"] = _plain(Decimal(fen) / 1_000_000) if fen is not None else ""
    values["revenue_unit"] = "wan"
    return values


def supplier_initial(s: Supplier, proposed: dict | None = None) -> dict:
    values = {a: getattr(s, a) for a in (
        "name", "uscc", "in_province", "city_code", "categories", "endpoints", "contact_name", "contact_phone",
        "contact_email")}
    values.update(_files_as_text(_decode(proposed or {})))
    values["in_province"] = "1" if values["in_province"] else "0"
    values["endpoints"] = "\n".join(values["endpoints"] or [])
    values["categories"] = list(values["categories"] or [])
    values["related_parties"] = related_text(s.related_parties)
    return values


def _files_as_text(values: dict) -> dict:
    """A returned change's proposed files go back into the form's hidden fields (as text)."""
    return {k: (str(v) if k in FILE_ATTRS else v) for k, v in values.items()}


def _text(v) -> str:
    return (v or "").strip()


def enterprise_values(form) -> dict:
    revenue = _text(form.revenue.data)
    unit = "yuan" if form.revenue_unit.data == "yuan" else "wan"
    return {
        "name": _text(form.name.data), "uscc": form.uscc.data or None, "city_code": form.city_code.data or None,
        "legal_rep": _text(form.legal_rep.data), "established_on": form.established_on.data,
        "revenue_fen": parse_yuan(revenue, unit) if revenue else None,
        "contact_name": _text(form.contact_name.data), "contact_phone": _text(form.contact_phone.data),
        "contact_email": _text(form.contact_email.data), "dcmm_certified": bool(form.dcmm_certified.data),
        "dcmm_subsidy_received": bool(form.dcmm_subsidy_received.data),
        "no_violation_declared": bool(form.no_violation_declared.data),
    }


def supplier_values(form) -> dict:
    in_province = form.in_province.data != "0"
    uscc = form.uscc.data or None
    return {
        "name": _text(form.name.data), "uscc": uscc, "in_province": in_province,
        "city_code": (form.city_code.data or None) if in_province else None,
        "categories": [c for c in CATALOG_CATEGORIES if c in (form.categories.data or [])],
        "endpoints": parse_endpoints(form.endpoints.data or ""),
        "related_parties": parse_related_parties(form.related_parties.data or "", uscc),
        "contact_name": _text(form.contact_name.data), "contact_phone": _text(form.contact_phone.data),
        "contact_email": _text(form.contact_email.data),
    }


def _encode(values: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in values.items()}


def _decode(values: dict) -> dict:
    out = dict(values)
    if isinstance(out.get("established_on"), str):
        out["established_on"] = dt.date.fromisoformat(out["established_on"])
    return out
