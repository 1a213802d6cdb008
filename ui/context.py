"""What the routes share: the engine they read with and the drives of resume and restart."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ..engine.api import Engine
from .drives import Drives


@dataclass(frozen=True, slots=True)
class UIContext:
    """The app's engine (for reads and quick actions) and its background drives."""

    engine: Engine
    drives: Drives

    def close(self) -> None:
        """Wait for the drives, then close the engine."""
        self.drives.close()
        self.engine.close()


def ui_context(request: Request) -> UIContext:
    """The ``UIContext`` of the app serving ``request``."""
    found = request.app.state.ui
    assert isinstance(found, UIContext)
    return found


Context = Annotated[UIContext, Depends(ui_context)]
