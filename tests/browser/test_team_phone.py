"""The team page on a phone: a name stays beside its （我）, role badges side by side, no empty 操作 line; an
invitation lands on the members page with its link once, with a copy button that copies or selects it."""
from __future__ import annotations

import pytest

from models import Role, db
from tests.browser.conftest import login_via_form
from tests.factories import PASSWORD, make_enterprise, make_user


@pytest.mark.browser
def test_the_team_page_on_a_phone_and_the_invitation_link_once(live_server, page):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, username="boss_phone", enterprise_id=ent.id, display_name="张小明")
    db.session.commit()
    boss_id = boss.id
    db.session.commit()  # no read transaction left open: the server writes to the same database
    login_via_form(page, live_server.url, "boss_phone", PASSWORD)
    page.goto(f"{live_server.url}/team")
    row = page.locator(f"#member-{boss_id}")
    name = row.locator("td[data-label='姓名'] .cell-group").bounding_box()
    me = row.locator("td[data-label='姓名'] small").bounding_box()
    assert me["x"] - name["x"] < 120  # （我） right after the name, not at the far edge
    b1, b2 = (row.locator(".badge").nth(i).bounding_box() for i in range(2))
    assert abs(b2["x"] - (b1["x"] + b1["width"])) < 20 or b2["y"] > b1["y"]  # side by side, or wrapped
    assert row.locator("td[data-label='操作']").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.fill("#username", "li.si")
    page.fill("#display_name", "李四")
    page.fill("#phone", "13800000001")
    page.click("#team-invite button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/team")
    link = page.input_value("#invite-link")
    assert "/invite/" in link
    page.click("#invite-link-copy")
    page.wait_for_function("document.getElementById('invite-link-copy-status').textContent.length > 0")
    said = page.inner_text("#invite-link-copy-status")
    if "无法自动复制" in said:  # no clipboard here: the whole link is selected instead
        assert page.evaluate("window.getSelection().toString() || (document.activeElement.id === 'invite-link' "
                             "&& document.activeElement.selectionEnd - document.activeElement.selectionStart)")
    else:
        assert "已复制" in said
    page.reload()  # a GET: no resend prompt, and the link is not shown again
    page.wait_for_load_state("networkidle")
    assert page.locator("#invite-link").count() == 0 and "li.si" in page.inner_text("#team-members")
