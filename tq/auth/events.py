"""What the auth domain announces to others (wired in tq.reactions)."""

from __future__ import annotations

from dataclasses import dataclass

from bson import ObjectId


@dataclass(frozen=True)
class PasswordLoginVerified:
    """A password was right, before the token is issued: a reaction may still refuse the
    login by raising (an organization that enforces single sign-on for this account)."""

    user_id: ObjectId
    email: str
