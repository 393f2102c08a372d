"""A registration's documents are named by what they are (营业执照, 贯标评定证书), not only by the file name the
applicant happened to give them: the reviewer and the applicant see which is which."""
from __future__ import annotations

import re

from blueprints.core import uploads
from models import RegStatus, Role, db
from tests.factories import contract_pdf_bytes, make_enterprise, make_user


def test_each_document_is_labelled_for_the_city_and_the_enterprise(app, login):
    # rule: DOC-3
    ent = make_enterprise(status=RegStatus.CITY_REVIEW, city_code="440600", dcmm_certified=True)
    files = {}
    for attr, name in (("licence_file_id", "scan-001.pdf"), ("dcmm_file_id", "scan-002.pdf")):
        f = uploads.store_bytes(contract_pdf_bytes(name), mime="application/pdf", name=name, kind="registration",
                                owner_type="enterprise", owner_id=ent.id, user_id=None)
        setattr(ent, attr, f.id)
        files[attr] = f.id
    ent_user = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    city = make_user(Role.CITY, city_code="440600")
    db.session.commit()

    html = login(city).get(f"/city/registrations/enterprise/{ent.id}").get_data(as_text=True)
    text = re.sub(r"<[^>]+>", "", html)
    assert "营业执照：scan-001.pdf" in text and "两化融合贯标评定证书：scan-002.pdf" in text
    mine = re.sub(r"<[^>]+>", "", login(ent_user).get("/enterprise/profile").get_data(as_text=True))
    assert "营业执照：scan-001.pdf" in mine
