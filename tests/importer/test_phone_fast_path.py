"""The import's hot path normalises phones without phonenumbers' free-text parsing; same answers.

`validation._parse_plus_form` and `validation._is_valid_number` must agree with
`phonenumbers.parse` and `phonenumbers.is_valid_number` on every number: here on the library's
own example numbers of every region and type, on variations of them and on random digits.
"""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from leadbridge.contacts.validation import (
    Invalid,
    _is_valid_number,
    _parse_plus_form,
    normalize_phone,
)

TYPES = [
    PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST, PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.PAGER, PhoneNumberType.UAN, PhoneNumberType.VOICEMAIL,
]  # fmt: skip


def corpus() -> list[str]:
    rng = random.Random(2026)
    texts: list[str] = []
    examples: list[str] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                examples.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            examples.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    for e164 in examples:
        digits = e164[1:]
        texts.append(e164)
        texts.append(f"+{digits[:2]} ({digits[2:5]}) {digits[5:8]}-{digits[8:]}")
        texts.append(f"+{digits[:2]} (0){digits[2:]}")  # the British habit
        for _ in range(3):  # same shape, other digits: often valid, often not
            i = rng.randrange(1, len(digits))
            texts.append("+" + digits[:i] + "".join(rng.choice("0123456789") for _ in digits[i:]))
        texts.append("+" + digits[:-1])
        texts.append("+" + digits + rng.choice("0123456789"))
    for _ in range(3000):
        texts.append("+" + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 18))))
    texts += ["+", "+1", "+12", "+0123456", "+ (7) 916 123-45-67", "+7..916", "+7 (916) 123-45-67-"]
    return texts


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus()


def test_fast_parse_gives_what_phonenumbers_parse_gives(texts):
    checked = 0
    for text in texts:
        fast = _parse_plus_form(text)
        try:
            slow = phonenumbers.parse(text, "RU")
        except phonenumbers.NumberParseException:
            assert fast is None, text
            continue
        if fast is not None:
            assert fast == slow, text
            checked += 1
    assert checked > len(texts) * 0.8


@pytest.mark.parametrize("region", ["RU", "PL", "GB", "US"])
def test_fast_validity_is_phonenumbers_validity(texts, region):
    for text in texts:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        assert _is_valid_number(number) == phonenumbers.is_valid_number(number), text


def test_normalize_phone_answers_as_before(texts, settings):
    """The whole rule: E.164 for valid numbers, the same error message for the rest."""

    def reference(text: str) -> str:
        try:
            number = phonenumbers.parse(text, "RU")
        except phonenumbers.NumberParseException:
            return f"Not a phone number: {text[:40]!r}"
        if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
            return f"Not a valid phone number: {text[:40]!r}"
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    for text in texts[:4000]:
        try:
            got = normalize_phone(text, "RU")
        except Invalid as exc:
            got = str(exc)
        assert got == reference(text.strip()), text
