"""A task's value from the result payload its event recorded: inline, or from the store."""

from collections.abc import Callable, Mapping
from typing import Any

from ..results.refs import ResultRef
from ..storage.errors import ResultNotLoadable
from ..storage.protocols import ResultStore
from ..storage.result_reads import StoreOpener, read_checked
from .flow_ref import FlowNotFound, load_flow


def load_result(
    payload: Mapping[str, Any] | None, results: ResultStore, open_store: StoreOpener | None = None
) -> Any:
    """A task's value from its result payload: inline, or loaded from where its reference
    says, its size and sha256 checked (``ResultCorrupted``), then a pickle's signature
    (``ResultRefused``), then decompressed and decoded."""
    if payload is None:
        return None
    if "inline" in payload:
        return payload["inline"]
    ref = ResultRef.from_payload(payload)
    stored = read_checked(ref, results, open_store)
    if ref.is_in_database:
        return results.decode(ref.key, ref.format, stored, ref.compression)
    return results.decode_referenced(ref, stored.data, payload.get("signature"))


def run_result_loader(
    flow_ref: str | None, results: ResultStore, open_store: StoreOpener | None
) -> Callable[[Mapping[str, Any] | None], Any]:
    """Loads the results of one run; a pickle naming the flow's module (``flow_ref``) imports
    it first, so its classes unpickle."""

    def load(payload: Mapping[str, Any] | None) -> Any:
        try:
            return load_result(payload, results, open_store)
        except ResultNotLoadable as exc:
            if flow_ref is None or exc.remedy is not None:  # importing the flow cannot help
                raise
            try:
                load_flow(flow_ref)
            except FlowNotFound:
                raise ResultNotLoadable(
                    str((payload or {}).get("ref")), f"flow {flow_ref!r} is not importable"
                ) from None
            return load_result(payload, results, open_store)

    return load
