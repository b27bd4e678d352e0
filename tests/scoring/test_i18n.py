"""Every message the scoring app shows has a Russian translation (services, conditions, the card)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.utils import translation

ROOT = Path(__file__).resolve().parents[2] / "leadbridge"
MODULES = [ROOT / "scoring" / f"{name}.py" for name in ("services", "conditions", "selectors", "models")]
TEMPLATE = ROOT / "web" / "templates" / "web" / "contacts" / "_score.html"


def _messages() -> list[str]:
    found: list[str] = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"_", "gettext", "gettext_lazy"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.append(node.args[0].value)
    text = TEMPLATE.read_text(encoding="utf-8")
    found += re.findall(r'{% translate "([^"]+)"', text)
    for block in re.findall(r"{% blocktranslate[^%]*%}(.*?){% endblocktranslate %}", text, re.S):
        found.append(re.sub(r"{{ (\w+) }}", r"%(\1)s", " ".join(block.split())))
    return found


@pytest.mark.parametrize("message", sorted(set(_messages())))
def test_message_has_a_russian_translation(message: str) -> None:
    with translation.override("ru"):
        assert translation.gettext(message) != message, message
