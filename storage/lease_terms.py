"""The terms of a run's lease, whichever backend stores it: times, expiry, and which runs a
claim may take.

A lease is a run's ``owner`` plus its ``lease_expires_at``. A run handed back (its driver
stopped and let go of it, see ``Leases.hand_back``) has no owner and a lease that ended when
it was handed back: a claim of crashed runs takes it at once, and it is shown as it is (not
CRASHED: nobody died). Every time here is the caller's
clock, passed in as ``now`` (UTC): the same clock that stamps events, so drivers sharing a
store need synchronized clocks (NTP) and a ttl well above their skew. The SQL backend states
the same conditions as queries (``storage.leases``); the contract suite holds them equal.
"""

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .protocols import RunSummary

CLAIMABLE_STATES = ("RUNNING", "PENDING")
"""Stored run states a driver is (or was about to be) driving."""
ENDED_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")
"""Stored run states of a run that ended: its driver lets go of the lease once done."""


def utc_now(now: datetime | None) -> datetime:
    """``now`` checked to be UTC-aware, or the current UTC time."""
    if now is None:
        return datetime.now(UTC)
    if now.utcoffset() is None:
        raise ValueError(f"naive time {now!r}: ledgerflow leases take UTC-aware times")
    return now.astimezone(UTC)


def lease_expiry(now: datetime, ttl: float) -> datetime:
    """When a lease taken at ``now`` for ``ttl`` seconds expires."""
    if not (math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"a lease ttl must be a positive number of seconds, not {ttl!r}")
    return now + timedelta(seconds=ttl)


def new_lease(owner: str | None, ttl: float | None, now: datetime | None = None) -> dict[str, Any]:
    """The lease columns of a run created with ``owner``'s lease for ``ttl`` s (none without
    both)."""
    if owner is None or ttl is None:
        return {}
    return {"owner": owner, "lease_expires_at": lease_expiry(utc_now(now), ttl)}


def _has_lapsed(lease_expires_at: datetime | None, now: datetime) -> bool:
    """A lease was taken and has expired."""
    return lease_expires_at is not None and lease_expires_at <= now


def _is_held(lease_expires_at: datetime | None, now: datetime) -> bool:
    """Someone holds the lease at ``now``."""
    return lease_expires_at is not None and lease_expires_at > now


def _is_abandoned(run: RunSummary, now: datetime, ttl: float) -> bool:
    """A RUNNING or PENDING run's driver is gone: its lease expired, or it has none and nothing
    was appended for ``ttl`` s (its creator died before taking it)."""
    if run.lease_expires_at is None:
        return run.updated_at <= now - timedelta(seconds=ttl)
    return run.lease_expires_at <= now


def shown(run: RunSummary, now: datetime) -> RunSummary:
    """The run as it is listed at ``now``: CRASHED if RUNNING with a driver whose lease
    expired (it died; a run handed back has no driver)."""
    if run.state == "RUNNING" and run.owner is not None and _has_lapsed(run.lease_expires_at, now):
        return replace(run, state="CRASHED")
    return run


def is_left_by_a_dead_driver(run: RunSummary, now: datetime, ttl: float) -> bool:
    """RUNNING or PENDING, and the lease expired (or was handed back), or there is none and
    nothing was appended for ``ttl`` (a driver that died between run.created and taking its
    lease); or ended, and its driver died still holding the lease (before delivering the
    hooks it owed)."""
    if run.state in CLAIMABLE_STATES:
        return _is_abandoned(run, now, ttl)
    return run.state in ENDED_STATES and run.owner is not None and _has_lapsed(run.lease_expires_at, now)


def is_waiting_to_start(run: RunSummary, now: datetime) -> bool:
    """SCHEDULED, and nobody holds it (or the worker that claimed it died before starting)."""
    return run.state == "SCHEDULED" and not _is_held(run.lease_expires_at, now)


def awaits_a_claim(run: RunSummary, now: datetime, ttl: float) -> bool:
    """A listed run (see ``shown``) that a claim would take if a slot of its flow were free:
    SCHEDULED and nobody holds it; listed CRASHED with the lapsed lease of the driver that
    died (one recorded CRASHED, which its driver let go of, waits for a person instead); or
    RUNNING or PENDING and let go (handed back, or its creator died before taking its lease)."""
    if run.state == "SCHEDULED":
        return not _is_held(run.lease_expires_at, now)
    if run.state == "CRASHED":
        return run.owner is not None and _has_lapsed(run.lease_expires_at, now)
    return run.state in CLAIMABLE_STATES and _is_abandoned(run, now, ttl)


def is_undriven(run: RunSummary, now: datetime, ttl: float) -> bool:
    """No live driver holds the run: SCHEDULED or CRASHED without a live lease, or RUNNING or
    PENDING whose lease expired (or that has none and saw no append for ``ttl`` s: its
    creator died before taking it)."""
    if run.state in ("SCHEDULED", "CRASHED"):
        return not _is_held(run.lease_expires_at, now)
    if run.state in CLAIMABLE_STATES:
        return _is_abandoned(run, now, ttl)
    return False
