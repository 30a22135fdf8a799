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
        """The email anywhere, and each name of three characters or more as whole words
        only (a short name inside another word, or in an id, is left alone), in any case."""
        names = sorted(
            {n.strip() for n in self.names if len(n.strip()) >= 3}, key=len, reverse=True
        )
        alternatives = [re.escape(self.email), *(rf"\b{re.escape(n)}\b" for n in names)]
        return re.compile("|".join(alternatives), re.I)

    def scrub(self, text: str) -> str:
        return self.pattern().sub(REMOVED, text)

    def email_digest(self) -> str:
        """What the audit log keeps of the email: enough to answer "was this person's data
        deleted?" for someone who knows the address, not the address."""
        return hashlib.sha256(self.email.encode()).hexdigest()
