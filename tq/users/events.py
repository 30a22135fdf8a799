"""What the users domain announces to others (wired in tq.reactions)."""

from __future__ import annotations

from dataclasses import dataclass

from bson import ObjectId


@dataclass(frozen=True)
class AccountClosing:
    """Published before an account's document is deleted: a reaction that fails leaves the
    account in place, so the deletion can be retried and nothing is left half-released."""

    user_id: ObjectId
