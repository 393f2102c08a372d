"""Rule IDs (ELIG-5, PAY-3 …) belong in code and tests, never on pages: no template text and no user-facing
(Chinese) string in the application code carries one."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULE = re.compile(r"\b(ROLE|REG|ELIG|CAT|CYC|APP|AMT|SET|VER|PUB|PAY|DL|REL|PIL|SUP|SLA|DOC)-\d+\b")
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_no_template_shows_a_rule_id():
    found = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = re.sub(r"\{#.*?#\}", "", path.read_text(), flags=re.S)  # Jinja comments are for developers
        found += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in RULE.finditer(text)]
    assert found == []


def test_no_chinese_message_in_the_code_carries_a_rule_id():
    found = []
    for path in sorted([*(ROOT / "blueprints").rglob("*.py"), ROOT / "app.py", ROOT / "cli.py"]):
        tree = ast.parse(path.read_text())
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if CJK.search(node.value) and RULE.search(node.value):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]}")
    assert found == []


HEX64 = re.compile(r"\b[0-9a-f]{64}\b")


def test_a_new_application_has_no_pre_ticked_declaration(app, login):
    # A declaration is an act of the person: 项目实施地点在广东省内 starts unticked.
    from blueprints.core import application as flow
    from models import db
    from tests.factories import make_world

    w = make_world()
    db.session.commit()
    c = login(w.ent_user)
    html = c.get("/enterprise/applications/new/form").get_data(as_text=True)
    box = re.search(r'<input[^>]*name="place_in_guangdong"[^>]*>', html).group(0)
    assert "checked" not in box
    a = flow.start(w.enterprise, w.ent_user)
    assert a.place_in_guangdong is False


def test_the_enterprise_sees_no_hashes_and_plain_words(app, login):
    # No SHA-256 on the enterprise's voucher page; a certificate never claimed reads 未申报, not 未通过.
    from models import User, db
    from tests.factories import make_voucher

    v = make_voucher()
    user = db.session.execute(db.select(User).where(User.enterprise_id == v.enterprise_id)).scalars().first()
    v.enterprise.dcmm_certified = False
    db.session.commit()
    c = login(user)
    page = c.get(f"/enterprise/vouchers/{v.id}").get_data(as_text=True)
    assert v.pdf_file is not None and "PDF 于发放时生成并存档" in page  # the hash would have been here
    assert not HEX64.search(page) and "SHA-256" not in page
    profile = c.get("/enterprise/profile").get_data(as_text=True)
    assert "SHA-256" not in profile and "未通过" not in profile


def test_every_recorded_action_reads_as_a_verb_on_the_timeline():
    # A timeline says what happened (提交, 退回修改, 登记支付 …), never an internal action name.
    from blueprints.core import workflow

    table_actions = {t.action for _, table in workflow.WORKFLOWS.values() for t in table}
    found = set()
    call = re.compile(r"audit\.record\(\s*[^,]+,\s*[^,]+,\s*f?\"([a-z_{}]+)\"")
    for path in (ROOT / "blueprints").rglob("*.py"):
        found |= set(call.findall(path.read_text()))
    found = {a for a in found if "{" not in a}
    for kind in ("disqualify", "suspend", "cancel"):  # f"sanction_{kind}"
        found.add(f"sanction_{kind}")
    missing = sorted(a for a in found if a not in workflow.ACTION_LABELS and a not in table_actions)
    assert missing == []
