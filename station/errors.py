"""The small family of domain errors. Every message is a sentence a cashier can read."""


class StationError(Exception):
    """Base: ``str(e)`` is shown to the user as is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(StationError):
    """Bad input: nothing was changed."""


class NotFound(StationError):
    pass


class PermissionDenied(StationError):
    pass


class NeedsApproval(StationError):
    """The action is allowed only with a manager's approval for exactly this action."""

    def __init__(self, message: str, action: str, amount: int | None = None, ref: str | None = None):
        super().__init__(message)
        self.action = action
        self.amount = amount
        self.ref = ref


class AuthFailed(StationError):
    pass


class LockedOut(AuthFailed):
    pass


class Conflict(StationError):
    """Somebody else got there first (another terminal), or the state changed."""


class Unavailable(StationError):
    """The database or a device is not answering; nothing was changed."""


class ConfigError(StationError):
    pass
