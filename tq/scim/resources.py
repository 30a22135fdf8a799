"""The SCIM resources we serve, on scim2-models: a User and a Group with the attributes we
keep (what /Schemas publishes is exactly what is stored and answered), and the discovery
documents (/ServiceProviderConfig, /ResourceTypes, /Schemas)."""

from typing import Annotated, Any, Union

from pydantic import EmailStr, Field
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    ETag,
    Filter,
    Meta,
    Mutability,
    Patch,
    Reference,
    Required,
    Resource,
    ResourceType,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)


class Email(ComplexAttribute):
    value: EmailStr | None = None
    type: str | None = Field(None, examples=["work", "home", "other"])
    primary: bool | None = None


class Name(ComplexAttribute):
    formatted: str | None = None
    family_name: str | None = None
    given_name: str | None = None


# The class names are the schema names (scim2-models derives them, and members' $ref types).
class User(Resource[Any]):
    """User Account"""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")
    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    name: Name | None = None
    display_name: str | None = None
    active: bool | None = None
    emails: list[Email] | None = None


class GroupMember(ComplexAttribute):
    value: Annotated[str | None, Mutability.immutable, CaseExact.true] = None
    # Quoted: Group is defined below (and scim2-models reads the names as reference types).
    ref: Annotated[Reference[Union["User", "Group"]] | None, Mutability.immutable] = Field(
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    type: Annotated[str | None, Mutability.immutable] = Field(None, examples=["User", "Group"])


class Group(Resource[Any]):
    """Group"""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:Group")
    display_name: Annotated[str | None, Required.true] = None
    members: list[GroupMember] | None = None


def service_provider_config(base: str, max_results: int) -> ServiceProviderConfig:
    return ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=max_results),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="OAuth Bearer Token",
                description="A SCIM token an admin of the organization created",
                primary=True,
            )
        ],
        meta=Meta(resource_type="ServiceProviderConfig", location=f"{base}/ServiceProviderConfig"),
    )


def resource_types(base: str) -> list[ResourceType]:
    found = []
    for model in (User, Group):
        rt = ResourceType.from_resource(model)
        found.append(
            rt.model_copy(
                update={
                    "meta": Meta(
                        resource_type="ResourceType", location=f"{base}/ResourceTypes/{rt.id}"
                    )
                }
            )
        )
    return found


def schemas(base: str) -> list[Any]:
    found = []
    for model in (User, Group):
        schema = model.to_schema()
        found.append(
            schema.model_copy(
                update={
                    "meta": Meta(resource_type="Schema", location=f"{base}/Schemas/{schema.id}")
                }
            )
        )
    return found
