from __future__ import annotations

from typing import Any

from leadbridge.core.errors import Forbidden
from leadbridge.core.roles import Perm, has_perm


def require(user: Any, perm: Perm) -> None:
    """Raise Forbidden unless `user` holds `perm`. Services call it; adapters map it to 403."""
    if not has_perm(user, perm):
        raise Forbidden()
