#!/usr/bin/env bash
cat <<TXT

  广东省工业互联网应用服务平台 · http://${HOST:-127.0.0.1}:${PORT:-5000}
  Demo logins (password for every demo account: Demo-2026-gd)
    admin            省工业和信息化厅管理员 (province admin)
    city_guangzhou   广州市经信部门 (city officer; city_<pinyin> for each of the 21 cities)
    expert           专家 (expert)
    operator         第三方机构，代省厅 (operator for the province)
    operator_gz      第三方机构，代广州市 (operator for Guangzhou)
    ent_gz ent_fs ent_dg   工业企业 (approved enterprises)   ent_new  (new, profile empty)
    sup_gd sup_sz sup_bj   供应商 (suppliers; sup_gd is a pilot unit)
  Officials (admin, city_*, expert, operator*) also need a two-factor code after the password:
    secret GDDEMOTOTPSECRETGDDEMOTOTPSECRET (add it to an authenticator app), or the current code:
    FLASK_APP=app:create_app .venv/bin/flask demo-totp

TXT
