"""Text made in Python follows the reader's language; Chinese stays the default, and what is stored stays Chinese.

The page-wide check is tests/test_english_sweep.py; these pin the pieces it cannot tell apart: the check sentences
(eligibility ELIG-1..9, settlement SET-1/2/6), the settlement list's name (PUB-1), the human-check question
(SUP-5), and the menu's "修改密码" against the audit trail's "password changed".
"""
from flask_babel import force_locale, gettext

from blueprints.core import eligibility, payout
from blueprints.core import settlement as flow
from blueprints.public.complaints import _question
from models import Notice, Role, db
from tests.factories import make_settlement, make_user, make_voucher, make_world


def test_menu_says_change_password_and_the_audit_trail_says_password_changed(app, login):
    user = make_user(Role.ENTERPRISE)
    user.locale = "en"
    db.session.commit()
    html = login(user).get("/account").get_data(as_text=True)
    assert "Change password" in html and "password changed" not in html
    with app.test_request_context(), force_locale("en"):
        assert app.jinja_env.filters["action_label"]("password_change") == "password changed"
        assert gettext("修改密码") == "Change password"


def test_eligibility_checks_read_in_the_chosen_language(app):
    # rule: ELIG-9 (each check carries its reason, in the reader's language)
    w = make_world()
    with app.test_request_context():
        zh = eligibility.check(w.enterprise)
        with force_locale("en"):
            en = eligibility.check(w.enterprise)
    assert zh[0].title == "在广东省内注册、具有独立法人资格" and zh[0].reason == "企业注册资料已通过审核"
    assert en[0].title == "Registered in Guangdong as an independent legal person"
    established = next(c for c in en if c.rule == "ELIG-2")
    assert established.reason.startswith("Established on ") and "成立" not in established.reason


def test_settlement_checks_read_in_the_chosen_language(app):
    # rule: SET-1, SET-2
    st = make_settlement(make_voucher(), stage="draft")
    with app.test_request_context():
        zh = [f.text for f in flow.checks(st, [], [], has_acceptance=False).findings]
        with force_locale("en"):
            en = [f.text for f in flow.checks(st, [], [], has_acceptance=False).findings]
    assert "请至少添加一张发票" in zh
    assert "Add at least one invoice" in en
    assert any("below the voucher's face value" in t for t in en)
    assert not any("发票" in t for t in en)


def test_settlement_list_name_is_shown_in_english_but_its_notices_stay_chinese(app):
    # rule: PUB-1 (the list is named on pages in the reader's language; notices and documents keep the Chinese)
    w = make_world()
    users = {**w.users, "province": make_user(Role.PROVINCE)}
    make_settlement(make_voucher(users=w.users), stage="approved", users=users)
    city = users["city"]
    lst = payout.create_list("440100", "2026-1", city)
    db.session.commit()
    with app.test_request_context(), force_locale("en"):
        shown = lst.display_title
        payout.publish(lst, city, 7)
        db.session.commit()
    assert shown.endswith("settlement list, 2026 period 1 (batch 1)") and "结算清单" not in shown
    assert lst.title.endswith("2026年第1期结算清单（第 1 批）")
    bodies = [n.body for n in db.session.execute(db.select(Notice)).scalars()]
    assert any("结算清单" in b for b in bodies) and not any("settlement list" in b for b in bodies)


def test_the_human_check_question_follows_the_language(app):
    # rule: SUP-5
    with app.test_request_context():
        assert _question(3, "+", 4) == "3 加 4 等于几？"
        with force_locale("en"):
            assert _question(3, "+", 4) == "What is 3 plus 4?"
            assert _question(9, "-", 2) == "What is 9 minus 2?"
