"""The catalog (应用服务目录) and its standards (CAT-1..4).

A version is edited as a draft and then published; a published version never changes
(CAT-2): every change goes through _draft_for_update(), which locks the version row and
refuses anything but a draft with a 409 (NotAllowed). Only one draft exists at a time, so
version numbers are published in order. version_in_force(at) is the single answer to
"which standard applies at this moment" (CAT-3). Every change is written to the audit
trail against the version ("catalog_version", id), so its timeline tells the whole story.
Functions here only flush; the route commits.
"""
from __future__ import annotations

import datetime as dt
import io
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from flask import abort
from sqlalchemy.exc import IntegrityError

from blueprints.core import audit, money, workflow
from blueprints.core.timeutil import now
from blueprints.core.workflow import NotAllowed
from models import CATALOG_CATEGORIES, CatalogItem, CatalogStatus, CatalogVersion, db

# CAT-4: what the cloud fee covers. Shown on the public catalog page and beside the
# amount field of the application form.
CLOUD_FEE_DEFINITION = (
    "上云上平台费用，是指企业购买公有云资源、平台服务、应用服务、网络服务，以及为上云上平台所需的"
    "实施、设备接入和网络改造等服务的费用；不包括购买自动化设备或非云化软件的费用。"
)

ENTITY = "catalog_version"
MAX_IMPORT_ROWS = 2000
MAX_IMPORT_BYTES = 5 * 1024 * 1024
XLSX_HEADER = ("编码", "名称", "类别", "说明", "补助上限（元）")


class CatalogError(ValueError):
    """A change that is refused with a message for the form (422)."""


@contextmanager
def conflicts_as_409():
    """A unique key taken by a concurrent request (two admins at once) is a 409, not a 500."""
    try:
        yield
    except IntegrityError as exc:
        raise NotAllowed("该记录刚被他人修改，请刷新页面后重试") from exc


# --------------------------------------------------------------------------- which version applies


def version_in_force(at: dt.datetime | None = None) -> CatalogVersion | None:
    """The latest version published at or before `at` (CAT-3): the standard for an application
    submitted at that moment. A version published later never applies to it."""
    at = at or now()
    return db.session.execute(
        db.select(CatalogVersion)
        .where(CatalogVersion.status == CatalogStatus.PUBLISHED, CatalogVersion.published_at <= at)
        .order_by(CatalogVersion.published_at.desc(), CatalogVersion.number.desc())
        .limit(1)
    ).scalar_one_or_none()


def items_by_category(version: CatalogVersion | None) -> list[tuple[str, list[CatalogItem]]]:
    """Items grouped by category, categories in the catalog's standard order, then any others."""
    if version is None:
        return []
    groups: dict[str, list[CatalogItem]] = {}
    for item in version.items:
        groups.setdefault(item.category, []).append(item)
    order = {c: i for i, c in enumerate(CATALOG_CATEGORIES)}
    return sorted(groups.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))


# --------------------------------------------------------------------------- reading


def latest_version() -> CatalogVersion | None:
    return db.session.execute(
        db.select(CatalogVersion).order_by(CatalogVersion.number.desc()).limit(1)
    ).scalar_one_or_none()


def current_draft() -> CatalogVersion | None:
    return db.session.execute(
        db.select(CatalogVersion).where(CatalogVersion.status == CatalogStatus.DRAFT).limit(1)
    ).scalar_one_or_none()


def versions_with_counts() -> list[tuple[CatalogVersion, int]]:
    """Every version, newest first, with its item count (one query)."""
    counts = (
        db.select(CatalogItem.version_id, db.func.count(CatalogItem.id).label("n"))
        .group_by(CatalogItem.version_id)
        .subquery()
    )
    rows = db.session.execute(
        db.select(CatalogVersion, db.func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.version_id == CatalogVersion.id)
        .order_by(CatalogVersion.number.desc())
    ).all()
    return [(v, n) for v, n in rows]


# --------------------------------------------------------------------------- the draft guard


def locked_message(v: CatalogVersion) -> str:
    return f"目录第{v.number}版已发布，已发布的版本不能修改；如需调整，请新建版本。"


def _draft_for_update(version_id: int) -> CatalogVersion:
    """Load a version for a change, locking its row; refuse (409) unless it is a draft (CAT-2).

    The row lock (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers) makes an
    item edit and a concurrent publication happen one after the other, never interleaved.
    """
    v = db.session.execute(
        db.select(CatalogVersion).where(CatalogVersion.id == version_id).with_for_update()
        .execution_options(populate_existing=True)  # the locked row's state, not an earlier read
    ).scalar_one_or_none()
    if v is None:
        abort(404)
    if v.status != CatalogStatus.DRAFT:
        raise NotAllowed(locked_message(v))
    return v


def item_of(v: CatalogVersion, item_id: int) -> CatalogItem:
    for item in v.items:
        if item.id == item_id:
            return item
    abort(404)


def _item_data(item: CatalogItem) -> dict:
    return {"code": item.code, "name": item.name, "category": item.category,
            "description": item.description, "cap_fen": item.cap_fen}


def _record(v: CatalogVersion, action: str, user, data: dict | None = None, reason: str = "", **kw):
    return audit.record(ENTITY, v.id, action, actor=user, data=data, reason=reason, **kw)


# --------------------------------------------------------------------------- versions


def new_version(user) -> CatalogVersion:
    """A new draft, copied from the latest version (CAT-2). Refused while a draft exists."""
    draft = current_draft()
    if draft is not None:
        raise CatalogError(f"已有草稿（目录第{draft.number}版），请先编辑并发布或删除该草稿。")
    source = latest_version()
    number = (source.number if source else 0) + 1
    v = CatalogVersion(
        number=number,
        title=f"应用服务目录（第{number}版）",
        status=CatalogStatus.DRAFT,
        cumulative_cap_fen=source.cumulative_cap_fen if source else 0,
        created_by=getattr(user, "id", None),
    )
    if source is not None:
        for item in source.items:
            v.items.append(CatalogItem(code=item.code, name=item.name, category=item.category,
                                       description=item.description, cap_fen=item.cap_fen,
                                       position=item.position))
    db.session.add(v)
    with conflicts_as_409():
        db.session.flush()
    _record(v, "create", user, to_state=CatalogStatus.DRAFT,
            data={"copied_from": source.number if source else None, "items": len(v.items)})
    return v


def update_version(version_id: int, user, *, title: str, cumulative_cap_fen: int) -> CatalogVersion:
    v = _draft_for_update(version_id)
    before = {"title": v.title, "cumulative_cap_fen": v.cumulative_cap_fen}
    v.title = title.strip()
    v.cumulative_cap_fen = cumulative_cap_fen
    after = {"title": v.title, "cumulative_cap_fen": v.cumulative_cap_fen}
    if before != after:
        _record(v, "edit", user, data={"before": before, "after": after})
    db.session.flush()
    return v


def delete_draft(version_id: int, user) -> int:
    """Remove a draft that will not be published; returns its number."""
    v = _draft_for_update(version_id)
    number = v.number
    _record(v, "delete", user, from_state=CatalogStatus.DRAFT, data={"number": number, "items": len(v.items)})
    db.session.delete(v)
    db.session.flush()
    return number


def publish_problems(v: CatalogVersion) -> list[str]:
    """What stops a draft from being published (shown before the button is pressed)."""
    problems = []
    if not v.items:
        problems.append("目录没有条目")
    if v.cumulative_cap_fen <= 0:
        problems.append("请先设置每家企业每批次的累计上限")
    over = [i.code for i in v.items if v.cumulative_cap_fen > 0 and i.cap_fen > v.cumulative_cap_fen]
    if over:
        problems.append("以下条目的补助上限超过累计上限：" + "、".join(over))
    return problems


def publish(version_id: int, user) -> CatalogVersion:
    """Publish a draft (CAT-2): from now on it is the version in force (CAT-3), and read-only."""
    v = _draft_for_update(version_id)
    problems = publish_problems(v)
    if problems:
        raise CatalogError("不能发布：" + "；".join(problems))
    v.published_at = now()
    workflow.apply(v, "publish", user, data={"number": v.number, "items": len(v.items),
                                             "cumulative_cap_fen": v.cumulative_cap_fen})
    db.session.flush()
    return v


# --------------------------------------------------------------------------- items


def _check_code_free(v: CatalogVersion, code: str, except_id: int | None = None) -> None:
    for other in v.items:
        if other.code == code and other.id != except_id:
            raise CatalogError(f"编码 {code} 在本版本中已存在")


def add_item(version_id: int, user, *, code: str, name: str, category: str, description: str,
             cap_fen: int) -> CatalogItem:
    v = _draft_for_update(version_id)
    code = code.strip()
    _check_code_free(v, code)
    position = max((i.position for i in v.items), default=-1) + 1
    item = CatalogItem(code=code, name=name.strip(), category=category, description=(description or "").strip(),
                       cap_fen=cap_fen, position=position)
    v.items.append(item)
    db.session.flush()
    _record(v, "item_add", user, data={"item": _item_data(item)})
    return item


def update_item(version_id: int, item_id: int, user, **fields) -> CatalogItem:
    v = _draft_for_update(version_id)
    item = item_of(v, item_id)
    fields["code"] = fields["code"].strip()
    fields["name"] = fields["name"].strip()
    fields["description"] = (fields.get("description") or "").strip()
    _check_code_free(v, fields["code"], except_id=item.id)
    before = _item_data(item)
    for key in ("code", "name", "category", "description", "cap_fen"):
        setattr(item, key, fields[key])
    after = _item_data(item)
    changed = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    if changed:
        _record(v, "item_edit", user, data={"code": item.code, "changed": changed})
    db.session.flush()
    return item


def remove_item(version_id: int, item_id: int, user) -> None:
    v = _draft_for_update(version_id)
    item = item_of(v, item_id)
    _record(v, "item_remove", user, data={"item": _item_data(item)})
    v.items.remove(item)
    db.session.flush()


def move_item(version_id: int, item_id: int, user, direction: str) -> None:
    """Swap an item with its neighbour ("up" or "down"); positions are renumbered 0..n-1."""
    v = _draft_for_update(version_id)
    items = sorted(v.items, key=lambda i: (i.position, i.id))
    item = item_of(v, item_id)
    idx = items.index(item)
    other = idx - 1 if direction == "up" else idx + 1
    if direction not in ("up", "down") or not 0 <= other < len(items):
        return
    items[idx], items[other] = items[other], items[idx]
    for pos, it in enumerate(items):
        it.position = pos
    _record(v, "item_move", user, data={"code": item.code, "direction": direction, "position": other})
    db.session.flush()


# --------------------------------------------------------------------------- comparing versions


@dataclass
class DiffRow:
    code: str
    old: CatalogItem | None
    new: CatalogItem | None
    changed: set[str] = field(default_factory=set)

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed" if self.changed else "same"


@dataclass
class Diff:
    a: CatalogVersion
    b: CatalogVersion
    rows: list[DiffRow]

    def of(self, kind: str) -> list[DiffRow]:
        return [r for r in self.rows if r.kind == kind]

    @property
    def cap_changed(self) -> bool:
        return self.a.cumulative_cap_fen != self.b.cumulative_cap_fen


DIFF_FIELDS = ("name", "category", "description", "cap_fen")


def diff(a: CatalogVersion, b: CatalogVersion) -> Diff:
    """What changed from version a to version b, matched by item code (CAT-2)."""
    old = {i.code: i for i in a.items}
    new = {i.code: i for i in b.items}
    rows: list[DiffRow] = []
    for item in b.items:  # b's order first, then what b dropped, in a's order
        before = old.get(item.code)
        changed = {f for f in DIFF_FIELDS if before is not None and getattr(before, f) != getattr(item, f)}
        rows.append(DiffRow(item.code, before, item, changed))
    rows.extend(DiffRow(i.code, i, None) for i in a.items if i.code not in new)
    return Diff(a, b, rows)


# --------------------------------------------------------------------------- xlsx


def write_export_xlsx(out, v: CatalogVersion) -> int:
    """The version as an xlsx file written to out, in the columns parse_xlsx reads back (CAT-2)."""
    from blueprints.core import xlsx

    items = ([i.code, i.name, i.category, i.description, money.fen_to_decimal(i.cap_fen)] for i in v.items)
    info = [["版本号", v.number], ["名称", v.title], ["状态", "已发布" if v.status == CatalogStatus.PUBLISHED else "草稿"],
            ["发布时间", v.published_at or ""],
            ["每家企业每批次累计上限（元）", money.fen_to_decimal(v.cumulative_cap_fen)],
            ["上云上平台费用定义", CLOUD_FEE_DEFINITION]]
    return xlsx.write_xlsx(out, [xlsx.Sheet("目录", XLSX_HEADER, (12, 36, 16, 50, 16), items),
                                 xlsx.Sheet("版本信息", (), (30, 60), info)])


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value).strip()


@dataclass
class ParsedItem:
    line: int
    code: str
    name: str
    category: str
    description: str
    cap_fen: int


def parse_xlsx(data: bytes) -> tuple[list[ParsedItem], list[str]]:
    """Read catalog rows from an xlsx file; returns (items, errors by line). Nothing is saved."""
    if not data:
        return [], ["请选择要导入的 xlsx 文件"]
    if len(data) > MAX_IMPORT_BYTES:
        return [], ["文件过大（不能超过 5 MB）"]
    if not data.startswith(b"PK\x03\x04"):
        return [], ["文件不是 xlsx 表格（请用 Excel 或 WPS 另存为 .xlsx）"]
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        ws = wb.worksheets[0]
        rows = list(ws.iter_rows(min_row=1, max_row=MAX_IMPORT_ROWS + 2, max_col=5, values_only=True))
    except Exception:  # any parse failure of an uploaded file is a refusal, not a crash
        return [], ["文件不是有效的 xlsx 表格，无法读取"]
    if not rows:
        return [], ["表格是空的"]
    header = tuple(_cell_text(c) for c in rows[0])
    if header[:2] != XLSX_HEADER[:2] or len([h for h in header if h]) < len(XLSX_HEADER):
        return [], ["第 1 行应为表头：" + "、".join(XLSX_HEADER) + "（可先导出一个版本作为模板）"]
    if len(rows) > MAX_IMPORT_ROWS + 1:
        return [], [f"条目过多：一次最多导入 {MAX_IMPORT_ROWS} 行"]
    items: list[ParsedItem] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        cells = [_cell_text(c) for c in (tuple(row) + (None,) * 5)[:5]]
        if not any(cells):
            continue
        code, name, category, description, cap_text = cells
        problems = []
        if not code:
            problems.append("编码不能为空")
        elif len(code) > 20 or not all(ch.isascii() and (ch.isalnum() or ch in "_.-") for ch in code):
            problems.append("编码只能包含字母、数字、点、下划线和连字符，最多 20 个字符")
        elif code in seen:
            problems.append(f"编码 {code} 与第 {seen[code]} 行重复")
        if not name:
            problems.append("名称不能为空")
        elif len(name) > 200:
            problems.append("名称最多 200 个字")
        if category not in CATALOG_CATEGORIES:
            problems.append(f"类别“{category}”不在目录类别中（可选：{'、'.join(CATALOG_CATEGORIES)}）"
                            if category else "类别不能为空")
        if len(description) > 2000:
            problems.append("说明最多 2000 个字")
        cap_fen = 0
        try:
            cap_fen = money.parse_yuan(cap_text, "yuan")
            if cap_fen <= 0:
                problems.append("补助上限须大于 0")
        except money.MoneyError as exc:
            problems.append(f"补助上限：{exc}")
        if code and code not in seen:
            seen[code] = line
        if problems:
            errors.append(f"第 {line} 行：" + "；".join(problems))
        else:
            items.append(ParsedItem(line, code, name, category, description, cap_fen))
    if not items and not errors:
        errors.append("表格中没有条目")
    return items, errors


def import_xlsx(data: bytes, user, *, title: str, cumulative_cap_fen: int) -> CatalogVersion:
    """A new draft from a workbook (CAT-2). Any bad row refuses the whole file: nothing is saved."""
    items, errors = parse_xlsx(data)
    if errors:
        raise ImportRefused(errors)
    draft = current_draft()
    if draft is not None:
        raise ImportRefused([f"已有草稿（目录第{draft.number}版），请先发布或删除该草稿再导入。"])
    source = latest_version()
    number = (source.number if source else 0) + 1
    v = CatalogVersion(number=number, title=title.strip(), status=CatalogStatus.DRAFT,
                       cumulative_cap_fen=cumulative_cap_fen, created_by=getattr(user, "id", None))
    for pos, p in enumerate(items):
        v.items.append(CatalogItem(code=p.code, name=p.name, category=p.category, description=p.description,
                                   cap_fen=p.cap_fen, position=pos))
    db.session.add(v)
    with conflicts_as_409():
        db.session.flush()
    _record(v, "import", user, to_state=CatalogStatus.DRAFT, data={"items": len(items)})
    return v


class ImportRefused(CatalogError):
    def __init__(self, errors: list[str]):
        super().__init__("；".join(errors))
        self.errors = errors


# --------------------------------------------------------------------------- history in words

FIELD_LABELS = {"code": "编码", "name": "名称", "category": "类别", "description": "说明", "cap_fen": "补助上限",
                "title": "版本名称", "cumulative_cap_fen": "累计上限"}


def _value_text(key: str, value) -> str:
    if key.endswith("_fen") and value is not None:
        return money.yuan(value)
    return "（空）" if value in (None, "") else str(value)


def describe(ev) -> str:
    """One audit event of a version in Chinese, for its history (CAT-2: who changed what)."""
    d = ev.data or {}
    item = d.get("item") or {}
    if ev.action == "create":
        return f"新建草稿（复制自第{d['copied_from']}版）" if d.get("copied_from") else "新建草稿"
    if ev.action == "import":
        return f"从表格导入 {d.get('items', 0)} 个条目"
    if ev.action == "publish":
        return f"发布（{d.get('items', 0)} 个条目）"
    if ev.action == "delete":
        return "删除草稿"
    if ev.action == "item_add":
        return f"添加条目 {item.get('code', '')} {item.get('name', '')}（{_value_text('cap_fen', item.get('cap_fen'))}）"
    if ev.action == "item_remove":
        return f"删除条目 {item.get('code', '')} {item.get('name', '')}"
    if ev.action == "item_move":
        return f"{'上移' if d.get('direction') == 'up' else '下移'}条目 {d.get('code', '')}"
    if ev.action == "item_edit":
        parts = [f"{FIELD_LABELS.get(k, k)} {_value_text(k, a)} → {_value_text(k, b)}"
                 for k, (a, b) in (d.get("changed") or {}).items() if k != "description"]
        if "description" in (d.get("changed") or {}):
            parts.append("说明已修改")
        return f"修改条目 {d.get('code', '')}：" + "；".join(parts)
    if ev.action == "edit":
        before, after = d.get("before") or {}, d.get("after") or {}
        return "修改版本信息：" + "；".join(
            f"{FIELD_LABELS.get(k, k)} {_value_text(k, before.get(k))} → {_value_text(k, after.get(k))}"
            for k in after if before.get(k) != after.get(k))
    return ev.action
