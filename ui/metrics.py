"""``GET /metrics``: Prometheus metrics of the database the app reads (runs in progress and
waiting, slots of limited tags, workers' heartbeats; see ``engine.store_collector``) and of the
server's process, behind the app's token like every other route."""

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ..engine.metrics import metrics_registry
from ..storage import Storage

router = APIRouter(include_in_schema=False)


def install_metrics(app: FastAPI, storage: Storage) -> None:
    """Serve ``/metrics`` of ``storage`` from ``app``."""
    app.state.metrics = metrics_registry(storage)
    app.include_router(router)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """The metrics in Prometheus' text format, read now (a sync route: reading the figures
    queries the database, off the event loop)."""
    registry = request.app.state.metrics
    assert isinstance(registry, CollectorRegistry)
    body = generate_latest(registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
