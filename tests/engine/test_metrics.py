"""Metrics of a metered engine say what its log says, on every backend; how a run's labels are
found; the store's figures at a scrape, and a scrape of a store that cannot be read."""

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

import ledgerflow as lf
from ledgerflow.engine.core.events import Event, NewEvent
from ledgerflow.engine.event_meter import EventMeter, RunNames
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.engine.metrics import ProcessMetrics, meter, metrics_registry
from ledgerflow.engine.store_collector import StoreCollector
from ledgerflow.storage import AppendConflict, StorageUnavailable, TagSlots

from ..metric_samples import FLOWS, assert_same, counted, expected, parse, sample


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    path = tmp_path / "metric_flows.py"
    path.write_text(FLOWS)
    return path


@pytest.fixture
def metered(store_url: str, tmp_path: Path) -> Iterator[tuple[lf.Engine, CollectorRegistry]]:
    with lf.Engine(store_url, home=tmp_path / "home") as engine:
        registry = metrics_registry(engine.storage)
        meter(engine, registry)
        yield engine, registry


def test_the_counters_and_histograms_say_what_the_log_says(
    metered: tuple[lf.Engine, CollectorRegistry], flows: Path
) -> None:
    engine, registry = metered
    runs = [
        engine.run(load_flow(f"{flows}:retrying"), n=3),
        engine.run(load_flow(f"{flows}:failing")),
        engine.run(load_flow(f"{flows}:cached")),
        engine.run(load_flow(f"{flows}:cached")),
    ]
    assert [run.state for run in runs] == ["SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED"]
    logs = [engine.events(run.id) for run in runs]
    samples = parse(generate_latest(registry).decode())
    assert_same(counted(samples), expected(logs))
    attempts = "ledgerflow_task_attempts_total"
    assert sample(samples, attempts, flow="retrying", task="flaky", outcome="RETRYING") == 3
    assert sample(samples, attempts, flow="cached", task="square", outcome="CACHED") == 2
    assert sample(samples, "ledgerflow_hook_deliveries_total", outcome="sent") == 1
    assert sample(samples, "ledgerflow_log_events_appended_total") == sum(map(len, logs))
    appends = sample(samples, "ledgerflow_log_appends_total", outcome="appended")
    transactions = sample(samples, "ledgerflow_log_append_seconds_count")
    assert appends is not None and transactions is not None and appends >= transactions >= len(runs)
    assert sample(samples, "ledgerflow_database_up") == 1
    assert sample(samples, "ledgerflow_runs_in_progress") == 0


def test_a_refused_append_is_counted_as_a_conflict(metered: tuple[lf.Engine, CollectorRegistry]) -> None:
    engine, registry = metered
    log = engine.storage.log
    log.append("r1", 0, [NewEvent(None, "run.created", {"flow": "f"})])
    with pytest.raises(AppendConflict):
        log.append("r1", 0, [NewEvent(None, "run.created", {"flow": "f"})])
    samples = parse(generate_latest(registry).decode())
    assert sample(samples, "ledgerflow_log_appends_total", outcome="conflict") == 1
    assert sample(samples, "ledgerflow_log_appends_total", outcome="appended") == 1
    assert sample(samples, "ledgerflow_log_append_seconds_count") == 2


def _event(seq: int, type_: str, task_key: str | None = None, **payload: object) -> Event:
    return Event("r1", seq, task_key, type_, payload, datetime(2026, 1, 1, tzinfo=UTC), "", "")


CREATED = _event(1, "run.created", flow="f", graph={"nodes": [
    {"key": "numbers", "task": "numbers"}, {"key": "double", "task": "double"},
    {"key": "double-1", "task": "double"}, {"key": "train[0]", "task": "fit"},
]})  # fmt: skip


@pytest.mark.parametrize(
    ("key", "task"),
    [("numbers", "numbers"), ("double[3]", "double"), ("double-1[12]", "double"), ("train[0]", "fit"),
     ("unknown[1]", "unknown"), ("nested[1][2]", "nested")],
)  # fmt: skip
def test_a_task_is_labelled_by_its_name_never_its_mapped_key(key: str, task: str) -> None:
    names = RunNames.of([CREATED])
    assert names is not None and names.task(key) == task


def test_a_run_not_seen_before_is_named_from_its_log_read_once() -> None:
    registry = CollectorRegistry()
    meter_ = EventMeter(ProcessMetrics(registry))
    reads: list[tuple[str, int]] = []

    def read_before(run_id: str, upto_seq: int) -> list[Event]:
        reads.append((run_id, upto_seq))
        return [CREATED, _event(2, "run.running", owner="old")]

    meter_.appended("r1", [_event(5, "task.failed", "double[1]", attempt=2, duration=0.5)], read_before)
    meter_.appended("r1", [_event(6, "run.running", owner="new"), _event(7, "run.failed")], read_before)
    assert reads == [("r1", 4)]
    attempts = {"flow": "f", "task": "double", "outcome": "FAILED"}
    assert registry.get_sample_value("ledgerflow_task_attempts_total", attempts) == 1
    assert registry.get_sample_value("ledgerflow_runs_finished_total", {"flow": "f", "state": "FAILED"}) == 1
    assert registry.get_sample_value("ledgerflow_run_start_delay_seconds_count") == 0  # resumed: not a start


class _Figures:
    def runs_in_progress(self, now: datetime | None = None) -> int:
        return 3

    def runs_waiting(self, now: datetime | None = None) -> Mapping[str, int]:
        return {"gpu": 2, "default": 1}

    def tag_slots(self, now: datetime | None = None) -> list[TagSlots]:
        return [TagSlots("db", 4, 4, 7)]

    def heartbeats(self, now: datetime | None = None) -> Mapping[str, datetime]:
        return {"w1": datetime(2026, 1, 1, 11, 59, 30, tzinfo=UTC)}


class _Unreachable(_Figures):
    def runs_waiting(self, now: datetime | None = None) -> Mapping[str, int]:
        raise StorageUnavailable("cannot reach the database")


def _scrape(collector: StoreCollector) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    return parse(generate_latest(registry).decode())


def test_the_store_figures_become_gauges() -> None:
    samples = _scrape(StoreCollector(_Figures(), clock=lambda: datetime(2026, 1, 1, 12, tzinfo=UTC)))
    assert samples == {
        ("ledgerflow_database_up", frozenset()): 1,
        ("ledgerflow_runs_in_progress", frozenset()): 3,
        ("ledgerflow_runs_waiting", frozenset({("queue", "default")})): 1,
        ("ledgerflow_runs_waiting", frozenset({("queue", "gpu")})): 2,
        ("ledgerflow_limit_slots", frozenset({("tag", "db"), ("state", "used")})): 4,
        ("ledgerflow_limit_slots", frozenset({("tag", "db"), ("state", "waiting")})): 7,
        ("ledgerflow_limit_slots", frozenset({("tag", "db"), ("state", "limit")})): 4,
        ("ledgerflow_worker_heartbeat_age_seconds", frozenset({("worker", "w1")})): 30,
    }


def test_a_store_that_cannot_be_read_gives_database_up_0_and_the_scrape_succeeds() -> None:
    assert _scrape(StoreCollector(_Unreachable())) == {("ledgerflow_database_up", frozenset()): 0}
