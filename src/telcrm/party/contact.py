"""Contact media rules shared by parties and customers."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from telcrm.kit.errors import ValidationFailed

PHONE_TYPES = frozenset({"mobile", "phone", "telephone", "landline", "fax", "fixedline"})
_PHONE_CHARS = re.compile(r"^[0-9+\-\s().（）]*$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def validate_contact_media(media: Any, field: str = "contactMedium") -> None:
    for i, medium in enumerate(media or []):
        characteristic = medium.get("characteristic") or {}
        where = f"{field}[{i}].characteristic"
        kind = str(medium.get("mediumType") or "").lower().replace(" ", "")
        for attr in ("phoneNumber", "faxNumber"):
            number = characteristic.get(attr)
            if number is None:
                continue
            text = unicodedata.normalize("NFKC", number)
            digits = re.sub(r"\D", "", text)
            if not _PHONE_CHARS.match(text) or not 5 <= len(digits) <= 20:
                raise ValidationFailed(
                    f"{where}.{attr} is not a phone number (digits with optional +, spaces, dashes, brackets)",
                    field=f"{where}.{attr}",
                )
            international = text.strip().startswith("+") or digits.startswith("00")  # 00: "+" dialled from China
            if digits.startswith("00"):
                digits = digits[2:]
            domestic = not international or digits.startswith("86")
            national = digits[2:] if domestic and digits.startswith("86") and len(digits) > 11 else digits
            if kind == "mobile" and domestic and not _MOBILE.match(national):
                raise ValidationFailed(
                    f"{where}.{attr} is not a mainland mobile number (11 digits starting 13-19)",
                    field=f"{where}.{attr}",
                )
        email = characteristic.get("emailAddress")
        if email is not None and not _EMAIL.match(email):
            raise ValidationFailed(f"{where}.emailAddress is not an e-mail address", field=f"{where}.emailAddress")
