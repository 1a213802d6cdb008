"""Replay: reading the log back (point-in-time state, verification, diff, lineage)."""

from .archive import ArchiveCheck, file_sha256, verify_archived
from .checkpoint import Checkpoint, InvalidCheckpoint, parse_checkpoint
from .diff import Change, ChangeKind, RunDiff, TaskRow, diff_runs
from .errors import ExportWriteFailed
from .export import ExportSummary, export_run
from .lineage import Lineage, LineageNode, lineage
from .offline import ExportReport, SignatureStatus, checkpoint_of_export, verify_export
from .records import TaskRecord
from .result_check import ResultProblem, ResultsReport, check_results
from .result_hash import result_hash
from .verify import VerifyReport, verify_all, verify_events, verify_run, with_results

__all__ = [
    "ArchiveCheck",
    "Change",
    "ChangeKind",
    "Checkpoint",
    "ExportReport",
    "ExportSummary",
    "ExportWriteFailed",
    "InvalidCheckpoint",
    "Lineage",
    "LineageNode",
    "ResultProblem",
    "ResultsReport",
    "RunDiff",
    "SignatureStatus",
    "TaskRecord",
    "TaskRow",
    "VerifyReport",
    "check_results",
    "checkpoint_of_export",
    "diff_runs",
    "export_run",
    "file_sha256",
    "lineage",
    "parse_checkpoint",
    "result_hash",
    "verify_all",
    "verify_archived",
    "verify_events",
    "verify_export",
    "verify_run",
    "with_results",
]
