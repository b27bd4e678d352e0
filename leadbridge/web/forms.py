"""Forms that render inputs and carry errors back; they do not validate.

Every rule lives in the services (`contacts.cleaning` for contacts): a form only collects the
raw strings, hands them to the service, and shows the `FieldError`s it raises next to the
inputs they name (`add_service_errors`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from leadbridge.contacts.models import CustomField, Stage
from leadbridge.core.errors import FieldError
from leadbridge.web.adapters import field_errors


class RawField(forms.Field):
    """Passes the submitted value through untouched (a string, or a list for checkboxes)."""

    def to_python(self, value: Any) -> Any:
        return value


def _text(label: Any, *, help_text: Any = "", input_type: str = "text", **attrs: Any) -> RawField:
    widget = forms.TextInput(attrs={"autocomplete": "off", **attrs})
    widget.input_type = input_type
    return RawField(label=label, required=False, help_text=help_text, widget=widget)


class ServiceForm(forms.Form):
    """Common part: field groups for the template and service errors mapped onto fields."""

    groups: list[tuple[Any, list[str]]] = []

    def add_service_errors(self, errors: Iterable[FieldError]) -> None:
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        for name, messages in field_errors(errors).items():
            target = name if name in self.fields else None
            for message in messages:
                self.add_error(target, message if target else f"{name}: {message}")

    def grouped(self) -> list[tuple[Any, list[forms.BoundField]]]:
        out = []
        placed: set[str] = set()
        for title, names in self.groups:
            fields = [self[n] for n in names if n in self.fields]
            placed.update(names)
            if fields:
                out.append((title, fields))
        rest = [self[n] for n in self.fields if n not in placed and not self.fields[n].widget.is_hidden]
        if rest:
            out.append((_("Custom fields"), rest))
        return out

    def service_data(self) -> dict[str, Any]:
        """The submitted values keyed by the service's field names."""
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        return {name: self.cleaned_data.get(name) for name in self.fields if name != "version"}


def custom_form_field(fdef: CustomField) -> RawField:
    label = fdef.label
    help_text = _("Required") if fdef.required else ""
    if fdef.kind == CustomField.Kind.NUMBER:
        return _text(label, help_text=help_text, input_type="text", inputmode="decimal")
    if fdef.kind == CustomField.Kind.DATE:
        return _text(label, help_text=help_text, input_type="date")
    if fdef.kind == CustomField.Kind.BOOL:
        choices = [("", "—"), ("true", _("Yes")), ("false", _("No"))]
        return RawField(
            label=label, required=False, help_text=help_text, widget=forms.Select(choices=choices)
        )
    if fdef.kind == CustomField.Kind.CHOICE:
        choices = [("", "—"), *[(c, c) for c in fdef.choices or []]]
        return RawField(
            label=label, required=False, help_text=help_text, widget=forms.Select(choices=choices)
        )
    if fdef.kind == CustomField.Kind.MULTI_CHOICE:
        choices = [(c, c) for c in fdef.choices or []]
        return RawField(
            label=label,
            required=False,
            help_text=help_text,
            widget=forms.CheckboxSelectMultiple(choices=choices),
        )
    return _text(label, help_text=help_text)


def custom_initial(fdef: CustomField, value: Any) -> Any:
    if value is None:
        return [] if fdef.kind == CustomField.Kind.MULTI_CHOICE else ""
    if fdef.kind == CustomField.Kind.BOOL:
        return "true" if value else "false"
    return value


class ContactForm(ServiceForm):
    groups = [
        (_("Person"), ["name", "first_name", "last_name", "job_title", "company"]),
        (_("Reach"), ["email", "phone", "emails", "phones"]),
        (_("Address"), ["street", "city", "region", "postal_code", "country"]),
        (_("Sales"), ["stage", "owner", "tags", "birthday", "external_id"]),
    ]

    def __init__(
        self,
        *args: Any,
        custom_fields: Iterable[CustomField] = (),
        owners: Iterable[Any] = (),
        creating: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        f = self.fields
        f["name"] = _text(_("Full name"), autofocus=True)
        f["first_name"] = _text(_("First name"))
        f["last_name"] = _text(_("Last name"))
        f["job_title"] = _text(_("Job title"))
        f["company"] = _text(_("Company"), help_text=_("A new name creates the company"))
        # type="text", not "email": the server's validation (one rule for every path) gives the message.
        f["email"] = _text(_("Email"), inputmode="email")
        f["phone"] = _text(_("Phone"), input_type="tel")
        more = _("Add more, separated by ;") if not creating else _("Separated by ;")
        f["emails"] = _text(_("Other emails"), help_text=more, inputmode="email")
        f["phones"] = _text(_("Other phones"), help_text=more)
        f["street"] = _text(_("Street address"))
        f["city"] = _text(_("City"))
        f["region"] = _text(_("Region"))
        f["postal_code"] = _text(_("Postal code"))
        f["country"] = _text(_("Country"), help_text=_("Two-letter code, e.g. RU"), maxlength="2")
        if creating:
            f["stage"] = RawField(
                label=_("Lifecycle stage"), required=False, widget=forms.Select(choices=Stage.choices)
            )
        owner_choices = [("", _("Nobody"))] + [(u.username, str(u)) for u in owners]
        f["owner"] = RawField(label=_("Owner"), required=False, widget=forms.Select(choices=owner_choices))
        f["tags"] = _text(_("Tags"), help_text=_("Separated by ;"))
        f["birthday"] = _text(_("Birthday"), input_type="date")
        f["external_id"] = _text(_("External id"))
        for fdef in custom_fields:
            f[f"custom.{fdef.key}"] = custom_form_field(fdef)
        if not creating:
            f["version"] = forms.IntegerField(required=False, widget=forms.HiddenInput)


def contact_initial(contact: Any, custom_fields: Iterable[CustomField]) -> dict[str, Any]:
    data: dict[str, Any] = {
        name: getattr(contact, name) or ""
        for name in (
            "name",
            "first_name",
            "last_name",
            "job_title",
            "email",
            "phone",
            "street",
            "city",
            "region",
            "postal_code",
            "country",
            "external_id",
        )
    }
    data["company"] = contact.company.name if contact.company else ""
    data["owner"] = contact.owner.username if contact.owner else ""
    data["tags"] = "; ".join(link.tag.name for link in contact.tag_links.all())
    data["birthday"] = contact.birthday.isoformat() if contact.birthday else ""
    data["version"] = contact.version
    for fdef in custom_fields:
        data[f"custom.{fdef.key}"] = custom_initial(fdef, (contact.custom or {}).get(fdef.key))
    return data


class CompanyForm(ServiceForm):
    groups = [
        (_("Company"), ["name", "domain", "industry", "employees"]),
        (_("Contact details"), ["phone", "address", "city", "country"]),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        f = self.fields
        f["name"] = _text(_("Company name"), autofocus=True)
        f["domain"] = _text(_("Website domain"), help_text=_("e.g. example.com"))
        f["industry"] = _text(_("Industry"))
        f["employees"] = _text(_("Employees"), inputmode="numeric")
        f["phone"] = _text(_("Phone"), input_type="tel")
        f["address"] = _text(_("Address"))
        f["city"] = _text(_("City"))
        f["country"] = _text(_("Country"), help_text=_("Two-letter code, e.g. RU"), maxlength="2")


def company_initial(company: Any) -> Mapping[str, Any]:
    data = {
        n: getattr(company, n) or ""
        for n in ("name", "domain", "industry", "phone", "address", "city", "country")
    }
    data["employees"] = "" if company.employees is None else company.employees
    return data
