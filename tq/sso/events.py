"""What the single sign-on domain announces to others (wired in tq.reactions)."""

from __future__ import annotations

from dataclasses import dataclass

from bson import ObjectId


@dataclass(frozen=True)
class SsoSigningIn:
    """An identity provider vouched for an existing account, before it is signed in (and,
    if no member, provisioned): a reaction may still refuse (SCIM deactivated the person)."""

    org_id: ObjectId
    user_id: ObjectId
