"""What the routes share: the engine they read with, the drives of resume and restart, and
the feed of run changes."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from ..engine.api import Engine
from .drives import Drives

if TYPE_CHECKING:  # ui.live imports this module for its routes
    from .live import ChangeFeed


@dataclass(frozen=True, slots=True)
class UIContext:
    """The app's engine (for reads and quick actions), its background drives, and the
    feed that tells live streams which runs changed."""

    engine: Engine
    drives: Drives
    feed: "ChangeFeed"

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
