"""zh-Hans first, English second: the menu, statuses and roles follow the chosen language."""
from models import Role


def test_english_menu_and_role(login_as):
    c, _ = login_as(Role.CITY)
    zh = c.get("/city/").get_data(as_text=True)
    assert "申领审核" in zh and 'lang="zh-Hans"' in zh
    c.post("/lang", data={"lang": "en"})
    en = c.get("/city/").get_data(as_text=True)
    assert 'lang="en"' in en
    assert "Application review" in en and "City office" in en and "Log out" in en


def test_the_failed_request_toast_speaks_the_pages_language(client):
    # static/app.js shows this text (with the status code for %s) when an htmx request fails without a message
    zh = client.get("/login").get_data(as_text=True)
    assert 'data-failed-text="操作失败（%s）"' in zh
    client.post("/lang", data={"lang": "en"})
    en = client.get("/login").get_data(as_text=True)
    assert 'data-failed-text="The action failed (%s)"' in en
