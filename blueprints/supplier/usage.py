"""The supplier's customers' vouchers with their usage (VER-3): who is still short of N days."""
from __future__ import annotations

from flask_login import current_user
from sqlalchemy.orm import joinedload

from blueprints.core import paging
from blueprints.core.htmx import page
from blueprints.core.nav import register_nav
from blueprints.core.usage_pages import statuses
from blueprints.supplier import bp
from models import Application, Role, Voucher, db

register_nav(Role.SUPPLIER, [("客户服务券", "supplier.voucher_list")])

PER_PAGE = 20


@bp.route("/vouchers")
def voucher_list():
    """Vouchers naming this supplier, newest first, with each one's usage (用量 k/N)."""
    q = (db.select(Voucher).where(Voucher.supplier_id == current_user.supplier_id)
         .options(joinedload(Voucher.enterprise), joinedload(Voucher.supplier), joinedload(Voucher.cycle),
                  joinedload(Voucher.application).joinedload(Application.catalog_item))
         .order_by(Voucher.id.desc()))
    pg = paging.paginate(q, per_page=PER_PAGE)
    return page("voucher_list.html", block="results", pg=pg, scope="supplier", endpoint="supplier.voucher_list",
                args={}, filters=None, usages=statuses(pg.items))
