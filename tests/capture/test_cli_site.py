"""`leadbridge site create` and the defaults `leadbridge init` installs."""

from __future__ import annotations

import json

import pytest

from leadbridge.capture.models import InquiryClass, Site
from leadbridge.capture.services import site_by_key
from leadbridge.cli import main


def test_site_create_prints_the_key_as_json(capsys):
    code = main(
        ["site", "create", "--name", "Shop", "--origin", "https://shop.example", "--origin", "https://www.shop.example:8443/",
         "--format", "json"]
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0 and out.err == ""
    data = json.loads(out.out)
    assert set(data) >= {"site_key"}
    site = Site.objects.get(key=data["site_key"])
    assert site.origins == ["https://shop.example", "https://www.shop.example:8443"]
    assert site_by_key(data["site_key"]) == site


def test_site_create_prints_the_bare_key_as_text(capsys):
    assert main(["site", "create", "--name", "Blog", "--origin", "https://blog.example"]) == 0
    key = capsys.readouterr().out.strip()
    assert Site.objects.filter(key=key).exists()


def test_a_bad_origin_is_one_line_on_stderr(capsys):
    assert main(["site", "create", "--name", "X", "--origin", "shop.example"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "origins[0]" in err[0]
    assert not Site.objects.exists()


@pytest.mark.django_db
def test_init_installs_the_default_classes_once(capsys):
    InquiryClass.objects.all().delete()
    assert main(["init"]) == 0
    assert main(["init"]) == 0
    assert set(InquiryClass.objects.values_list("key", "kind")) == {
        ("new_lead", "target"),
        ("upsell", "upsell"),
        ("service", "service"),
        ("spam", "junk"),
        ("non_target", "junk"),
        ("wrong_number", "junk"),
        ("job_seeker", "junk"),
    }
