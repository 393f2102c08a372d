"""What a first-time walk-through on a phone found on the home pages and the team page: the city's card for
public messages (SUP-5), the team page's rows, the invitation link shown once after a redirect, and the
enterprise's voucher card and empty voucher list (APP-5: a voucher is issued on approval)."""
from __future__ import annotations

import datetime as dt
import hashlib
import re

from blueprints.core import complaints as core
from blueprints.core.timeutil import add_working_days, today
from models import Complaint, RegStatus, Role, TeamInvite, db
from tests.conftest import _login
from tests.factories import make_enterprise, make_user, make_world

GZ, SZ = "440100", "440300"


def dt_days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def _message(city_code, due, status=core.OPEN):
    c = Complaint(tracking_no=core.tracking_no(), category="consult", text="请问服务券可以跨年度使用吗？",
                  city_code=city_code, due_on=due, status=status)
    db.session.add(c)
    return c


def _panel(html: str) -> str:
    m = re.search(r'<section class="card" id="panel-complaints">(.*?)</section>', html, re.S)
    assert m, html[-3000:]
    return m.group(1)


def _stat(panel: str, part: str) -> str | None:
    m = re.search(rf'id="panel-complaints-{part}">([^<]*)<', panel)
    return m.group(1).strip() if m else None


# --------------------------------------------------------------------------- 1. city home: messages card


def test_the_city_home_counts_its_open_messages_and_their_deadlines_not_another_citys(app, login, count_queries):
    # rule: SUP-5, SLA-4 -- open messages forwarded to the officer's city; overdue and due within 2 working days
    t = today()
    officer_gz, officer_sz = make_user(Role.CITY, city_code=GZ), make_user(Role.CITY, city_code=SZ)
    _message(GZ, t - dt_days(1))                       # overdue
    _message(GZ, t)                                    # due today: within 2 working days
    _message(GZ, add_working_days(t, 2))               # the 2nd working day: within
    _message(GZ, add_working_days(t, 3))               # later
    _message(GZ, t - dt_days(5), status=core.ANSWERED)  # answered: not counted
    _message(None, t - dt_days(5))                     # not forwarded: the province's
    _message(SZ, t - dt_days(2))                       # another city's
    _message(SZ, t - dt_days(3))
    db.session.commit()

    c = login(officer_gz)
    r = c.get("/city/")
    assert r.status_code == 200
    panel = _panel(r.get_data(as_text=True))
    assert "留言与投诉" in panel and 'href="/city/complaints?status=open"' in panel
    assert (_stat(panel, "open"), _stat(panel, "overdue"), _stat(panel, "soon")) == (
        "4", "已超期 1 条", "2 个工作日内到期 2 条")
    assert _stat(panel, "empty") is None

    panel = _panel(login(officer_sz).get("/city/").get_data(as_text=True))
    assert (_stat(panel, "open"), _stat(panel, "overdue"), _stat(panel, "soon")) == ("2", "已超期 2 条", None)

    # One COUNT for the card: more messages cost no more queries.
    db.session.commit()
    with count_queries() as few:
        c.get("/city/")
    for i in range(6):
        _message(GZ, t - dt_days(i + 1))
    db.session.commit()
    with count_queries() as many:
        panel = _panel(c.get("/city/").get_data(as_text=True))
    assert _stat(panel, "open") == "10" and many.count == few.count
    assert sum("FROM complaint" in q for q in many.statements) == 1


def test_a_city_with_no_open_messages_sees_an_empty_state_with_the_queue_link(app, login):
    # rule: SUP-5
    officer = make_user(Role.CITY, city_code=GZ)
    _message(GZ, today(), status=core.ANSWERED)
    _message(SZ, today())
    db.session.commit()
    panel = _panel(login(officer).get("/city/").get_data(as_text=True))
    assert _stat(panel, "open") is None and "没有待答复的留言" in panel
    assert 'href="/city/complaints"' in panel


def test_the_messages_card_reads_in_english(app, login):
    officer = make_user(Role.CITY, city_code=GZ, locale="en")
    _message(GZ, today() - dt_days(1))
    db.session.commit()
    c = login(officer)
    with c.session_transaction() as s:
        s["lang"] = "en"
    panel = _panel(c.get("/city/").get_data(as_text=True))
    assert "1 overdue" in panel and "已超期" not in panel


# --------------------------------------------------------------------------- 2. team page rows


def _row(html: str, user_id: int) -> str:
    m = re.search(rf'<tr id="member-{user_id}">(.*?)</tr>', html, re.S)
    assert m, html[-3000:]
    return m.group(1)


def test_the_managers_own_row_has_no_empty_actions_cell_and_keeps_name_and_badges_together(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id, display_name="张小明")
    clerk = make_user(Role.ENTERPRISE, enterprise_id=ent.id, is_org_admin=False, is_signatory=False)
    db.session.commit()
    html = login(boss).get("/team").get_data(as_text=True)
    own = _row(html, boss.id)
    assert 'data-label="操作"' not in own and "row-actions" not in own
    assert re.search(r'data-label="状态" colspan="2"', own)  # the status spans the column on a wide screen
    # the name with its （我）, and the two role badges, are one group each (they wrap together on a phone)
    assert re.search(r'<span class="cell-group">张小明 <small class="muted">（我）</small></span>', own)
    badges = re.search(r'data-label="权限"><span class="cell-group">(.*?)</span></td>', own, re.S).group(1)
    assert "管理成员" in badges and "签字人" in badges
    other = _row(html, clerk.id)
    assert f'id="member-{clerk.id}-actions"' in other and "保存权限" in other and "colspan" not in other


# --------------------------------------------------------------------------- 3. invitation: shown once


def _invite_data() -> dict:
    return {"username": "li.si", "display_name": "李四", "phone": "13800000001"}


def test_an_invitation_answers_with_the_members_page_which_shows_the_link_once(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    c = login(boss)
    r = c.post("/team/invite", data=_invite_data())
    # The link is in the answer to the POST only (not in the session cookie, not in a URL), not cached,
    # and the page names /team as its address: a reload is a GET of /team.
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store" and "Location" not in r.headers
    page = r.get_data(as_text=True)
    assert 'data-replace-url="/team"' in page
    token = re.search(r'<input type="text" id="invite-link" value="[^"]*/invite/([A-Za-z0-9_-]+)" readonly',
                      page).group(1)
    inv = db.session.execute(db.select(TeamInvite)).scalar_one()
    assert inv.token_hash == hashlib.sha256(token.encode()).hexdigest()  # the link is the real one
    assert 'id="invite-link-copy"' in page and "复制链接" in page and "/static/copy-link.js" in page
    form = page[page.index('id="team-invite"'):]
    assert 'value="li.si"' not in form and 'value="13800000001"' not in form  # a blank form below

    again = c.get("/team").get_data(as_text=True)  # a reload: the link is gone, the member is listed
    assert token not in again and 'id="invite-link"' not in again and "li.si" in again
    assert app.test_client().get(f"/invite/{token}").status_code == 200  # still valid, just not shown


def test_the_pending_link_is_shown_only_to_the_manager_who_made_it(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    other = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    c = login(boss)
    assert c.post("/team/invite", data=_invite_data()).status_code == 200
    _login(c, other)  # someone else signs in on the same browser before the page is shown
    assert 'id="invite-link"' not in c.get("/team").get_data(as_text=True)


def test_a_refused_invitation_shows_the_form_again_and_no_link(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    c = login(boss)
    r = c.post("/team/invite", data={**_invite_data(), "phone": "123"})
    assert r.status_code == 422 and "请输入 11 位手机号" in r.get_data(as_text=True)
    assert 'id="invite-link"' not in c.get("/team").get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(TeamInvite.id))).scalar_one() == 0


def test_the_copy_script_uses_the_clipboard_and_falls_back_to_selecting_the_field(app):
    js = app.test_client().get("/static/copy-link.js")
    assert js.status_code == 200
    text = js.get_data(as_text=True)
    assert "navigator.clipboard" in text and ".select()" in text


# --------------------------------------------------------------------------- 4. enterprise voucher card


def test_the_conditions_button_stands_on_its_own_line(app, login):
    # rule: ELIG-1
    w = make_world()
    w.enterprise.status = RegStatus.DRAFT
    db.session.commit()
    home = login(w.ent_user).get("/enterprise/").get_data(as_text=True)
    box = re.search(r'<div id="panel-applications-register">(.*?)</div>', home, re.S).group(1)
    sentence = re.search(r"<p>(.*?)</p>", box, re.S).group(1)
    assert "企业注册资料通过地市审核后才能申领服务券" in sentence and "btn" not in sentence
    assert re.search(r'<p class="panel-action"><a class="btn btn-secondary" href="/enterprise/applications/new" '
                     r'id="panel-applications-conditions">查看申领条件</a></p>', box)


def test_an_empty_voucher_list_says_a_voucher_comes_with_the_citys_approval(app, login):
    # rule: APP-5
    w = make_world()
    db.session.commit()
    html = login(w.ent_user).get("/enterprise/vouchers").get_data(as_text=True)
    assert "申领经地市审核通过后，系统会自动发放服务券" in html
    city = make_user(Role.CITY, city_code=w.enterprise.city_code)
    db.session.commit()
    other = login(city).get("/city/vouchers").get_data(as_text=True)
    assert "自动发放" not in other  # the enterprise's wording only
