"""The bare baseline page of `make bench`: what 20 rows cost without the platform.

A tiny Flask + Flask-SQLAlchemy + Jinja app with no login, CSRF, i18n, htmx or other
extensions: one query of the 20 newest vouchers joined to their enterprises, rendered as an
HTML table from an inline template. scripts/bench/run.py serves it with gunicorn and the app's
own gunicorn.conf.py (same worker class and count), on the same database as the platform:

    DATABASE_URL=... gunicorn -c gunicorn.conf.py --pythonpath scripts/bench "baseline:create_app()"
"""
from __future__ import annotations

import datetime as dt
import os

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import BigInteger, DateTime, ForeignKey, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, joinedload, mapped_column, relationship


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Enterprise(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Voucher(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    city_code: Mapped[str] = mapped_column(String(6))
    face_value_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    enterprise: Mapped[Enterprise] = relationship()


PAGE = """<!doctype html>
<html lang="zh-Hans"><head><meta charset="utf-8"><title>服务券</title></head>
<body><h1>服务券</h1>
<table>
<thead><tr><th>券号</th><th>企业</th><th>地市</th><th>面值（元）</th><th>发放时间</th><th>状态</th></tr></thead>
<tbody>
{% for v in vouchers %}<tr><td>{{ v.code }}</td><td>{{ v.enterprise.name }}</td><td>{{ v.city_code }}</td>
<td>{{ "{:,.2f}".format(v.face_value_fen / 100) }}</td><td>{{ v.issued_at.strftime("%Y-%m-%d %H:%M") }}</td>
<td>{{ v.status }}</td></tr>
{% endfor %}</tbody></table></body></html>"""


def create_app() -> Flask:
    url = os.environ["DATABASE_URL"]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db.init_app(app)
    template = app.jinja_env.from_string(PAGE)

    @app.route("/")
    def vouchers():
        rows = db.session.execute(
            select(Voucher).options(joinedload(Voucher.enterprise)).order_by(Voucher.id.desc()).limit(20)
        ).scalars().all()
        return template.render(vouchers=rows)

    return app
