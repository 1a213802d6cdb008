"""After a login the browser goes back only to a path on this server: never to another
site, whatever the ``next`` parameter of the login page says."""

import re

import pytest

from ledgerflow.ui.auth import local_path

from .conftest import MakeClient

TOKEN = "s3cret-token"
HOSTILE = [
    "/\\evil.com",
    "//evil.com",
    "///evil.com",
    "/\\/evil.com",
    "\\\\evil.com",
    "https://evil.com",
    "http:evil.com",
    "HTTPS://evil.com/runs",
    "javascript:alert(1)",
    " javascript:alert(1)",
    "/%5Cevil.com",
    "/%5cevil.com",
    "/%2F/evil.com",
    "%2F%2Fevil.com",
    "/\t/evil.com",
    "/%09/evil.com",
    "/\n/evil.com",
    "/%0A/evil.com",
    "/\x00/evil.com",
    "/\u2028/evil.com",
    "/\u200b/evil.com",
    "runs",
    "",
]


@pytest.mark.parametrize("target", HOSTILE)
def test_a_next_that_could_leave_the_server_is_replaced_by_the_home_page(target: str) -> None:
    assert local_path(target) == "/"


@pytest.mark.parametrize("target", ["/runs", "/runs?flow=my%20flow&state=FAILED", "/run/20260101-abc#tasks"])
def test_a_path_on_this_server_is_kept(target: str) -> None:
    assert local_path(target) == target


def _login_target(page: str) -> str:
    found = re.search(r'data-next="([^"]*)"', page)
    assert found is not None, page
    return found.group(1)


def test_the_login_page_sends_the_browser_only_to_a_local_path(make_client: MakeClient) -> None:
    with make_client(token=TOKEN) as client:
        for query in ("next=/%5Cevil.com", "next=//evil.com", "next=https://evil.com",
                      "next=/%09/evil.com", "next=javascript:alert(1)", "next=/%255Cevil.com"):  # fmt: skip
            assert _login_target(client.get(f"/login?{query}").text) == "/", query
        assert _login_target(client.get("/login?next=/runs%3Fflow%3Dx").text) == "/runs?flow=x"
        assert _login_target(client.get("/login").text) == "/runs"
        sent = client.get("/runs?flow=x", headers={"Accept": "text/html"}, follow_redirects=False)
        assert sent.status_code == 303
        assert _login_target(client.get(sent.headers["location"]).text) == "/runs?flow=x"
