"""Catalog versions for the province (CAT-1, CAT-2): drafts edited inline, published once.

Every change goes through blueprints/core/catalog.py, which refuses any change to a
published version with a 409 (also for a hand-made POST).
"""
from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user

from blueprints.core import audit, catalog, workflow, xlsx
from blueprints.core.access import get_visible_or_404
from blueprints.core.htmx import is_htmx, page, redirect_to
from blueprints.core.nav import register_nav, register_panel
from blueprints.core.workflow import NotAllowed
from blueprints.province import bp
from blueprints.province.forms import CatalogImportForm, CatalogItemForm, CatalogVersionForm
from models import CatalogStatus, CatalogVersion, Role, db

register_nav(Role.PROVINCE, [("服务目录", "province.catalog_list")])
register_panel(Role.PROVINCE, "province/_panel_cat.html", lambda user: {
    "in_force": catalog.version_in_force(), "draft": catalog.current_draft()}, order=20)


def _version(version_id: int) -> CatalogVersion:
    return get_visible_or_404(CatalogVersion, version_id)


def _detail(v: CatalogVersion, *, block=None, status: int = 200, item_form=None, version_form=None,
            edit_id: int | None = None, edit_form=None, error: str | None = None):
    if version_form is None:
        version_form = CatalogVersionForm(formdata=None, title=v.title, cumulative_cap=v.cumulative_cap_fen)
    editing = next((i for i in v.items if i.id == edit_id), None)
    if editing is not None and edit_form is None:
        edit_form = CatalogItemForm(formdata=None, obj=editing, cap=editing.cap_fen)
    return page(
        "province/catalog_detail.html", block=block, status=status, v=v,
        editable=v.status == CatalogStatus.DRAFT, item_form=item_form or CatalogItemForm(formdata=None),
        version_form=version_form, edit_id=edit_id, edit_form=edit_form, error=error,
        problems=catalog.publish_problems(v) if v.status == CatalogStatus.DRAFT else [],
        transitions=workflow.actions_for(v, current_user),
        events=[(ev, catalog.describe(ev)) for ev in audit.timeline(catalog.ENTITY, v.id)],
    )


def _row(v: CatalogVersion, item, *, edit: bool = False, form=None, status: int = 200):
    items = list(v.items)
    ctx = dict(v=v, item=item, editable=v.status == CatalogStatus.DRAFT, is_first=items[0] is item,
               is_last=items[-1] is item)
    if edit:
        form = form or CatalogItemForm(formdata=None, obj=item, cap=item.cap_fen)
        return page("province/catalog_item_edit.html", status=status, form=form, **ctx)
    return page("province/catalog_item_row.html", status=status, **ctx)


def _require_draft(v: CatalogVersion) -> None:
    if v.status != CatalogStatus.DRAFT:
        raise NotAllowed(catalog.locked_message(v))


@bp.route("/catalog")
def catalog_list():
    """Every catalog version, newest first, with the draft (if any) and a comparison form."""
    versions = catalog.versions_with_counts()
    return page("province/catalog_list.html", versions=versions, draft=catalog.current_draft(),
                in_force=catalog.version_in_force())


@bp.route("/catalog/new", methods=["POST"])
def catalog_new():
    """Start a new version: a draft copied from the latest one (CAT-2)."""
    try:
        v = catalog.new_version(current_user)
    except catalog.CatalogError as exc:
        flash(str(exc), "warning")
        draft = catalog.current_draft()
        return redirect_to(url_for("province.catalog_detail", version_id=draft.id) if draft
                           else url_for("province.catalog_list"))
    db.session.commit()
    flash(f"已新建目录第{v.number}版草稿（复制自上一版），请编辑后发布", "success")
    return redirect_to(url_for("province.catalog_detail", version_id=v.id))


@bp.route("/catalog/<int:version_id>")
def catalog_detail(version_id: int):
    """A version: read-only once published; a draft is edited in place."""
    v = _version(version_id)
    return _detail(v, edit_id=request.args.get("edit", type=int) if v.status == CatalogStatus.DRAFT else None)


@bp.route("/catalog/<int:version_id>/settings", methods=["POST"])
def catalog_update(version_id: int):
    """Change a draft's title and cumulative cap per enterprise per cycle (CAT-1)."""
    v = _version(version_id)
    _require_draft(v)
    form = CatalogVersionForm()
    if not form.validate():
        return _detail(v, block="header", status=422, version_form=form)
    catalog.update_version(v.id, current_user, title=form.title.data, cumulative_cap_fen=form.cumulative_cap.data)
    db.session.commit()
    flash("已保存", "success")
    return _detail(v, block="header") if is_htmx() else redirect_to(
        url_for("province.catalog_detail", version_id=v.id))


@bp.route("/catalog/<int:version_id>/items", methods=["POST"])
def catalog_item_add(version_id: int):
    """Add an item to a draft; answers the items table (with the add form)."""
    v = _version(version_id)
    _require_draft(v)
    form = CatalogItemForm()
    if form.validate():
        try:
            catalog.add_item(v.id, current_user, code=form.code.data, name=form.name.data,
                             category=form.category.data, description=form.description.data,
                             cap_fen=form.cap.data)
        except catalog.CatalogError as exc:
            form.code.errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"已添加条目 {form.code.data}", "success")
            return _detail(v, block="items") if is_htmx() else redirect_to(
                url_for("province.catalog_detail", version_id=v.id))
    return _detail(v, block="items", status=422, item_form=form)


@bp.route("/catalog/<int:version_id>/items/<int:item_id>")
def catalog_item_row(version_id: int, item_id: int):
    """One item as a table row (cancelling an inline edit)."""
    v = _version(version_id)
    item = catalog.item_of(v, item_id)
    if not is_htmx():  # a table row: without htmx, the catalog page (R02)
        return redirect_to(url_for("province.catalog_detail", version_id=v.id))
    return _row(v, item)


@bp.route("/catalog/<int:version_id>/items/<int:item_id>/edit")
def catalog_item_edit(version_id: int, item_id: int):
    """One item as an inline edit row (a draft only)."""
    v = _version(version_id)
    _require_draft(v)
    item = catalog.item_of(v, item_id)
    if not is_htmx():
        return _detail(v, edit_id=item.id)
    return _row(v, item, edit=True)


@bp.route("/catalog/<int:version_id>/items/<int:item_id>", methods=["POST"])
def catalog_item_update(version_id: int, item_id: int):
    """Save an inline edit: the row again (200), or the edit row with errors (422)."""
    v = _version(version_id)
    _require_draft(v)
    item = catalog.item_of(v, item_id)
    form = CatalogItemForm()
    if form.validate():
        try:
            catalog.update_item(v.id, item.id, current_user, code=form.code.data, name=form.name.data,
                                category=form.category.data, description=form.description.data,
                                cap_fen=form.cap.data)
        except catalog.CatalogError as exc:
            form.code.errors.append(str(exc))
        else:
            db.session.commit()
            if not is_htmx():
                return redirect_to(url_for("province.catalog_detail", version_id=v.id))
            return _row(v, item)
    if not is_htmx():
        return _detail(v, status=422, edit_id=item.id, edit_form=form)
    return _row(v, item, edit=True, form=form, status=422)


@bp.route("/catalog/<int:version_id>/items/<int:item_id>/delete", methods=["POST"])
def catalog_item_delete(version_id: int, item_id: int):
    """Remove an item from a draft; answers the items table."""
    v = _version(version_id)
    catalog.remove_item(v.id, item_id, current_user)
    db.session.commit()
    flash("已删除条目", "success")
    return _detail(v, block="items") if is_htmx() else redirect_to(
        url_for("province.catalog_detail", version_id=v.id))


@bp.route("/catalog/<int:version_id>/items/<int:item_id>/move", methods=["POST"])
def catalog_item_move(version_id: int, item_id: int):
    """Move an item up or down in a draft; answers the items table."""
    v = _version(version_id)
    catalog.move_item(v.id, item_id, current_user, request.form.get("direction", ""))
    db.session.commit()
    return _detail(v, block="items") if is_htmx() else redirect_to(
        url_for("province.catalog_detail", version_id=v.id))


@bp.route("/catalog/<int:version_id>/transition", methods=["POST"])
def catalog_transition(version_id: int):
    """Publish a draft (CAT-2): from now on it is in force and read-only."""
    v = _version(version_id)
    action = request.form.get("action", "")
    if action != "publish":
        raise NotAllowed("当前状态下不能执行该操作")
    try:
        catalog.publish(v.id, current_user)
    except catalog.CatalogError as exc:
        db.session.rollback()
        return _detail(db.session.get(CatalogVersion, version_id), status=422, error=str(exc))
    db.session.commit()
    flash(f"目录第{v.number}版已发布，自此提交的申领适用本版标准", "success")
    return redirect_to(url_for("province.catalog_detail", version_id=v.id))


@bp.route("/catalog/<int:version_id>/delete", methods=["POST"])
def catalog_delete(version_id: int):
    """Delete a draft that will not be published."""
    v = _version(version_id)
    number = catalog.delete_draft(v.id, current_user)
    db.session.commit()
    flash(f"已删除目录第{number}版草稿", "success")
    return redirect_to(url_for("province.catalog_list"))


@bp.route("/catalog/<int:version_id>/export.xlsx")
def catalog_export(version_id: int):
    """Download a version as an xlsx workbook (the same columns the import reads)."""
    v = _version(version_id)
    return xlsx.send(lambda out: catalog.write_export_xlsx(out, v), f"catalog-v{v.number}.xlsx")


@bp.route("/catalog/import", methods=["GET", "POST"])
def catalog_import():
    """Import a new draft from an xlsx file: a bad row is reported by line and nothing is saved."""
    latest = catalog.latest_version()
    form = CatalogImportForm(formdata=request.form if request.method == "POST" else None,
                             title="应用服务目录（表格导入）",
                             cumulative_cap=latest.cumulative_cap_fen if latest else None)
    if request.method == "GET":
        return page("province/catalog_import.html", form=form, errors=[], draft=catalog.current_draft())
    errors: list[str] = []
    if form.validate():
        upload = request.files.get("file")
        try:
            v = catalog.import_xlsx(upload.read() if upload else b"", current_user, title=form.title.data,
                                    cumulative_cap_fen=form.cumulative_cap.data)
        except catalog.ImportRefused as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            db.session.commit()
            flash(f"已导入 {len(v.items)} 个条目，生成目录第{v.number}版草稿", "success")
            return redirect_to(url_for("province.catalog_detail", version_id=v.id))
    return page("province/catalog_import.html", status=422, form=form, errors=errors,
                draft=catalog.current_draft())


@bp.route("/catalog/diff")
def catalog_diff():
    """Side by side: what changed between two versions (added, removed, changed) (CAT-2)."""
    versions = [v for v, _ in catalog.versions_with_counts()]
    a_id, b_id = request.args.get("a", type=int), request.args.get("b", type=int)
    if b_id is None and versions:
        b_id = versions[0].id
    if a_id is None and len(versions) > 1:
        a_id = versions[1].id
    a = db.session.get(CatalogVersion, a_id) if a_id else None
    b = db.session.get(CatalogVersion, b_id) if b_id else None
    result = catalog.diff(a, b) if a is not None and b is not None else None
    return page("province/catalog_diff.html", block="result", versions=versions, a=a, b=b, d=result)
