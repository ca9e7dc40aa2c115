"""The platform's ways in, end to end: a real `prefect server start`, a process worker, the
on-upload deployment's trigger, the watcher over moto's S3 notifications to SQS, and the
failure automation calling a loopback webhook. The commands are docs/platform.md's.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.client.schemas.objects import FlowRun

from tests.conftest import S3Env
from tests.e2e.test_deployments import CREATE_POOL, REGISTER, SAVE_BLOCKS, WORKER, argv, succeeded
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.images import logo
from tests.paths import REPO
from tests.prefect_server import PYTHON, PrefectStack
from tests.sqs import new_queue, notify_queue

pytestmark = pytest.mark.slow  # a server, a worker and their runs: full lane only

PLATFORM_DOC = REPO / "docs" / "platform.md"
# The commands of docs/platform.md this test runs (after `uv run`), with its placeholders.
DEPLOY_ON_UPLOAD = "prefect --no-prompt deploy --name on-upload --name watch-uploads"
WATCH_ON_POOL = (
    "prefect deployment run 'watch-sources/watch-uploads' -p prefix=s3://my-bucket/pool/ "
    "-p poll_seconds=10"
)
AUTOMATION = (
    "python -m deployments.automations --webhook-url https://platform.example.com/hooks/failed"
)
WATCH = "process-image --watch s3://my-bucket/uploads/ --queue-url QUEUE_URL"
EMIT_CODE = 'resource={"prefect.resource.id": "s3://my-bucket/uploads/logo.png"}'


def _until(done: Callable[[], bool], what: str, stack: PrefectStack, timeout: float = 120) -> None:
    """Poll ``done`` until true; fail naming ``what``, with the processes' output."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{stack.logs()}")
        time.sleep(0.25)


def _emit_code() -> str:
    """The Python a platform runs to hand over a new source, as docs/platform.md shows it."""
    text = PLATFORM_DOC.read_text(encoding="utf-8")
    blocks: list[str] = re.findall(r"```python\n(.*?)```", text, re.S)
    (block,) = [b for b in blocks if "emit_event" in b]
    return block


def test_events_uploads_and_failures_drive_the_pipeline_on_a_real_server_and_worker(
    s3: S3Env, openai_fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    bucket = s3.bucket
    queue_url, queue_arn = new_queue(s3)
    notify_queue(s3, "uploads/", queue_arn)

    def put(key: str, body: bytes) -> None:
        s3.client.put_object(Bucket=bucket, Key=key, Body=body)  # type: ignore[attr-defined]

    def published(stem: str) -> bool:
        return any(k.endswith(f"_generated_{stem}.png") for k in s3.keys("generated-images/"))

    with PrefectStack(root=tmp_path / "platform", cwd=REPO) as stack, WebhookReceiver() as hook:
        stack.start_server()
        pool = stack.start("work-pool-create", *argv(CREATE_POOL))
        register = stack.start("block-register", *argv(REGISTER))
        succeeded(pool.finish(180))
        deploy = stack.start("deploy", *argv(DEPLOY_ON_UPLOAD))
        worker_env = stack.worker_env(tmp_path / "results")
        worker = stack.start("worker", *argv(WORKER), env=worker_env)
        succeeded(register.finish(180))
        succeeded(stack.start("python-m-blocks", *argv(SAVE_BLOCKS)).finish(180))
        automation = AUTOMATION.replace("https://platform.example.com/hooks/failed", hook.url())
        succeeded(stack.start("automation", *argv(automation, "--allow-private-url")).finish(120))
        deployed = succeeded(deploy.finish(240))
        assert "Deployment 'process-image/on-upload' successfully created" in deployed.output
        assert "Deployment 'watch-sources/watch-uploads' successfully created" in deployed.output

        # 0. The watcher on the pool, listing a prefix (as for a store without notifications).
        on_pool = WATCH_ON_POOL.replace("my-bucket", bucket).replace("=10", "=1")
        succeeded(stack.start("watch-on-pool", *argv(on_pool, "-p", "max_minutes=3")).finish(60))
        pool_watching = f"Watching s3://{bucket}/pool/ by listing it"
        _until(lambda: pool_watching in worker.output(), "the pool's watcher", stack, 120)
        put("pool/fourth.png", logo(seed=4))

        # 1. The platform emits the event itself (docs/platform.md's Python, as written).
        put("direct/first.png", logo(seed=1))  # outside the watched prefix: no notification
        code = _emit_code().replace(
            "s3://my-bucket/uploads/logo.png", f"s3://{bucket}/direct/first.png"
        )
        succeeded(stack.start("platform-emits", PYTHON, "-c", code).finish(60))
        _until(lambda: published("first"), "the emitted source to be published", stack)

        # 2. New uploads through S3 notifications -> SQS -> the watcher -> events.
        watch = WATCH.replace("my-bucket", bucket).replace("QUEUE_URL", queue_url)
        watcher = stack.start("watcher", *argv(watch, "--poll-seconds", "1"))
        _until(lambda: "Watching" in watcher.output(), "the watcher to start", stack, 60)
        put("uploads/second.png", logo(seed=2))
        put("uploads/second.png", logo(seed=2))  # the same bytes again: a second notification
        put("uploads/broken.png", b"not an image at all")  # fails: the automation calls out
        put("uploads/third.png", logo(seed=3))
        done = ("second", "third", "fourth")
        _until(lambda: all(published(stem) for stem in done), "the uploads", stack)
        (called,) = hook.wait_for(1, timeout=120)
        _until(lambda: watcher.output().count("second.png") >= 2, "both notices", stack, 60)

        with stack.client() as client:
            on_upload = DeploymentFilter(name=DeploymentFilterName(any_=["on-upload"]))

            def runs() -> list[FlowRun]:
                return client.read_flow_runs(deployment_filter=on_upload)

            _until(lambda: all(r.state and r.state.is_final() for r in runs()), "runs", stack)
            images = sorted(str(r.parameters["image"]) for r in runs())
            states = {str(r.parameters["image"]): r.state_name for r in runs()}

    # Each source ran once, from its event: the repeated notification was the same event.
    uri = f"s3://{bucket}/uploads"
    assert images == [
        f"s3://{bucket}/direct/first.png",
        f"s3://{bucket}/pool/fourth.png",
        f"{uri}/broken.png",
        f"{uri}/second.png",
        f"{uri}/third.png",
    ]
    assert states[f"{uri}/broken.png"] == "Failed"
    assert len(openai_fake.responses_requests) == 4  # paid once per image, never for the repeat
    assert called.json()["input"] == f"{uri}/broken.png" and called.json()["error"]
    assert watcher.output().count(f"New source {uri}/second.png") == 2
    for command in (DEPLOY_ON_UPLOAD, AUTOMATION, WATCH, EMIT_CODE, WATCH_ON_POOL):
        assert command in PLATFORM_DOC.read_text(encoding="utf-8"), command
    assert shlex.split(WATCH)[0] == "process-image"
