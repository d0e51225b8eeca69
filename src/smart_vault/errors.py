"""The project's exception tree. AWS errors are translated into these in `smart_vault.aws` only."""

from __future__ import annotations


class SmartVaultError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(SmartVaultError):
    """A setting (environment variable) is missing or invalid. The message names the variable."""

    def __init__(self, variable: str, message: str):
        super().__init__(f"{variable}: {message}")
        self.variable = variable


class ValidationError(SmartVaultError):
    """A request or event is invalid. `field` names the offending field when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(SmartVaultError):
    """A resource does not exist, or is not ours to see."""

    def __init__(self, message: str, error: str = "NotFound"):
        super().__init__(message)
        self.message = message
        self.error = error


class Conflict(SmartVaultError):
    """The request cannot be served in the resource's current state."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# Error codes AWS uses for throttling. botocore's retry modes already retry these; the set is here so that
# callers can tell "slow down" apart from a real failure when retries run out.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)


class AwsError(SmartVaultError):
    """An AWS call failed. `code` is the AWS error code, `operation` the API operation name."""

    def __init__(self, code: str, message: str, operation: str = "", status: int | None = None):
        super().__init__(f"{operation or 'AWS call'} failed: {code}: {message}")
        self.code = code
        self.message = message
        self.operation = operation
        self.status = status

    @property
    def is_throttling(self) -> bool:
        return self.code in THROTTLING_CODES

    def readable(self) -> str:
        """A one-line description safe for reports and notifications (no request ids, no stack)."""
        return f"{self.code}: {self.message}" if self.message else self.code
