"""Checkpoints: a (seq, hash) a run's chain passed through, kept outside the database.

An auditor keeps the checkpoint of an export (``ledgerflow export`` prints it as
``SEQ:HASH``). Verifying the run later against it finds what the chain alone cannot: a
deleted tail, and a rewrite whose hashes are consistent but whose history differs.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..engine.core.errors import LedgerflowError

_HASH = re.compile(r"[0-9a-f]{64}")


class InvalidCheckpoint(LedgerflowError, ValueError):
    """A checkpoint that cannot be used: malformed, unreadable, or of another run."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Event ``seq`` of a run had hash ``hash``.

    Read from an export, it also knows every earlier seq's hash (``history``), so a
    rewrite is found at the exact seq it starts from.
    """

    seq: int
    hash: str
    run_id: str | None = None
    history: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if isinstance(self.seq, bool) or not isinstance(self.seq, int) or self.seq < 1:
            raise InvalidCheckpoint(f"checkpoint seq {self.seq!r} is not a seq (an integer >= 1)")
        if not isinstance(self.hash, str) or not _HASH.fullmatch(self.hash):
            raise InvalidCheckpoint(
                f"checkpoint hash {self.hash!r} is not a hash (64 lowercase hex digits)"
            )

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    def expected_hashes(self) -> dict[int, str]:
        """Every known seq's hash: the history and the checkpoint itself."""
        return {**self.history, self.seq: self.hash}


def parse_checkpoint(text: str, run_id: str | None = None) -> Checkpoint:
    """A checkpoint written ``SEQ:HASH`` (as ``ledgerflow export`` prints it)."""
    seq_text, colon, digest = text.strip().partition(":")
    if not colon or not seq_text.isdigit():
        raise InvalidCheckpoint(
            f"checkpoint {text!r} is not SEQ:HASH (e.g. 42:3f9a...; 64 hex digits after the colon)"
        )
    return Checkpoint(int(seq_text), digest.lower(), run_id)
