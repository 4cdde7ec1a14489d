"""The role table: who may do what on the dashboard (pure)."""

from __future__ import annotations

import pytest

from frontdesk.staff import (
    PERMISSIONS,
    ROLES,
    Permission,
    StaffUser,
    can,
    may_control,
    may_see_site,
    visible_sites,
)

AGENT = StaffUser("alice", "Alice", "agent", "2001")
NURSE = StaffUser("nina", "Nina", "charge_nurse", "2005")
SUPERVISOR = StaffUser("sam", "Sam", "supervisor", None)
ADMIN = StaffUser("ada", "Ada", "admin", None)

EXPECTED: dict[Permission, set[str]] = {
    "view_board": {"agent", "charge_nurse", "supervisor", "admin"},
    "see_full_numbers": {"charge_nurse", "supervisor"},
    "acknowledge_alert": {"charge_nurse", "supervisor"},
    "return_calls": {"agent", "charge_nurse", "supervisor"},
    "control_own_agent": {"agent", "charge_nurse", "supervisor", "admin"},
    "control_any_agent": {"supervisor"},
    "view_reports": {"charge_nurse", "supervisor", "admin"},
    "view_diagram": {"agent", "charge_nurse", "supervisor", "admin"},
    "manage_users": {"admin"},
}


def test_the_roles_and_permissions_are_the_documented_ones() -> None:
    assert ROLES == ("agent", "charge_nurse", "supervisor", "admin")
    assert set(PERMISSIONS) == set(EXPECTED)


@pytest.mark.parametrize("permission", sorted(EXPECTED))
def test_each_permission_for_each_role_with_an_extension(permission: Permission) -> None:
    granted = {role for role in ROLES if can(StaffUser("u", "U", role, "2001"), permission)}
    assert granted == EXPECTED[permission]


def test_controlling_ones_own_agent_needs_an_extension() -> None:
    assert can(AGENT, "control_own_agent")
    assert not can(StaffUser("x", "X", "agent", None), "control_own_agent")
    assert not can(ADMIN, "control_own_agent")


def test_may_control() -> None:
    assert may_control(AGENT, "2001")
    assert not may_control(AGENT, "2002")
    assert may_control(NURSE, "2005")
    assert not may_control(NURSE, "2001")
    assert may_control(SUPERVISOR, "2001")  # control_any_agent, no extension needed
    assert not may_control(ADMIN, "2001")


def test_unknown_permissions_are_never_granted() -> None:
    assert not can(SUPERVISOR, "launch_rockets")  # type: ignore[arg-type]


def test_a_role_sees_its_home_site_and_the_sites_its_account_lists() -> None:
    nurse = StaffUser("n", "N", "charge_nurse", None, site="north")
    both = StaffUser("s", "S", "supervisor", None, site="north", sites=("south",))
    everyone = StaffUser("a", "A", "supervisor", None, sites=("*",))
    assert may_see_site(nurse, "north")
    assert not may_see_site(nurse, "south")
    assert visible_sites(both, {"south", "north", "east"}) == ["north", "south"]
    assert visible_sites(everyone, {"south", "north"}) == ["north", "south"]
    assert visible_sites(nurse, {"south"}) == []
