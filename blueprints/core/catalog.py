"""Which catalog version applies (CAT-3): the latest version published at or before a moment."""
from __future__ import annotations

import datetime as dt

from blueprints.core.timeutil import now
from models import CatalogStatus, CatalogVersion, db


def version_in_force(at: dt.datetime | None = None) -> CatalogVersion | None:
    at = at or now()
    return db.session.execute(
        db.select(CatalogVersion)
        .where(CatalogVersion.status == CatalogStatus.PUBLISHED, CatalogVersion.published_at <= at)
        .order_by(CatalogVersion.published_at.desc(), CatalogVersion.number.desc())
        .limit(1)
    ).scalar_one_or_none()
