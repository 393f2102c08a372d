"""An enterprise whose registration is still being reviewed is not sent to "correct" a profile it cannot
edit: the 申领 page says to wait and links to the review's progress."""
from __future__ import annotations

from models import RegStatus, Role, db
from tests.factories import make_enterprise, make_user, make_world


def test_in_review_the_apply_page_says_wait_not_correct(app, login):
    # rule: ELIG-9, ELIG-1
    make_world()
    ent = make_enterprise(status=RegStatus.CITY_REVIEW)
    user = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    c = login(user)
    html = c.get("/enterprise/applications/new").get_data(as_text=True)
    assert 'id="application-start-button"' not in html
    assert 'id="application-wait-review"' in html and "审核通过后即可申领" in html
    assert "查看注册审核进度" in html and "去修改企业资料" not in html and "完成或修改企业注册资料" not in html


def test_a_returned_registration_is_still_sent_to_correct_the_profile(app, login):
    # rule: ELIG-9
    make_world()
    ent = make_enterprise(status=RegStatus.RETURNED)
    user = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    html = login(user).get("/enterprise/applications/new").get_data(as_text=True)
    assert "去修改企业资料" in html and 'id="application-wait-review"' not in html
