"""Staff roles and what each may do on the dashboard (pure: no I/O).

A shared leaf: the dashboard (web/) checks these permissions and the account store
(store/accounts.py) keeps the role, so it lives beside both rather than inside web/.

Four roles, stored with each account (`staff_accounts.role`):

- **agent**: answers calls. Sees the board with caller numbers masked, controls their
  own extension (log in, log out, pause), sees the full caller number and the patient
  only in their OWN screen pop, and the call-flow diagram. Returns calls: claims a
  callback task or voicemail message, and marks it done with an outcome.
- **charge_nurse**: watches the clinical queues. Sees the board with full numbers,
  acknowledges escalation alerts, sees the reports and the diagram; controls their own
  extension when they have one.
- **supervisor**: runs the floor. Everything a charge nurse may do, plus logging in,
  out and pausing any agent.
- **admin**: manages the staff accounts; sees the board (numbers masked), the reports
  and the diagram. No call data beyond that.

| permission | agent | charge_nurse | supervisor | admin |
|---|---|---|---|---|
| `view_board` | yes | yes | yes | yes |
| `see_full_numbers` (on the board) | no | yes | yes | no |
| `acknowledge_alert` | no | yes | yes | no |
| `return_calls` (claim a callback task or voicemail, done with an outcome) | yes | yes | yes | no |
| `control_own_agent` (needs an extension) | yes | yes | yes | yes |
| `control_any_agent` | no | no | yes | no |
| `view_reports` | no | yes | yes | yes |
| `view_diagram` | yes | yes | yes | yes |
| `manage_users` | no | no | no | yes |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal, get_args

Role = Literal["agent", "charge_nurse", "supervisor", "admin"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)

Permission = Literal[
    "view_board",
    "see_full_numbers",
    "acknowledge_alert",
    "return_calls",
    "control_own_agent",
    "control_any_agent",
    "view_reports",
    "view_diagram",
    "manage_users",
]
PERMISSIONS: Final[tuple[Permission, ...]] = get_args(Permission)

_ALL: Final[frozenset[Role]] = frozenset(ROLES)
GRANTS: Final[dict[Permission, frozenset[Role]]] = {
    "view_board": _ALL,
    "see_full_numbers": frozenset({"charge_nurse", "supervisor"}),
    "acknowledge_alert": frozenset({"charge_nurse", "supervisor"}),
    "return_calls": frozenset({"agent", "charge_nurse", "supervisor"}),
    "control_own_agent": _ALL,  # and only with an extension: see can()
    "control_any_agent": frozenset({"supervisor"}),
    "view_reports": frozenset({"charge_nurse", "supervisor", "admin"}),
    "view_diagram": _ALL,
    "manage_users": frozenset({"admin"}),
}


DEFAULT_SITE: Final = "main"
ALL_SITES: Final = "*"  # in an account's `sites`: every site


@dataclass(frozen=True)
class StaffUser:
    username: str
    display_name: str
    role: Role
    extension: str | None
    site: str = DEFAULT_SITE  # the account's home site (accounts are shared by the sites)
    sites: tuple[str, ...] = ()  # the other sites it may see (`*`: every one)


def may_see_site(user: StaffUser, site: str) -> bool:
    """Whether `user` may see `site`'s board and reports: its home site, and the sites its
    account lists (a supervisor of two sites lists both)."""
    return site == user.site or site in user.sites or ALL_SITES in user.sites


def visible_sites(user: StaffUser, known: Iterable[str]) -> list[str]:
    """The sites of `known` that `user` may see, in order, home site first."""
    names = set(known)
    return [
        s
        for s in dict.fromkeys([user.site, *sorted(names)])
        if s in names and may_see_site(user, s)
    ]


def can(user: StaffUser, permission: Permission) -> bool:
    """Whether `user` holds `permission` (an unknown permission is never granted)."""
    if permission == "control_own_agent" and user.extension is None:
        return False
    return user.role in GRANTS.get(permission, frozenset())


def may_control(user: StaffUser, ext: str) -> bool:
    """Whether `user` may log in, log out or pause the agent at extension `ext`."""
    if can(user, "control_any_agent"):
        return True
    return user.extension == ext and can(user, "control_own_agent")
