"""Factories for tests: real rows in the real test database."""

from __future__ import annotations

from typing import Any

import factory

from leadbridge.accounts.models import Team, User
from leadbridge.contacts.models import Company, Contact, Tag


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    role = "admin"
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    password = factory.django.Password("Secret-pass-1")


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.Sequence(lambda n: f"contact{n}@example.test")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("key",)

    name = factory.Sequence(lambda n: f"tag{n}")
    key = factory.LazyAttribute(lambda o: o.name.lower())


def user(role: str = "admin", **kwargs: Any) -> User:
    return UserFactory(role=role, **kwargs)
