"""Tags of limits and names of schedules that would mean something else in a URL (or are
invisible) are refused (where they are stored: ``contract/test_names.py``)."""


import pytest

from ledgerflow.storage.names import MAX_NAME_LENGTH, InvalidName, check_name

REFUSED = [
    ("../runs/RID/cancel", "slash"),
    ("a/b", "slash"),
    ("a\\b", "slash"),
    (".", "'.' or '..'"),
    ("..", "'.' or '..'"),
    ("", "empty"),
    ("tab\there", "control"),
    ("new\nline", "control"),
    ("nul\x00", "control"),
    ("zero\u200bwidth", "invisible"),
    (" gpu", "whitespace"),
    ("gpu ", "whitespace"),
    ("x" * (MAX_NAME_LENGTH + 1), f"{MAX_NAME_LENGTH + 1} characters"),
]
ALLOWED = ["gpu", "my tag", "...", "a.b", "%2F..%2Fruns", "a?b#c", "ünïcødé", "x" * MAX_NAME_LENGTH]


@pytest.mark.parametrize(("name", "reason"), REFUSED)
def test_names_that_cannot_be_meaningful_are_refused(name: str, reason: str) -> None:
    with pytest.raises(InvalidName, match="tag .*" + reason) as refused:
        check_name("tag", name)
    assert isinstance(refused.value, ValueError)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("name", ALLOWED)
def test_other_names_are_allowed(name: str) -> None:
    check_name("schedule name", name)
