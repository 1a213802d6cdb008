"""Reading a stored result's bytes where its reference says they are, checked against it.

A reference names the database's result table or an object store by URL; bytes that are
gone, or differ in size or sha256 from what the event recorded, raise ``ResultCorrupted``.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..results.errors import ObjectNotFound
from ..results.integrity import check_bytes, missing
from ..results.refs import ResultRef
from .errors import ResultNotFound
from .protocols import ResultStore, StoredBytes

if TYPE_CHECKING:
    from ..results.objects import ObjectStore

StoreOpener = Callable[[str], "ObjectStore"]
"""The object store of a URL as a reference records it (the opener supplies its options)."""


def _open_plain(url: str) -> "ObjectStore":
    from ..results.objects import ObjectStore  # fsspec is imported only when a store is used

    return ObjectStore(url)


def read_stored(ref: ResultRef, results: ResultStore, open_store: StoreOpener | None = None) -> StoredBytes:
    """The bytes ``ref`` names, as stored (unchecked); a missing one raises ``ResultCorrupted``.

    ``open_store`` opens an object store by URL (default: with no options, so fsspec finds
    credentials as it does by itself)."""
    try:
        if ref.is_in_database:
            return results.read(ref.key)
        fetched = (open_store or _open_plain)(ref.store).read(ref.key)
        return StoredBytes(fetched.data, None, fetched.sha256)
    except (ResultNotFound, ObjectNotFound):
        raise missing(ref) from None


def read_checked(ref: ResultRef, results: ResultStore, open_store: StoreOpener | None = None) -> StoredBytes:
    """The bytes ``ref`` names, once their size and sha256 match it (``ResultCorrupted``)."""
    stored = read_stored(ref, results, open_store)
    check_bytes(ref, stored.data, stored.sha256)
    return stored
