from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from tq.auth.schemas import Email
from tq.core.schemas import Body, UtcDatetime
from tq.sso.models import Protocol, SsoConnection

# A DNS name of at least two labels (IDNA names in their xn-- form), lower-cased by the server.
# (236: its verification record's name, `_tq-verification.` + the domain, fits DNS's 253)
DOMAIN_PATTERN = (
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]$"
)
Domain = Annotated[str, StringConstraints(pattern=DOMAIN_PATTERN, max_length=236, to_lower=True)]
ProvisionedRole = Literal["admin", "recruiter", "interviewer"]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class ConfigureSsoIn(Body):
    """The organization's identity provider. `oidc` needs `issuer` and `clientId` (and
    `clientSecret` the first time: it is kept, sealed, when left out later); `saml` needs
    `idpMetadataXml`, the provider's metadata document."""

    protocol: Protocol
    domains: list[Domain] = Field(min_length=1)
    defaultRole: ProvisionedRole = "interviewer"
    enforced: bool = False
    issuer: Annotated[str, StringConstraints(min_length=8, max_length=2048)] | None = None
    clientId: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None
    clientSecret: Secret | None = Field(default=None, description="write-only; never answered")
    groupRoles: dict[str, ProvisionedRole] = Field(
        default_factory=dict,
        description="SCIM group displayName → organization role (the strongest role wins)",
        max_length=100,
    )
    idpMetadataXml: Annotated[str, StringConstraints(min_length=1, max_length=262144)] | None = None

    @model_validator(mode="after")
    def fields_of_protocol(self) -> ConfigureSsoIn:
        if len(set(self.domains)) != len(self.domains):
            raise ValueError("domains must be unique")
        # (checked here: OpenAPI 3.0 cannot say what a key of an object must be)
        if any(not 1 <= len(group) <= 200 for group in self.groupRoles):
            raise ValueError("groupRoles names are 1 to 200 characters")
        if len({group.lower() for group in self.groupRoles}) != len(self.groupRoles):
            raise ValueError("groupRoles names must differ in more than case")
        if self.protocol == "oidc":
            if not self.issuer or not self.clientId:
                raise ValueError("oidc needs issuer and clientId")
            if self.idpMetadataXml is not None:
                raise ValueError("idpMetadataXml is for saml")
        else:
            if not self.idpMetadataXml:
                raise ValueError("saml needs idpMetadataXml")
            if self.issuer or self.clientId or self.clientSecret:
                raise ValueError("issuer, clientId and clientSecret are for oidc")
        return self


class DomainOut(BaseModel):
    domain: str
    verified: bool = Field(description="only verified domains sign in, provision and enforce")
    txtName: str = Field(description="the DNS TXT record that verifies it: its name")
    txtValue: str = Field(description="… and its value")


class SsoConnectionOut(BaseModel):
    """What an admin sees of the connection: never the client secret (only whether one is
    kept), and the addresses to give the identity provider."""

    orgId: str
    protocol: Protocol
    domains: list[DomainOut]
    defaultRole: str
    enforced: bool
    issuer: str | None
    clientId: str | None
    clientSecretSet: bool
    idpEntityId: str | None
    groupRoles: dict[str, str]
    loginUrl: str = Field(description="where members start a login (also given by discover)")
    redirectUri: str | None = Field(description="oidc: the redirect URI to register")
    spEntityId: str | None = Field(description="saml: our entity id (the metadata URL)")
    acsUrl: str | None = Field(description="saml: our assertion consumer service (HTTP-POST)")
    metadataUrl: str | None = Field(description="saml: our service provider metadata")
    updatedAt: UtcDatetime

    @classmethod
    def of(
        cls,
        conn: SsoConnection,
        urls: dict[str, str],
        verified: set[str],
        records: dict[str, tuple[str, str]],
    ) -> SsoConnectionOut:
        saml = conn.protocol == "saml"
        return cls(
            orgId=str(conn.org_id),
            protocol=conn.protocol,
            domains=[
                DomainOut(
                    domain=domain,
                    verified=domain in verified,
                    txtName=records[domain][0],
                    txtValue=records[domain][1],
                )
                for domain in conn.domains
            ],
            defaultRole=conn.default_role,
            enforced=conn.enforced,
            issuer=conn.issuer,
            clientId=conn.client_id,
            clientSecretSet=bool(conn.client_secret_sealed),
            idpEntityId=conn.idp_entity_id,
            groupRoles={entry["group"]: entry["role"] for entry in conn.group_roles},
            loginUrl=urls["login"],
            redirectUri=None if saml else urls["redirect"],
            spEntityId=urls["metadata"] if saml else None,
            acsUrl=urls["acs"] if saml else None,
            metadataUrl=urls["metadata"] if saml else None,
            updatedAt=conn.updated_at,
        )


class SsoEnvelope(BaseModel):
    connection: SsoConnectionOut


class DiscoverIn(Body):
    email: Email


class DiscoverOut(BaseModel):
    method: Literal["password", "sso"]
    protocol: Protocol | None = None
    orgId: str | None = None
    orgName: str | None = None
    loginUrl: str | None = None
    enforced: bool = Field(False, description="password logins of its members are refused")


class LinkOut(BaseModel):
    loginUrl: str = Field(description="where the browser goes to finish linking (the provider)")


# The frontend's own secret for one login (kept in its sessionStorage): the login starts with
# its SHA-256 (hex), and the one-time code is swapped only with the secret itself, so a login
# someone else started (a link to our login URL) is never finished by this frontend.
ClientHash = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{64}$"),
    Field(description="SHA-256 (hex) of a random secret the frontend keeps for this login"),
]
ClientSecret = Annotated[
    str,
    StringConstraints(min_length=32, max_length=128),
    Field(description="the secret whose SHA-256 started the login"),
]


class ExchangeIn(Body):
    code: Annotated[str, StringConstraints(min_length=20, max_length=100)]
    verifier: ClientSecret


class LinkIn(Body):
    email: Annotated[
        str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=320)
    ]
    password: Annotated[str, Field(min_length=1, max_length=128)]
    client: ClientHash


class LoginQuery(BaseModel):
    model_config = {"extra": "forbid"}
    client: ClientHash
    # Where the frontend goes back to after the login (a path of APP_URL, never elsewhere).
    next: (
        Annotated[str, StringConstraints(max_length=512, pattern=r"^/([^/\\\s][^\s]*)?$")] | None
    ) = None


class OidcCallbackQuery(BaseModel):
    model_config = {"extra": "allow"}
    state: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    code: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    error: Annotated[str, StringConstraints(max_length=200)] | None = None
    error_description: Annotated[str, StringConstraints(max_length=1000)] | None = None
