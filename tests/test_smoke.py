from models import Role


def test_landing_page_in_chinese(client):
    r = client.get("/")
    assert r.status_code == 200
    assert "广东省工业互联网应用服务平台" in r.get_data(as_text=True)


def test_enterprise_home(login_as):
    c, user = login_as(Role.ENTERPRISE)
    r = c.get("/enterprise/")
    assert r.status_code == 200, r.get_data(as_text=True)[:2000]
    assert "您好" in r.get_data(as_text=True)
