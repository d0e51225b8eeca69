"""The simulation's authorization decisions, each evaluated once per distinct request and world answer.

A simulated week sends the same requests again and again (every reconciliation lists the same snapshots,
every invocation asks the Lambda service the same question), and `Enforcer.decide` evaluated each one from
scratch: a third of a small copy-pipeline run. A decision is a function of the request (function, service,
operation, the parameters its authorizations read, region, environment, account), of the Terraform (fixed
for a run) and of what the facts answered about the world (a snapshot's tags and owner, a table's key, ...).
`CachingEnforcer` keeps each decision with the facts questions it asked and their answers, and reuses it
only when the request is the same and every one of those questions still has the same answer; otherwise it
decides again. The recorded-calls file (`Enforcer._write`) is written on a reuse as on a decision.
"""

from __future__ import annotations

from typing import Any

from smart_vault.authz import requests, terraform
from smart_vault.authz.enforce import Call, Enforcer, Outcome

_Question = tuple[str, tuple[Any, ...], tuple[tuple[str, Any], ...], Any]  # method, args, kwargs, answer


class _RecordingFacts:
    """The facts, with each method call and its answer noted while `questions` is a list."""

    def __init__(self, facts: Any) -> None:
        self.facts = facts
        self.questions: list[_Question] | None = None

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.facts, name)
        if not callable(value):
            return value

        def asked(*args: Any, **kwargs: Any) -> Any:
            answer = value(*args, **kwargs)
            if self.questions is not None:
                self.questions.append((name, args, tuple(sorted(kwargs.items())), answer))
            return answer

        return asked

    def same_answers(self, questions: list[_Question]) -> bool:
        return all(getattr(self.facts, n)(*a, **dict(k)) == answer for n, a, k, answer in questions)


def _params_key(service: str, operation: str, params: dict[str, Any]) -> Any:
    """What of a call's parameters its authorizations read (`authz.requests`): a DynamoDB call's requests
    name only its tables (`requests._dynamodb`), an EBS direct call's only the snapshots it names
    (`requests._ebs_direct`); any other call is keyed on all its parameters. Their repr is exact: they are
    plain values (str, numbers, lists, dicts, datetimes)."""
    if service == "dynamodb":
        return ("tables", *requests._tables(params))
    if service == "ebs" and operation in requests.EBS_DIRECT_SNAPSHOT_PARAMS:
        return ("snapshots", *(params.get(name) for name in requests.EBS_DIRECT_SNAPSHOT_PARAMS[operation]))
    return repr(params)


class CachingEnforcer(Enforcer):
    """An `Enforcer` whose decisions are reused for the same request and the same facts answers."""

    def __init__(self, facts: Any, record_dir: str | None = None) -> None:
        self._recording = _RecordingFacts(facts)
        super().__init__(self._recording, record_dir)
        self._decisions: dict[tuple[Any, ...], tuple[list[_Question], tuple[Any, ...], tuple[Any, ...]]] = {}
        self._written: tuple[Any, ...] = ()

    def decide(self, call: Call) -> tuple[list[Outcome], str, terraform.Deployment]:
        if self._another_account(call.account):
            # Answered by another account's facts, whose questions this recording cannot see: decided every
            # time, never reused.
            return super().decide(call)
        read = _params_key(call.service, call.operation, call.params)
        key = (
            call.function,
            call.service,
            call.operation,
            read,
            call.region,
            tuple(call.environment.items()),
            call.account,
        )
        known = self._decisions.get(key)
        if known is not None and self._recording.same_answers(known[0]):
            questions, written, (outcomes, principal, deployment) = known
            super()._write(*written)
            return list(outcomes), principal, deployment
        self._recording.questions = []
        try:
            outcomes, principal, deployment = super().decide(call)
            questions = self._recording.questions
        finally:
            self._recording.questions = None
        self._decisions[key] = (questions, self._written, (tuple(outcomes), principal, deployment))
        return outcomes, principal, deployment

    def _write(self, *args: Any) -> None:
        self._written = args
        super()._write(*args)
