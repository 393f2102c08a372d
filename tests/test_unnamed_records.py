"""Where a record has no name to show (an organisation whose name was left empty), people read words saying
so, in their language — never "#<row number>": in bulk results and in the officials' daily digest."""
from __future__ import annotations

import datetime as dt
import re

from blueprints.core import mail, timeutil
from models import Enterprise, RegStatus, Role, db
from tests.factories import make_application, make_enterprise, make_user, make_world
from tests.test_mail import body_of, smtp  # noqa: F401  (the real SMTP server fixture)
from tests.test_settlement_pages import settle, w  # noqa: F401  (the settlement world fixture)

HX = {"HX-Request": "true"}


def _unname(enterprise) -> None:
    db.session.execute(db.update(Enterprise).where(Enterprise.id == enterprise.id).values(name=""))
    db.session.commit()
    db.session.expire_all()


def test_a_bulk_registration_result_names_an_unnamed_enterprise_in_words(login):
    e = make_enterprise(status=RegStatus.CITY_REVIEW, city_code="440100")
    officer = make_user(Role.CITY, city_code="440100")
    db.session.commit()
    _unname(e)
    r = login(officer).post("/city/registrations/bulk/approve", data={"kind": "enterprise", "ids": [str(e.id)]},
                            headers=HX)
    body = r.get_data(as_text=True)
    assert r.status_code == 200
    assert re.search(rf'id="bulk-{e.id}">[✓✗] （未填写名称的企业）：', body), body
    assert f"#{e.id}" not in body


def test_a_bulk_settlement_result_names_an_unnamed_enterprise_in_words(w, login):  # noqa: F811
    st = settle(w, "city_review")
    _unname(st.enterprise)
    body = login(w.city_user).post("/city/settlements/bulk/approve", data={"ids": [st.id]}).get_data(as_text=True)
    assert f'id="bulk-result-{st.id}">✓ （未填写名称的企业）：已通过' in body and f"#{st.id}" not in body


def test_the_digest_names_an_unnamed_enterprise_in_the_officials_language(smtp, app):  # noqa: F811
    wd = make_world()
    make_user(Role.CITY, city_code="440100", email="zh@gz.example", mail_digest=True)
    make_user(Role.CITY, city_code="440100", email="en@gz.example", mail_digest=True, locale="en")
    a = make_application(wd.enterprise, wd.supplier, wd.cycle, stage="city_review", users=wd.users)
    a.due_on = timeutil.today() + dt.timedelta(days=3)
    db.session.commit()
    _unname(wd.enterprise)
    smtp.inbox.messages.clear()
    assert mail.build_digests() == 2
    mails = {m["To"]: body_of(m) for _, m in smtp.inbox.messages}
    zh, en = mails["zh@gz.example"], mails["en@gz.example"]
    assert "申领审核：（未填写名称的企业）" in zh
    assert "(enterprise without a name)" in en and "未填写名称" not in en
    assert f"#{a.id}" not in zh + en
