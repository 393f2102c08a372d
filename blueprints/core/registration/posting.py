"""A profile form's POST: save the draft, submit, or propose a change, keeping every valid field (REG-1, REG-9)."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from blueprints.core import workflow
from blueprints.core.registration.changes import propose_change
from blueprints.core.registration.checks import duplicate_message
from blueprints.core.registration.fields import ATTR_LABELS
from blueprints.core.registration.files import docs_for, missing_docs, new_file_values, take_uploads
from blueprints.core.registration.lifecycle import Outcome, save_profile, submit
from blueprints.core.registration.mapping import enterprise_values, supplier_values
from models import db


def handle_profile_post(kind: str, owner, form, files, user, op: str) -> Outcome:
    """One POST of a profile form: op 'save' (draft), 'submit', or 'change' (after approval).

    Valid uploads are kept whatever happens; nothing else is saved unless the whole form
    is valid (and a duplicate USCC found only at the database is reported like the form's).
    """
    form.submitting = op in ("submit", "change")
    errors = take_uploads(form, kind, owner, files, user)
    refused_files = set(errors)
    valid = form.validate()
    if form.submitting:
        for name, msg in missing_docs(form, kind, owner).items():
            errors.setdefault(name, msg)
    if (not valid or errors) and op == "change":
        return Outcome(False, errors, "变更未提交：请按提示修改标红的项目（已上传的文件已保留，不必重新选择）")
    if not valid or errors:
        return _save_valid_part(kind, owner, form, errors, refused_files, user)
    values = (enterprise_values if kind == "enterprise" else supplier_values)(form)
    values.update(new_file_values(form, kind))
    try:
        with db.session.begin_nested():
            if op == "change":
                return propose_change(owner, values, user)
            save_profile(owner, values, user)
            if op == "submit":
                submit(owner, user)
                return Outcome(True, message="已提交审核。审核结果将通过站内消息通知您。")
    except IntegrityError:
        form.uscc.errors.append(duplicate_message(kind))
        return Outcome(False, errors, "提交的内容有误，请按提示修改")
    except workflow.NotAllowed as exc:
        return Outcome(False, errors, str(exc))
    return Outcome(True, message="草稿已保存")


# Model attribute -> the form fields its value is read from (a draft keeps an attribute whose
# fields are all well-formed).
VALUE_FIELDS = {
    "revenue_fen": ("revenue", "revenue_unit"), "city_code": ("city_code", "in_province"),
    "in_province": ("in_province",), "related_parties": ("related_parties", "uscc"),
}


def _save_valid_part(kind: str, owner, form, errors: dict, refused_files: set, user) -> Outcome:
    """A draft sent with errors: save every well-formed field and every good file at once; what has an
    error (a field, a refused file, a missing document) is not saved and the message names it."""
    bad = {name for name, field in form._fields.items() if field.errors}
    kept = {}
    for name in bad:  # read the values with the faulty fields blank: their parsers would fail
        kept[name], form[name].data = form[name].data, None
    try:
        values = (enterprise_values if kind == "enterprise" else supplier_values)(form)
    finally:
        for name, data in kept.items():
            form[name].data = data
    values = {attr: v for attr, v in values.items() if not set(VALUE_FIELDS.get(attr, (attr,))) & bad}
    values.update(new_file_values(form, kind))
    changed: list[str] = []
    try:
        with db.session.begin_nested():
            changed = save_profile(owner, values, user)
    except IntegrityError:
        form.uscc.errors.append(duplicate_message(kind))
        changed = []
    refused = [f.label.text for f in form if f.errors and f.type not in ("HiddenField", "CSRFTokenField")]
    refused += [d.label for d in docs_for(kind) if d.name in refused_files]
    saved = [ATTR_LABELS.get(attr, attr) for attr in changed]
    for d in docs_for(kind):  # a new file is part of the draft now, whether or not it changed
        if d.attr in values and ATTR_LABELS.get(d.attr) not in saved:
            saved.append(ATTR_LABELS.get(d.attr, d.label))
        if d.attr in values:
            form[d.attr].data = ""  # in force now: no longer a pending upload
    text = f"已保存：{'、'.join(saved)}。" if saved else "没有新的内容需要保存。"
    if refused:
        text += f"未保存：{'、'.join(refused)}（原因见各项下方），请修改"
    text += "；资料尚未提交审核" if form.submitting else ""
    return Outcome(False, errors, text)
