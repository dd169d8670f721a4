"""Administration: users, groups, grants, robots, tokens, lockouts. Shared by the CLI and the
admin API.

:class:`AccountService` is the face the front ends use; behind it one module per kind of thing
it manages. Errors are :class:`AccountError` subclasses that carry an HTTP status:
``InvalidInput`` (400), ``NotFound`` (404), ``Conflict`` (409).
"""

from regauth.accounts.checks import (
    ACTIONS,
    MAX_DESCRIPTION,
    MAX_PASSWORD,
    ROLES,
    check_description,
    check_email,
    check_expiry,
    check_group_name,
    check_new_name,
    check_password,
    check_pattern,
    check_robot_name,
    check_role,
    check_token_name,
    check_username,
)
from regauth.accounts.console_sessions import (
    CONSOLE_SESSION_PREFIX,
    DEVICE_SESSION_PREFIX,
    ConsoleSessionView,
    LiveSession,
    SessionStart,
)
from regauth.accounts.device_authorizations import DeviceRequestView, PollOutcome
from regauth.accounts.errors import AccountError, Conflict, InvalidInput, NotFound
from regauth.accounts.federation import Federation, check_federation, parse_claim_conditions
from regauth.accounts.labels import check_labels
from regauth.accounts.service import AccountService
from regauth.accounts.user_import import ImportedAccount
from regauth.accounts.views import (
    Created,
    GrantView,
    GroupView,
    LockoutsCleared,
    LockoutView,
    RefreshTokenView,
    RobotView,
    TokenView,
    UserView,
)

__all__ = [
    "ACTIONS",
    "CONSOLE_SESSION_PREFIX",
    "DEVICE_SESSION_PREFIX",
    "MAX_DESCRIPTION",
    "MAX_PASSWORD",
    "ROLES",
    "AccountError",
    "AccountService",
    "Conflict",
    "ConsoleSessionView",
    "Created",
    "DeviceRequestView",
    "Federation",
    "GrantView",
    "GroupView",
    "ImportedAccount",
    "InvalidInput",
    "LiveSession",
    "LockoutView",
    "LockoutsCleared",
    "NotFound",
    "PollOutcome",
    "RefreshTokenView",
    "RobotView",
    "SessionStart",
    "TokenView",
    "UserView",
    "check_description",
    "check_email",
    "check_expiry",
    "check_federation",
    "check_group_name",
    "check_labels",
    "check_new_name",
    "check_password",
    "check_pattern",
    "check_robot_name",
    "check_role",
    "check_token_name",
    "check_username",
    "parse_claim_conditions",
]
