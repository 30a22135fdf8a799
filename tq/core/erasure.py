"""A candidate's data being erased from an organization's sessions: who they are (email,
account, the names they were known by), which sessions, and what each domain removed. Passed
through the CandidateErasing event (tq.orgs.events), each domain doing its part."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field

from bson import ObjectId

REMOVED = "[removed]"


@dataclass
class Erasure:
    email: str  # lower-cased
    user_id: ObjectId | None  # their account, if they have one
    names: set[str] = field(default_factory=set)
    session_ids: list[ObjectId] = field(default_factory=list)
    removed: Counter[str] = field(default_factory=Counter)

    def pattern(self) -> re.Pattern[str]:
        """The email and each name (two characters or more), anywhere, in any case."""
        words = sorted({self.email, *(n.strip() for n in self.names if len(n.strip()) >= 2)})
        return re.compile(
            "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.I
        )

    def scrub(self, text: str) -> str:
        return self.pattern().sub(REMOVED, text)

    def email_digest(self) -> str:
        """What the audit log keeps of the email: enough to answer "was this person's data
        deleted?" for someone who knows the address, not the address."""
        return hashlib.sha256(self.email.encode()).hexdigest()
