"""Object stores for the tests: a directory (file://), fsspec's memory://, and s3:// through
s3fs against moto's S3 API server on loopback, started once per session."""

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from moto.server import ThreadedMotoServer

import ledgerflow as lf
from ledgerflow.results.objects import ObjectStore
from ledgerflow.storage import StoredResult, schema

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


@dataclass(frozen=True)
class Placement:
    """Where an engine keeps results: an object store (``store``), or the database (None)."""

    store: Store | None

    @property
    def name(self) -> str:
        """The store as the log names it: its URL, or ``"database"``."""
        return "database" if self.store is None else self.store.url

    def engine(self, database_url: str, home: Path, **settings: Any) -> lf.Engine:
        """An engine on ``database_url`` whose results above 64 bytes of JSON are stored here."""
        if self.store is None:
            return lf.Engine(database_url, home=home, inline_limit=64, **settings)
        return lf.Engine(
            database_url, home=home, result_storage=self.store.url,
            result_storage_options=self.store.options, inline_limit=64, **settings,
        )  # fmt: skip

    def keys(self, engine: lf.Engine) -> set[str]:
        """The keys of every result stored here (rows of the results table for the database)."""
        if self.store is None:
            with engine.storage.sql_engine("listing results").connect() as connection:
                return set(connection.execute(sa.select(schema.results.c.ref)).scalars())
        return set(self.store.objects().keys())

    def get(self, engine: lf.Engine, key: str) -> bytes:
        """The bytes stored under ``key``."""
        if self.store is None:
            return bytes(engine.storage.results.read(key).data)
        return bytes(self.store.objects().read(key).data)

    def put(self, engine: lf.Engine, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` as a writer would, with no event referring to it."""
        if self.store is None:
            run_id, _, rest = key.partition("/")
            task_key = rest.rpartition("/")[0]
            engine.storage.results.put_many([StoredResult(key, run_id, task_key, "json", data)])
        else:
            self.store.objects().put(key, data)


@pytest.fixture(params=["file", "s3", "database"])
def placement(request: pytest.FixtureRequest, tmp_path: Path) -> Placement:
    """Results in a file:// store, an s3:// store (moto's server), or the database."""
    if request.param == "database":
        return Placement(None)
    if request.param == "file":
        return Placement(Store(f"file://{tmp_path}/results", {}))
    bucket = request.getfixturevalue("s3_bucket")
    return Placement(Store(f"s3://{bucket}/prefix", s3_options(request.getfixturevalue("s3_endpoint"))))
