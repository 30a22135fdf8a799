"""SCIM 2.0 provisioning (RFC 7643/7644) of an organization's people and groups."""
