"""What the routes share: the engine they read with, the drives of resume and restart, and
the feed of run changes."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from ..engine.api import Engine
from ..storage import RunSummary
from .drives import Drives

if TYPE_CHECKING:  # ui.live imports this module for its routes
    from .live import ChangeFeed


MAX_REMEMBERED_DRIVERS = 100_000


@dataclass(frozen=True, slots=True)
class UIContext:
    """The app's engine (for reads and quick actions), its background drives, and the
    feed that tells live streams which runs changed."""

    engine: Engine
    drives: Drives
    feed: "ChangeFeed"
    _drivers: dict[tuple[str, int], str | None] = field(default_factory=dict)

    def last_drivers(self, runs: Sequence[RunSummary]) -> dict[str, str]:
        """Who drove each run no driver holds now (its latest ``run.running``), read once per
        run and head, as finding it scans the run's events."""
        if len(self._drivers) > MAX_REMEMBERED_DRIVERS:
            self._drivers.clear()
        released = {(run.run_id, run.head_seq) for run in runs if run.owner is None}
        missing = released - self._drivers.keys()
        if missing:
            found = self.engine.storage.log.last_drivers([run_id for run_id, _ in missing])
            self._drivers.update({key: found.get(key[0]) for key in missing})
        return {run_id: driver for run_id, head in released if (driver := self._drivers.get((run_id, head)))}

    def close(self) -> None:
        """Stop the feed, wait for the drives, then close the engine."""
        self.feed.close()
        self.drives.close()
        self.engine.close()


def ui_context(request: Request) -> UIContext:
    """The ``UIContext`` of the app serving ``request``."""
    found = request.app.state.ui
    assert isinstance(found, UIContext)
    return found


Context = Annotated[UIContext, Depends(ui_context)]
