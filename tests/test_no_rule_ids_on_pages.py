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
