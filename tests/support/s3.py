"""An S3WormStore against in-process moto, made to refuse what real S3 refuses."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Fake credentials before boto3 looks for any: tests must never reach a real account.
for _name, _value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                      "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing",
                      "AWS_DEFAULT_REGION": "us-east-1"}.items():
    os.environ[_name] = _value

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from botocore.utils import parse_to_aware_datetime  # noqa: E402
from moto import mock_aws  # noqa: E402

from archive.worm.s3 import S3WormStore, init_bucket  # noqa: E402

REGION = "us-east-1"
BUCKET = "custody-test"


def access_denied(operation: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": "AccessDenied", "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": 403}}, operation)


def refuse_shortening_like_s3(client: Any) -> None:
    """Real S3 refuses to shorten or weaken a COMPLIANCE retention; moto accepts it. The
    hook sees the call's own parameters (before-parameter-build), reads the current lock and
    raises the AccessDenied S3 would answer."""
    def check(params: dict, **_: Any) -> None:
        head = client.head_object(Bucket=params["Bucket"], Key=params["Key"],
                                  **({"VersionId": params["VersionId"]}
                                     if params.get("VersionId") else {}))
        if head.get("ObjectLockMode") != "COMPLIANCE":
            return
        wanted = params.get("Retention", {})
        until = wanted.get("RetainUntilDate")
        if (wanted.get("Mode") != "COMPLIANCE" or until is None
                or parse_to_aware_datetime(until) < head["ObjectLockRetainUntilDate"]):
            raise access_denied("PutObjectRetention",
                                "Access Denied because object protected by object lock.")

    client.meta.events.register("before-parameter-build.s3.PutObjectRetention", check)


@contextlib.contextmanager
def s3_client() -> Iterator[Any]:
    """A client for a fresh in-process moto S3, refusing shortened retention as S3 does."""
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        refuse_shortening_like_s3(client)
        yield client


@contextlib.contextmanager
def s3_store(tmp_path: Path, **options: Any) -> Iterator[S3WormStore]:
    """A fresh, empty S3WormStore on moto (``tmp_path`` unused: the bytes live in moto)."""
    with s3_client() as client:
        init_bucket(client, BUCKET)
        yield S3WormStore(client, BUCKET, **options)
