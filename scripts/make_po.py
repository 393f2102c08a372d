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
    "申领审核": "Application review", "已发服务券": "Issued vouchers", "注册审核": "Registration review",
    "本市指标": "City figures", "申领服务券": "Apply for a voucher", "我的服务券": "My vouchers",
    "单位资料": "Organisation profile", "服务目录": "Service catalog", "工作日历": "Working-day calendar",
    "批次与截止日期": "Cycles and deadlines", "目标与发放额度": "Targets and quotas", "兑付预算与试点资金": "Budgets",
    "申领与服务券": "Applications and vouchers", "供应商复核": "Supplier review", "注册名录": "Directory",
    "数据看板": "Dashboard", "客户申领确认": "Customer applications", "我的客户": "My customers",
    "供应商评审": "Supplier scoring",
    # Statuses (workflow.STATUS_LABELS)
    "草稿": "Draft", "地市审核中": "City review", "省级复核中": "Province review", "已退回待修改": "Returned",
    "已通过": "Approved", "已驳回": "Rejected", "供应商确认中": "Supplier confirmation", "已撤回": "Withdrawn",
    "已发放": "Issued", "已作废": "Void", "已发布": "Published", "已公布": "Announced",
    # Roles (models.ROLE_LABELS)
    "工业企业": "Industrial enterprise", "供应商": "Supplier", "地市经信部门": "City office",
    "省工业和信息化厅": "Province", "专家": "Expert", "第三方机构": "Operator",
    # Landing page
    "应用服务目录": "Service catalog", "可申领的服务与补助上限": "Services and subsidy caps",
    "供应商名录": "Suppliers", "已登记的平台商和服务商": "Registered platform and service providers",
    "服务券查验": "Verify a voucher", "输入券号或扫描二维码核验真伪": "Enter a code or scan the QR code",
    "批次公告与截止日期变更记录": "Cycle announcements and deadline changes",
    "应用服务目录与补助标准": "Service catalog and subsidy standards",
    # background jobs and province-scale pages
    "我的导出与文件": "My exports and files",
    "数据截至": "Figures as of",
    "排队中，马上开始……": "Queued, starting shortly…",
    "正在处理：": "Working: ",
    "已完成": "Done",
    "未能完成：": "Could not finish: ",
    "下载": "Download",
    "发起时间": "Started",
    "结束时间": "Finished",
    "可以离开本页：完成后会在消息通知里告诉您。": "You may leave this page: a notice will tell you when it is ready.",
    "还没有导出或生成的文件": "No exports or generated files yet",
    "内容": "Content",
    "进度": "Progress",
    "排队中": "Queued",
    "共 %(n)s 行": "%(n)s rows",
    "这份导出共 %(n)s 行，将在后台生成。您可以离开页面，完成后会在消息通知里告诉您，也可以在“我的导出与文件”中下载。": "This export has %(n)s rows and will be generated in the background. You may leave this page: a notice will tell you when it is ready, and it will be under “My exports and files”.",
    "开始生成": "Generate",
    # settlement: menu entries and the statuses it adds
    "客户兑现确认": "Customer settlements", "兑现审核": "Settlement review", "兑现与核验": "Settlements and verification",
    "兑现申请": "Settlements", "等待用量核验": "Awaiting usage verification", "已放弃": "Released",
    "地市兑现审核 %(n)s 个工作日": "city settlement review: %(n)s working days",
    "创建": "created", "修改": "edited", "设定": "set", "保存草稿": "draft saved", "注册账号": "signed up",
    "登录": "logged in", "退出": "logged out", "修改密码": "password changed", "启用": "enabled",
    "专家评分": "expert scored", "提交资料变更": "profile change submitted", "变更生效": "change applied",
    "设定方案目标": "scheme targets set", "省级核定": "province override", "取消核定": "override removed",
    # usage pages and completion tables: menu entries and timeline actions
    "完成情况表": "Completion tables", "客户服务券": "Customer vouchers",
    "申报企业端地址": "address declared", "删除企业端地址": "address removed", "省级核定上云用量": "usage overridden",
    "取消上云用量核定": "usage override removed", "上云用量核验通过": "usage verified", "放弃服务券": "voucher released",
    "服务券作废": "voucher void", "生成完成情况表": "completion table generated", "下发完成情况表": "completion table sent",
    # usage verification: the province's menu entry
    "上云用量核验": "Usage verification",
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
