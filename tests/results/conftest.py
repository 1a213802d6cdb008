"""Object stores for the tests: a directory (file://), fsspec's memory://, and s3:// through
s3fs against moto's S3 API server on loopback, started once per session."""

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from ledgerflow.results.objects import ObjectStore

S3_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a real S3 API (moto's server) on a free loopback port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_options(endpoint: str) -> dict[str, Any]:
    """s3fs options for the test server: its endpoint and dummy credentials."""
    return {
        "key": S3_CREDENTIALS["aws_access_key_id"],
        "secret": S3_CREDENTIALS["aws_secret_access_key"],
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        "skip_instance_cache": True,
    }


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new, empty bucket on the test server."""
    name = f"results-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **S3_CREDENTIALS)
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["file", "memory", "s3"])
def object_store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """An empty object store on a local directory, in memory, or on S3 (under a prefix)."""
    if request.param == "file":
        return ObjectStore(f"file://{tmp_path}/results")
    if request.param == "memory":
        return ObjectStore(f"memory://results-{uuid.uuid4().hex[:12]}/prefix")
    bucket = request.getfixturevalue("s3_bucket")
    return ObjectStore(f"s3://{bucket}/prefix", s3_options(request.getfixturevalue("s3_endpoint")))


@dataclass(frozen=True)
class Store:
    """A store's URL and the fsspec options to open it with."""

    url: str
    options: Mapping[str, Any]

    def objects(self) -> ObjectStore:
        return ObjectStore(self.url, self.options)


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """An empty store on a local directory (file://) or on S3 (moto's server)."""
    if request.param == "file":
        return Store(f"file://{tmp_path}/results", {})
    bucket = request.getfixturevalue("s3_bucket")
    return Store(f"s3://{bucket}/prefix", s3_options(request.getfixturevalue("s3_endpoint")))
