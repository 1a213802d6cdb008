"""The task log store (task_logs)."""

from datetime import UTC, datetime, timedelta

from ledgerflow.storage import Storage, TaskLogLine

T0 = datetime(2026, 11, 29, 3, 15, 0, 123456, tzinfo=UTC)


def line(task_key: str, attempt: int, seq: int, message: str, **fields: str) -> TaskLogLine:
    stream = fields.pop("stream", "stdout")
    ts = T0 + timedelta(seconds=seq)
    return TaskLogLine("run-1", task_key, attempt, seq, ts, stream, message, **fields)


def test_lines_round_trip_in_task_attempt_seq_order(storage: Storage) -> None:
    store = storage.task_logs
    written = [
        line("b", 1, 0, "b first"),
        line("a", 2, 0, "a retried", stream="stderr"),
        line("a", 1, 1, "a warns", stream="log", level="WARNING", logger="my.module"),
        line("a", 1, 0, "a starts"),
    ]
    store.put_logs(written[:2])
    store.put_logs(written[2:])
    store.put_logs([])
    read = store.read_logs("run-1")
    order = [(x.task_key, x.attempt, x.seq) for x in read]
    assert order == [("a", 1, 0), ("a", 1, 1), ("a", 2, 0), ("b", 1, 0)]
    assert read[1] == written[2]  # every field, the UTC timestamp with its microseconds included
    assert read[0].level is None and read[0].logger is None


def test_read_filters_by_run_and_task(storage: Storage) -> None:
    store = storage.task_logs
    other_run = TaskLogLine("run-2", "a", 1, 0, T0, "stdout", "elsewhere")
    store.put_logs([line("a", 1, 0, "mine"), line("b", 1, 0, "not a"), other_run])
    assert [x.message for x in store.read_logs("run-1", "a")] == ["mine"]
    assert [x.message for x in store.read_logs("run-2")] == ["elsewhere"]
    assert store.read_logs("run-3") == []


def test_unusual_text_is_stored(storage: Storage) -> None:
    store = storage.task_logs
    store.put_logs([line("a", 1, 0, "nul \x00 here, ünïcode ✓, 'quotes'; " + "x" * 20_000)])
    (read,) = store.read_logs("run-1")
    assert read.message.startswith("nul \\x00 here, ünïcode ✓, 'quotes'; x") and len(read.message) > 20_000
