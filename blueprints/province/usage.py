"""Province: usage verification intake (VER-2, SUP-6): data organisations and their API tokens, the
connection-record imports, and the CSV upload.

A token is shown once, on the page that issues it (a POST answer, never a redirect: the token must not
travel through the session cookie), and stored only as its SHA-256 (blueprints/api/tokens.py). A CSV
upload is copied in chunks to a temporary file next to the stored files, imported by
blueprints/core/connections.py, and removed; a file with any bad row imports nothing (422, the rows by
line number). Operators acting for the province use these pages through their acting role.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flask import current_app, flash, request, url_for
from flask_login import current_user
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.orm import joinedload
from wtforms import SelectField, StringField
from wtforms.validators import Length, ValidationError

from blueprints.api import tokens
from blueprints.core import audit, paging, security, uploads
from blueprints.core.htmx import page, redirect_to
from blueprints.core.nav import register_nav
from blueprints.province import bp
from models import ApiToken, AuditEvent, ConnectionImport, DataOrg, RegStatus, Role, Supplier, User, db

register_nav(Role.PROVINCE, [("上云用量核验", "province.connection_imports")])

PER_PAGE = 30
MAX_CSV_BYTES = 40 * 1024 * 1024  # CONNECTION_UPLOAD_BYTES; bigger files: `flask connections import`
CHUNK = 1024 * 1024
KIND_LABELS = {"operator": "网络运营商（数据提供方）", "supplier": "供应商"}
SOURCE_LABELS = {"csv": "网页上传", "cli": "命令行导入", "api": "数据接口"}
HISTORY_LABELS = {"create": "登记组织", "token_issue": "签发令牌", "token_revoke": "吊销令牌"}


class DataOrgForm(FlaskForm):
    kind = SelectField("类型", choices=[(k, _l(v)) for k, v in KIND_LABELS.items()])
    supplier_id = SelectField("供应商（类型为供应商时必选）", choices=[])
    name = StringField("名称（供应商可留空，用其登记名称）", validators=[Length(max=200, message="名称最多 200 个字符")])

    def validate_supplier_id(self, field):
        if self.kind.data != "supplier":
            return
        if not field.data:
            raise ValidationError("请选择供应商")
        s = db.session.get(Supplier, int(field.data)) if field.data.isdigit() else None
        if s is None or s.status != RegStatus.APPROVED:
            raise ValidationError("只能登记已通过审核的供应商")
        if db.session.execute(db.select(DataOrg.id).where(DataOrg.supplier_id == s.id)).first():
            raise ValidationError("该供应商已登记为数据组织")

    def validate_name(self, field):
        field.data = (field.data or "").strip()
        if not field.data and self.kind.data != "supplier":
            raise ValidationError("请填写组织名称")
        if field.data and db.session.execute(db.select(DataOrg.id).where(DataOrg.name == field.data)).first():
            raise ValidationError("已有同名的数据组织")


class TokenForm(FlaskForm):
    label = StringField("用途说明（例如：生产系统、测试）", validators=[Length(max=100, message="最多 100 个字符")])


def _supplier_choices() -> list[tuple[str, str]]:
    taken = db.select(DataOrg.supplier_id).where(DataOrg.supplier_id.is_not(None))
    rows = db.session.execute(db.select(Supplier.id, Supplier.name).where(
        Supplier.status == RegStatus.APPROVED, Supplier.id.not_in(taken)).order_by(Supplier.name)).all()
    return [("", _l("（不是供应商时留空）"))] + [(str(i), n) for i, n in rows]


def _token_figures(orgs) -> dict[int, tuple]:
    """org id -> (live tokens, last use) for a page of organisations, in one query."""
    ids = [o.id for o in orgs]
    if not ids:
        return {}
    live = db.func.count(ApiToken.id).filter(ApiToken.revoked_at.is_(None))
    return {oid: (n, last) for oid, n, last in db.session.execute(
        db.select(ApiToken.org_id, live, db.func.max(ApiToken.last_used_at))
        .where(ApiToken.org_id.in_(ids)).group_by(ApiToken.org_id))}


@bp.route("/data-orgs")
def data_orgs():
    """The organisations that send connection records by API, with their live tokens and last use."""
    # The supplier's name is shown per row: loaded with the page, not once per row.
    q = db.select(DataOrg).options(joinedload(DataOrg.supplier)).order_by(DataOrg.name, DataOrg.id)
    pg = paging.paginate(q, per_page=PER_PAGE)
    return page("province/usage_orgs.html", pg=pg, figures=_token_figures(pg.items), kinds=KIND_LABELS, args={})


@bp.route("/data-orgs/new", methods=["GET", "POST"])
def data_org_new():
    """Register a network operator or an approved supplier as a data organisation."""
    form = DataOrgForm()
    form.supplier_id.choices = _supplier_choices()
    if form.validate_on_submit():
        supplier = db.session.get(Supplier, int(form.supplier_id.data)) if form.kind.data == "supplier" else None
        org = DataOrg(name=form.name.data or supplier.name, kind=form.kind.data, supplier_id=supplier.id if supplier else None)
        db.session.add(org)
        db.session.flush()
        audit.record("data_org", org.id, "create", actor=current_user, reason=org.name, data={"kind": org.kind})
        db.session.commit()
        flash(f"已登记数据组织 {org.name}，可以为其签发访问令牌", "success")
        return redirect_to(url_for("province.data_org_detail", org_id=org.id))
    return page("province/usage_org_form.html", form=form, status=422 if request.method == "POST" else 200)


def _detail(org: DataOrg, status: int = 200, **extra):
    token_rows = db.session.execute(
        db.select(ApiToken).where(ApiToken.org_id == org.id).order_by(ApiToken.id.desc())).scalars().all()
    history = db.session.execute(db.select(AuditEvent).where(
        AuditEvent.entity_type == "data_org", AuditEvent.entity_id == org.id).order_by(AuditEvent.id.desc()).limit(50)).scalars().all()
    ctx = dict(org=org, tokens=token_rows, history=history, kinds=KIND_LABELS, history_labels=HISTORY_LABELS,
               form=TokenForm(formdata=None), nonce=security.new_nonce())
    ctx.update(extra)
    return page("province/usage_org_detail.html", status=status, **ctx)


@bp.route("/data-orgs/<int:org_id>")
def data_org_detail(org_id: int):
    """One data organisation: its tokens (prefix, created, last used, revoked), issuing and revoking."""
    return _detail(db.get_or_404(DataOrg, org_id))


@bp.route("/data-orgs/<int:org_id>/tokens", methods=["POST"])
def token_new(org_id: int):
    """Issue a token for the organisation and show it, this once."""
    org = db.get_or_404(DataOrg, org_id)
    form = TokenForm()
    if not form.validate():
        return _detail(org, 422, form=form)
    if not security.claim_nonce(current_user.id, request.form.get("nonce", "")):
        db.session.rollback()
        flash("该令牌已经签发过（重复提交）。如未保存，请吊销后重新签发。", "error")
        return redirect_to(url_for("province.data_org_detail", org_id=org.id))
    row, token = tokens.issue(org, form.label.data, current_user)
    db.session.commit()
    return page("province/usage_token_issued.html", org=org, row=row, token=token,
                api_url=url_for("api.connections_post", _external=True))


@bp.route("/api-tokens/<int:token_id>/revoke", methods=["POST"])
def token_revoke(token_id: int):
    """Revoke a token: every request carrying it gets 401 from now on."""
    row = db.get_or_404(ApiToken, token_id)
    if tokens.revoke(row, current_user):
        db.session.commit()
        flash(f"令牌 {row.prefix}… 已吊销", "success")
    else:
        flash(f"令牌 {row.prefix}… 早已吊销", "info")
    return redirect_to(url_for("province.data_org_detail", org_id=row.org_id))


@bp.route("/connection-imports")
def connection_imports():
    """Every intake of connection records, newest first: source, who, rows, matched, new days, completions."""
    pg = paging.paginate(db.select(ConnectionImport).order_by(ConnectionImport.id.desc()), per_page=PER_PAGE)
    org_ids = {i.org_id for i in pg.items if i.org_id}
    user_ids = {i.user_id for i in pg.items if i.user_id}
    orgs = dict(db.session.execute(db.select(DataOrg.id, DataOrg.name).where(DataOrg.id.in_(org_ids))).all()) if org_ids else {}
    users = dict(db.session.execute(db.select(User.id, User.display_name).where(User.id.in_(user_ids))).all()) if user_ids else {}
    return page("province/usage_imports.html", block="results", pg=pg, orgs=orgs, users=users, sources=SOURCE_LABELS,
                args={})


def _csv_limit() -> int:
    return int(current_app.config.get("CONNECTION_UPLOAD_BYTES", MAX_CSV_BYTES))


def _upload_form(status: int = 200, **ctx):
    ctx.setdefault("errors", [])
    ctx.setdefault("count", 0)
    ctx.setdefault("problem", "")
    return page("province/usage_upload.html", status=status, limit_mb=_csv_limit() // (1024 * 1024), **ctx)


def _save_upload(upload) -> Path:
    """Copy the upload to a temporary file in chunks (never whole into memory); ValueError when too big."""
    limit = _csv_limit()
    fd, name = tempfile.mkstemp(dir=uploads.storage_dir(), prefix=".csv-", suffix=".csv")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            written = 0
            while chunk := upload.stream.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise ValueError(f"文件超过 {limit // (1024 * 1024)} MB：请在服务器上用 flask connections import 命令导入")
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


@bp.route("/connection-imports/upload", methods=["GET", "POST"])
def connection_upload():
    """Upload a CSV of connection records; a file with any bad row imports nothing (rows listed by line)."""
    if request.method == "GET":
        return _upload_form()
    from blueprints.core import connections

    upload = request.files.get("file")
    if upload is None or not upload.filename or Path(upload.filename).suffix.lower() != ".csv":
        return _upload_form(422, problem="请选择要上传的 .csv 文件（UTF-8 编码，第一行为表头）")
    try:
        path = _save_upload(upload)
    except ValueError as exc:
        return _upload_form(413, problem=str(exc))
    try:
        result = connections.import_file(path, source="csv", user=current_user, filename=upload.filename)
    except connections.ImportRefused as exc:
        return _upload_form(422, errors=exc.errors, count=exc.count, problem=str(exc))
    finally:
        path.unlink(missing_ok=True)
    flash(f"已导入 {result.rows:,} 条连接记录：匹配 {result.matched_rows:,} 条，新增使用天数 {result.new_days:,} 个，"
          f"{result.vouchers_completed:,} 张服务券因此完成核验", "success")
    return redirect_to(url_for("province.connection_imports"))
