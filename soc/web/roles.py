"""Roles and what each may do: the one table every route and action is checked against."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["PERMISSIONS", "Permission", "Role", "allowed"]


class Role(StrEnum):
    operator = "operator"
    csirt = "csirt"
    ciso = "ciso"
    admin = "admin"


class Permission(StrEnum):
    alerts_read = "alerts.read"
    alerts_triage = "alerts.triage"
    incidents_read = "incidents.read"
    incidents_work = "incidents.work"
    decisions = "decisions"  # approval steps asked of the CISO
    reports = "reports"
    overview = "overview"


_ALL = frozenset(Role)
PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.alerts_read: frozenset({Role.operator, Role.csirt, Role.admin}),
    Permission.alerts_triage: frozenset({Role.operator, Role.csirt, Role.admin}),
    Permission.incidents_read: _ALL,
    Permission.incidents_work: frozenset({Role.csirt, Role.admin}),
    Permission.decisions: frozenset({Role.ciso, Role.admin}),
    Permission.reports: frozenset({Role.csirt, Role.ciso, Role.admin}),
    Permission.overview: _ALL,
}


def allowed(role: Role, permission: Permission) -> bool:
    return role in PERMISSIONS[permission]
