"""Fixtures of the web API tests: a flows file, an engine on the parametrized database,
and ASGI test clients of the app (with or without a token)."""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from textwrap import dedent

import pytest
from fastapi.testclient import TestClient

import ledgerflow as lf
from ledgerflow.engine.flow import Flow
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.ui import create_app

FLOWS = dedent(
    '''
    import time
    from pathlib import Path

    import ledgerflow as lf

    HERE = Path(__file__).parent


    @lf.task
    def numbers(n: int) -> list[int]:
        return list(range(n))


    @lf.task
    def double(x: int) -> int:
        return 2 * x


    @lf.task
    def total(values: list[int]) -> int:
        print(f"adding {len(values)} values")
        return sum(values)


    @lf.task
    def fragile(x: int) -> int:
        if (HERE / "break").exists():
            raise RuntimeError(f"broken at {x}")
        return x


    @lf.task
    def guarded(x: int) -> int:
        print(f"checking input {x}")
        if (HERE / "break").exists():
            raise RuntimeError(f"broken at {x}")
        while (HERE / "hold").exists():  # held running until the test removes the file
            time.sleep(0.02)
        return x


    @lf.flow
    def fanout(n: int = 3):
        return total(double.map(numbers(n)))


    @lf.flow
    def chain(x: int = 1):
        return double(fragile(x))


    @lf.flow
    def held(x: int = 1):
        return double(guarded(x))
    '''
)

MakeClient = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """LEDGERFLOW_HOME in tmp_path, and no database URL or UI token from the environment."""
    home = tmp_path / "home"
    monkeypatch.setenv("LEDGERFLOW_HOME", str(home))
    monkeypatch.delenv("LEDGERFLOW_DATABASE_URL", raising=False)
    monkeypatch.delenv("LEDGERFLOW_UI_TOKEN", raising=False)
    return home


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    """A folder with ``ui_flows.py``: ``fanout`` (a dynamic map) and ``chain`` (whose
    ``fragile`` task fails while a file ``break`` exists beside it) and ``held`` (whose
    ``guarded`` task fails likewise, and keeps running while a file ``hold`` exists)."""
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "ui_flows.py").write_text(FLOWS)
    return folder


@pytest.fixture
def flow(flows_dir: Path) -> Callable[[str], Flow[..., object]]:
    """Load a flow of ``ui_flows.py`` by name."""
    return lambda name: load_flow(f"{flows_dir / 'ui_flows.py'}:{name}")


@pytest.fixture
def engine(database_url: str, isolated: Path) -> Iterator[lf.Engine]:
    """An engine on the parametrized database, sharing the app's home (keys)."""
    with lf.Engine(database_url, home=isolated) as opened:
        yield opened


@pytest.fixture
def make_client(database_url: str, isolated: Path) -> MakeClient:
    """``with make_client(token=None) as client:`` an ASGI test client of the app; leaving
    the block waits for the runs the app drives."""

    @contextmanager
    def make(token: str | None = None) -> Iterator[TestClient]:
        app = create_app(lambda: lf.Engine(database_url, home=isolated), token=token)
        with TestClient(app) as client:
            yield client

    return make


@pytest.fixture
def client(make_client: MakeClient) -> Iterator[TestClient]:
    """A client of the app without a token."""
    with make_client() as opened:
        yield opened


def csrf_headers(client: TestClient, **headers: str) -> dict[str, str]:
    """``headers`` plus the CSRF token ``GET /api/csrf`` gives this client."""
    answer = client.get("/api/csrf", headers=headers)
    assert answer.status_code == 200, answer.text
    return {**headers, "X-CSRF-Token": answer.json()["csrf_token"]}
