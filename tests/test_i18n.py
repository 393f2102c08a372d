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
