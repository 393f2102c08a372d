"""The profile's documents (DOC-3): uploads that survive a form with errors, missing documents, pending files."""
from __future__ import annotations

from blueprints.core import uploads
from blueprints.core.registration.fields import DOCS, Doc
from models import StoredFile, db


# --------------------------------------------------------------------------- uploads


def docs_for(kind: str) -> tuple[Doc, ...]:
    return DOCS[kind]


def take_uploads(form, kind: str, owner, files, user) -> dict[str, str]:
    """Store every valid uploaded document now, so a form sent back with errors loses none.

    A stored file's id travels in the form's hidden field `<attr>` until the profile is
    saved; an id that is not this user's pending upload for this owner is dropped.
    Returns {input name: Chinese error} for refused files (DOC-3: checked by content).
    """
    errors: dict[str, str] = {}
    for d in docs_for(kind):
        hidden = form[d.attr]
        storage = next((f for f in (files.get(d.name), files.get(d.name + "_photo")) if f and f.filename), None)
        if storage is not None:
            try:
                stored = uploads.save_upload(storage, kind=d.kind, owner_type=kind, owner_id=owner.id, user_id=user.id)
                hidden.data = str(stored.id)
                continue
            except uploads.UploadError as exc:
                errors[d.name] = f"{d.label}：{exc}"
        if hidden.data and _pending_file(hidden.data, kind, owner, d, user) is None:
            hidden.data = ""
    return errors


def _pending_file(raw, kind: str, owner, d: Doc, user) -> StoredFile | None:
    try:
        f = db.session.get(StoredFile, int(raw))
    except (TypeError, ValueError):
        return None
    if f is None or f.owner_type != kind or f.owner_id != owner.id or f.kind != d.kind or f.uploaded_by != user.id:
        return None
    return f


def missing_docs(form, kind: str, owner) -> dict[str, str]:
    errors = {}
    for d in docs_for(kind):
        needed = d.required or (d.required_when and bool(form[d.required_when].data))
        if needed and not form[d.attr].data and not getattr(owner, d.attr):
            errors[d.name] = f"请上传{d.label}"
    return errors


def new_file_values(form, kind: str) -> dict:
    return {d.attr: int(form[d.attr].data) for d in docs_for(kind) if form[d.attr].data}


def docs_context(kind: str, owner, form, errors: dict) -> list[dict]:
    """What the form shows for each document: the file in force, a pending upload (or the file a
    returned change proposes, which travels the same way), its error."""
    ids = {getattr(owner, d.attr) for d in docs_for(kind)} | {
        int(form[d.attr].data) for d in docs_for(kind) if (form[d.attr].data or "").isdigit()}
    found = files_by_id(ids)
    out = []
    for d in docs_for(kind):
        pending = (form[d.attr].data or "")
        out.append({
            "doc": d, "current": found.get(getattr(owner, d.attr)),
            "pending": found.get(int(pending)) if pending.isdigit() else None, "error": errors.get(d.name),
        })
    return out


def files_by_id(ids) -> dict[int, StoredFile]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {f.id: f for f in db.session.execute(db.select(StoredFile).where(StoredFile.id.in_(ids))).scalars()}
