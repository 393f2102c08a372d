"""Write translations/en/LC_MESSAGES/messages.po from the English table below.

zh-Hans is the source language (msgids are Chinese). Run `python scripts/make_po.py` after
adding strings; the setup compiles the catalog (`pybabel compile`).
"""
from pathlib import Path

EN = {
    "广东省工业互联网应用服务平台": "Guangdong Industrial Internet Application Service Platform",
    "申领批次与截止日期": "Cycles and deadlines",
    "暂无已公布的批次": "No cycle announced yet",
    "申领截止": "Applications close",
    "已截止": "closed",
    "还有 %(n)s 天": "%(n)s days left",
    "兑现截止": "Settlement closes",
    "菜单": "Menu",
    "消息通知": "Notices",
    "修改密码": "Change password",
    "退出登录": "Log out",
    "登录": "Log in",
    "注册": "Sign up",
    "广东省工业和信息化厅 · 工业企业“上云上平台”服务券": "Guangdong Department of Industry and IT · Cloud service vouchers for industrial enterprises",
    "还没有账号？": "No account yet?",
    "企业或供应商注册": "Sign up as an enterprise or supplier",
    "注册账号": "Create an account",
    "工业企业和供应商在此自行注册；地市、省厅和专家账号由省厅开设。": "Enterprises and suppliers sign up here; city, province and expert accounts are opened by the province.",
    "已有账号？": "Already registered?",
    "您好，%(name)s": "Hello, %(name)s",
    "全部标为已读": "Mark all as read",
    "暂无消息": "No notices",
    "工业企业“上云上平台”服务券": "Cloud service vouchers for industrial enterprises",
    "广东省对工业企业购买云服务和工业互联网服务给予服务券奖补。企业与登记的供应商签订合同后，在本平台申领服务券，服务实施后申请兑现。":
        "Guangdong subsidises industrial enterprises that buy cloud and industrial-internet services. "
        "After signing a contract with a registered supplier, an enterprise applies for a voucher here and "
        "claims it once the service is delivered.",
    # Menu entries (registered with register_nav)
    "企业首页": "Home", "供应商首页": "Home", "工作台": "Dashboard", "专家首页": "Home", "账号管理": "Accounts",
}


def escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def main() -> None:
    out = ['msgid ""', 'msgstr ""', '"Content-Type: text/plain; charset=UTF-8\\n"', '"Language: en\\n"', ""]
    for zh, en in EN.items():
        out += [f'msgid "{escape(zh)}"', f'msgstr "{escape(en)}"', ""]
    path = Path(__file__).resolve().parent.parent / "translations/en/LC_MESSAGES/messages.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out), encoding="utf-8")


if __name__ == "__main__":
    main()
