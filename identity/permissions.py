"""Roles grant permissions; every API route declares the one it needs (see api/auth.py)."""

from __future__ import annotations

import enum


class Permission(enum.StrEnum):
    CERTIFICATES_READ = "certificates:read"
    CERTIFICATES_ISSUE = "certificates:issue"  # issue and renew
    CERTIFICATES_REVOKE = "certificates:revoke"  # revoke, suspend, reinstate
    USERS_MANAGE = "users:manage"
    API_KEYS_MANAGE = "api-keys:manage"
    AUDIT_READ = "audit:read"
    DOCUMENTS_SIGN = "documents:sign"
    DOCUMENTS_SEAL = "documents:seal"
    INVITATIONS_MANAGE = "invitations:manage"
    CHECKINS_CREATE = "checkins:create"
    SELF = "self"  # one's own account: second factor, logout, who am I


ROLES: dict[str, frozenset[Permission]] = {
    # Separation of duties (as in EJBCA): the admin manages people, the CA operator manages certificates.
    "admin": frozenset({Permission.USERS_MANAGE, Permission.API_KEYS_MANAGE, Permission.AUDIT_READ,
                        Permission.CERTIFICATES_READ, Permission.SELF}),
    "ca-operator": frozenset({Permission.CERTIFICATES_READ, Permission.CERTIFICATES_ISSUE,
                              Permission.CERTIFICATES_REVOKE, Permission.AUDIT_READ, Permission.SELF}),
    "official": frozenset({Permission.DOCUMENTS_SIGN, Permission.INVITATIONS_MANAGE, Permission.SELF}),
    "clerk": frozenset({Permission.DOCUMENTS_SEAL, Permission.INVITATIONS_MANAGE, Permission.SELF}),
    "desk": frozenset({Permission.CHECKINS_CREATE, Permission.SELF}),
    "citizen": frozenset({Permission.DOCUMENTS_SIGN, Permission.SELF}),  # their own applications
    # Integrators: an API key carries its own scopes, chosen from these when it is created.
    "service": frozenset({Permission.CERTIFICATES_READ, Permission.CERTIFICATES_ISSUE,
                          Permission.DOCUMENTS_SIGN, Permission.DOCUMENTS_SEAL,
                          Permission.INVITATIONS_MANAGE, Permission.CHECKINS_CREATE}),
}  # fmt: skip
SECOND_FACTOR_REQUIRED = frozenset({"admin", "ca-operator", "official", "clerk"})


def permissions_of(role: str) -> frozenset[Permission]:
    return ROLES.get(role, frozenset())
