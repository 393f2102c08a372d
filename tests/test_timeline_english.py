"""Every verb a timeline can show (a transition's label or an action label) has its English words, so an
English page never shows 保存资料 or 停用成员 in its 办理记录."""
from __future__ import annotations

import re

from flask_babel import force_locale, gettext

from blueprints.core import workflow
from blueprints.core.registration import fields


def test_every_timeline_verb_is_translated(app):
    labels = set(workflow.ACTION_LABELS.values()) | set(fields.ACTION_LABELS.values())
    for _name, table in workflow.WORKFLOWS.values():
        labels |= {t.label for t in table}
    assert "保存资料" in labels
    with app.test_request_context(), force_locale("en"):
        untranslated = sorted(label for label in labels if re.search(r"[\u4e00-\u9fff]", gettext(label)))
    assert untranslated == []
