"""The notices page: its own title, an empty state, and 全部标为已读 only when something is unread."""
from __future__ import annotations

from blueprints.core.notices import notify_users
from models import Role, db
from tests.factories import make_enterprise, make_user


def test_mark_all_read_is_offered_only_when_something_is_unread(app, login):
    ent = make_enterprise()
    user = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    c = login(user)
    html = c.get("/notices").get_data(as_text=True)
    assert "<title>消息通知 ·" in html
    assert "暂无消息" in html and "全部标为已读" not in html  # nothing to mark: no button
    notify_users([user.id], "您的注册申请已审核通过")
    db.session.commit()
    html = c.get("/notices").get_data(as_text=True)
    assert "您的注册申请已审核通过" in html and "全部标为已读" in html
    assert c.post("/notices/read").status_code in (302, 303)
    html = c.get("/notices").get_data(as_text=True)
    assert "您的注册申请已审核通过" in html and "全部标为已读" not in html
