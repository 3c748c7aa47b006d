"""Set-up run after migrations: role groups, the system actor, the sequences of registered prefixes."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

from meridian.core import registry
from meridian.core.choices import Role


def sync_roles(**kwargs: Any) -> None:
    """Each role is a group of its name (permissions come from the registry, in code)."""
    from meridian.core.models import Sequence
    from meridian.core.services import get_system_actor

    for role in Role.values:
        Group.objects.get_or_create(name=role)
    get_system_actor()
    for record_type in registry.all_types():
        prefix = record_type.model.REFERENCE_PREFIX
        if prefix:
            Sequence.objects.get_or_create(prefix=prefix)
