"""Signed tree heads anchored in an S3 bucket under object lock, through the outbox, against moto's S3
server run as a subprocess on 127.0.0.1 and spoken to with boto3 (the real S3 API)."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from django.core.management import call_command

from cavra_engine.evidence.canonical import canonicalize
from core.models import OutboxMessage
from evidence.models import ChainHead
from evidence.services import checkpoint_create, checkpoint_document
from evidence.services.anchoring import s3_anchor_key
from tests.factories import EvidenceRecordFactory
from tests.support.ports import free_port

MOTO = str(Path(sys.executable).with_name("moto_server"))  # installed with moto[server]


def _start_moto() -> tuple[subprocess.Popen, str]:
    """moto's S3 server on a free port of ours; another worker may win the port, then try the next."""
    for _attempt in range(5):
        port = free_port(18660, 18699)
        server = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        for _ in range(200):
            if server.poll() is not None:
                break  # it could not bind
            try:
                client.list_buckets()
            except Exception:  # noqa: BLE001 - the server is still starting
                time.sleep(0.1)
                continue
            time.sleep(0.3)  # whoever answered, ours must still be alive (not another worker's server)
            if server.poll() is None:
                return server, endpoint
            break
        server.kill()
        server.wait(timeout=10)
    raise RuntimeError("moto_server did not start")


@pytest.fixture
def s3(settings, monkeypatch, celery_inline):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "anchor-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "anchor-test-secret")
    server, endpoint = _start_moto()
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="cavra-heads", ObjectLockEnabledForBucket=True)
    settings.EVIDENCE_S3_ANCHOR_BUCKET, settings.EVIDENCE_S3_ANCHOR_ENDPOINT = "cavra-heads", endpoint
    settings.EVIDENCE_S3_ANCHOR_REGION, settings.EVIDENCE_S3_ANCHOR_RETENTION_DAYS = "us-east-1", 30
    yield client
    server.terminate()
    server.wait(timeout=10)


def test_every_signed_head_is_written_once_under_compliance_retention(
    acme, s3, django_capture_on_commit_callbacks
):
    EvidenceRecordFactory.create_batch(4, tenant=acme, kind="decision.recorded")
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint = checkpoint_create(tenant=acme)
    label = ChainHead.objects.get(tenant=acme).tenant_label
    key = s3_anchor_key(label, checkpoint.seq)
    stored = s3.get_object(Bucket="cavra-heads", Key=key)
    assert stored["Body"].read() == canonicalize(checkpoint_document(checkpoint, label)) + b"\n"
    assert stored["ObjectLockMode"] == "COMPLIANCE"
    retain = stored["ObjectLockRetainUntilDate"]
    assert timedelta(days=29) < retain - datetime.now(UTC) <= timedelta(days=30)
    assert OutboxMessage.objects.get(kind="anchor.s3").status == "sent"
    out = io.StringIO()
    with pytest.raises(SystemExit):  # other checks (smtp, backup) fail here; the anchor line is OK
        call_command("cavra_doctor", stdout=out)
    assert "OK   s3 anchor acme: latest head written to cavra-heads" in out.getvalue()

    # The locked version cannot be deleted before its retain-until date.
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket="cavra-heads", Key=key, VersionId=stored["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_an_unreachable_bucket_is_retried_by_the_outbox(
    acme, s3, settings, django_capture_on_commit_callbacks
):
    settings.EVIDENCE_S3_ANCHOR_BUCKET = "no-such-bucket"
    EvidenceRecordFactory.create_batch(2, tenant=acme, kind="decision.recorded")
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint_create(tenant=acme)
    message = OutboxMessage.objects.get(kind="anchor.s3")
    assert message.status == "pending" and message.attempts == 1 and "NoSuchBucket" in message.last_error
