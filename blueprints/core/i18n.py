"""The interface languages: the locale codes Flask-Babel serves and their names in the language switch."""
from __future__ import annotations

LOCALES = {"zh_Hans": "简体中文", "en": "English"}
