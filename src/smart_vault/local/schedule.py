"""EventBridge schedule expressions, and `smart-vault local tick`: what the schedules would run, in order.

Schedules do not fire in the emulator. `tick_plan` lists the firings of every scheduled rule in a window
(EventBridge's `cron(minutes hours day-of-month month day-of-week year)`, UTC, and `rate(N unit)`), in time
order. The emulator's clock does not move with the plan, so consecutive firings of one rule with nothing else
in between are run once: a second run at the same emulated instant finds nothing new to do (a copy
reconciliation every 30 minutes between two daily backups is one reconciliation here).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from smart_vault.local.rules import RuleSpec

DAY_NAMES = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
MONTH_NAMES = {n: i for i, n in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}
CRON = re.compile(r"^cron\((?P<fields>\S+ \S+ \S+ \S+ \S+ \S+)\)$")
RATE = re.compile(r"^rate\((?P<n>\d+) (?P<unit>minutes?|hours?|days?)\)$")


class ScheduleError(ValueError):
    pass


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    """The numbers a cron field matches (`*`, `?`, lists, ranges, `a/step`, names); an empty set for `?`."""
    if field == "?":
        return set()
    found: set[int] = set()
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            first, last = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            first, last = _number(a, names), _number(b, names)
        else:
            first = _number(part, names)
            last = high if step > 1 else first
        found.update(range(first, last + 1, step))
    if not found or min(found) < low or max(found) > high:
        raise ScheduleError(f"cron field {field!r} is outside {low}..{high}")
    return found


def _number(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ScheduleError(f"cron field value {text!r} is not supported here")
    return int(text)


def fire_times(expression: str, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every firing in (start, end], UTC, of an EventBridge `cron(...)` or `rate(...)` expression."""
    rate = RATE.match(expression)
    if rate:
        unit = rate.group("unit").rstrip("s")
        step = timedelta(**{f"{unit}s": int(rate.group("n"))})
        at = start + step
        while at <= end:
            yield at
            at += step
        return
    cron = CRON.match(expression)
    if not cron:
        raise ScheduleError(f"not an EventBridge schedule expression: {expression}")
    minute, hour, dom, month, dow, year = cron.group("fields").split(" ")
    minutes, hours = _values(minute, 0, 59), _values(hour, 0, 23)
    days, months, weekdays = (
        _values(dom, 1, 31),
        _values(month, 1, 12, MONTH_NAMES),
        _values(dow, 1, 7, DAY_NAMES),
    )
    years = None if year == "*" else _values(year, 1970, 2199)
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= end:
        weekday = (day.isoweekday() % 7) + 1  # EventBridge: 1 = Sunday
        if (
            day.month in months
            and (years is None or day.year in years)
            and (not days or day.day in days)
            and (not weekdays or weekday in weekdays)
        ):
            for h in sorted(hours):
                for m in sorted(minutes):
                    at = day.replace(hour=h, minute=m)
                    if start < at <= end:
                        yield at
        day += timedelta(days=1)


@dataclass(frozen=True)
class Firing:
    at: datetime
    rule: RuleSpec


def tick_plan(rules: list[RuleSpec], start: datetime, days: float) -> list[Firing]:
    """The scheduled rules' firings in (start, start + days], in order, consecutive repeats of a rule merged."""
    end = start + timedelta(days=days)
    firings = sorted(
        (Firing(at, rule) for rule in rules if rule.schedule for at in fire_times(rule.schedule, start, end)),
        key=lambda f: (f.at, f.rule.name),
    )
    plan: list[Firing] = []
    for firing in firings:
        if not plan or plan[-1].rule != firing.rule:
            plan.append(firing)
    return plan
