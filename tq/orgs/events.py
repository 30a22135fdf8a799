"""What the organizations domain announces to others (wired in tq.reactions)."""

from __future__ import annotations

from dataclasses import dataclass

from bson import ObjectId

from tq.core.erasure import Erasure


@dataclass(frozen=True)
class MemberLeaving:
    """Published before a member is taken out: their upcoming sessions of the organization
    go to `successor_id`. A reaction that fails leaves the member in place (retry)."""

    org_id: ObjectId
    user_id: ObjectId
    successor_id: ObjectId


@dataclass(frozen=True)
class OrgDeleting:
    """Published before an organization is deleted: its sessions move to `successor_org_id`
    (the deleting owner's personal organization; None when its last member's account is
    deleted: they stay, and go with their own people), its webhook endpoints go."""

    org_id: ObjectId
    successor_org_id: ObjectId | None


@dataclass(frozen=True)
class OrgInvitationIssued:
    """An invitation to join was created: its email is queued."""

    org_id: ObjectId
    invitation_id: ObjectId


@dataclass(frozen=True)
class PersonalOrgReady:
    """The migration made (or found) an account's personal organization: what the account
    owns that belongs to no organization yet (sessions it hosts, webhook endpoints) joins it.
    Reactions are conditional on `orgId` being unset, so a repeated one changes nothing."""

    user_id: ObjectId
    org_id: ObjectId


@dataclass(frozen=True)
class CandidateErasing:
    """A candidate's data goes from the organization's sessions: the sessions domain finds
    the sessions and takes them out of them first (its reaction is subscribed first), then
    every other domain removes or anonymises what it keeps of them there (`erasure`)."""

    org_id: ObjectId
    erasure: Erasure
