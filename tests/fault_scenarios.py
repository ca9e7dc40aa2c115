"""The fault-injection scenarios run by tests/integration/test_reliability.py, one function per fault.

Each scenario injects one fault at an edge, over its real protocol: the image server
(tests/fakes/http_server.py, flaky_http.py), the fake Responses API (openai_server.py)
and S3/STS (moto behind s3_faults.py). "pipeline" scenarios run the process-image flow,
so Prefect's retries, caching and cleanup are part of what is tested; "step" scenarios
call the step the flow's task wraps and check how the error is classified (transient
errors are what the task retries). The Rig checks after every run that nothing was
lost: a survivor is published whole, a refusal publishes nothing and leaves no temp files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import openai
import pytest
import requests
from botocore.exceptions import ClientError

from prefect_image_pipeline.errors import ImagePipelineError, explain, is_transient
from prefect_image_pipeline.image_processing_utils import (
    download_image_from_url,
    load_image_from_path,
    upload_image_to_s3,
)
from prefect_image_pipeline.process_image import process_image
from prefect_image_pipeline.steps.encode import encode_image
from prefect_image_pipeline.steps.generate import OpenAIImageGenerator
from tests.conftest import S3Env
from tests.fake_clients import NATIVE_TRANSPARENCY
from tests.fakes.flaky_http import FlakyImageServer, TrickleServer
from tests.fakes.http_server import ImageHTTPServer
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.fakes.s3_faults import S3Fault, S3FaultProxy
from tests.images import animated_gif, large_blank_png, logo, open_image

Outcome = Literal["survived", "refused"]
# Exceptions that carry a reason a person can act on; anything else (AttributeError,
# KeyError, ...) would be a crash, i.e. an image lost without a reason.
CLEAR_FAILURES = (
    ImagePipelineError,
    ValueError,
    OSError,
    requests.RequestException,
    ClientError,
    RuntimeError,
)


@dataclass
class Rig:
    """The edges of one scenario, and the bookkeeping that proves nothing was lost."""

    openai: FakeOpenAIServer
    s3: S3Env
    s3_proxy: S3FaultProxy
    http: FlakyImageServer
    work: Path
    monkeypatch: pytest.MonkeyPatch
    outcomes: list[Outcome] = field(default_factory=list)

    def serve(self, path: str = "/logo.png", body: bytes | None = None) -> str:
        """Serve an image (the logo by default) and return its URL."""
        return self.http.add(path, logo() if body is None else body)

    def untrusted(self) -> None:
        """Drop the loopback exemption: the image server counts as an internal host."""
        self.monkeypatch.delenv("IMAGE_URL_ALLOWED_HOSTS", raising=False)

    def run(self, image: str) -> None:
        """Run the flow; it must publish the whole image and clean up."""
        result = process_image(image=image, output_dir=str(self.work))
        assert self.s3.keys().count(result.key) == 1
        assert open_image(self.s3.read(result.key)).size == open_image(logo()).size
        assert _leftovers(self.work) == []
        self.outcomes.append("survived")

    def refuse(self, image: str, reason: str) -> BaseException:
        """Run the flow; it must fail naming ``reason``, publish nothing, and clean up."""
        with pytest.raises(CLEAR_FAILURES) as caught:
            process_image(image=image, output_dir=str(self.work))
        assert reason in explain(caught.value)
        assert self.s3.keys() == []
        assert _leftovers(self.work) == []
        self.outcomes.append("refused")
        return caught.value

    def refuse_step(self, step: Callable[[], object], reason: str, transient: bool) -> None:
        """Call one step; it must fail naming ``reason``, classified as ``transient`` or not."""
        with pytest.raises(CLEAR_FAILURES) as caught:
            step()
        assert reason in explain(caught.value)
        assert is_transient(caught.value) is transient
        self.outcomes.append("refused")

    def generate(self, *faults: Fault) -> Callable[[], object]:
        """The generate step against the fake, with ``faults`` queued."""
        self.openai.enqueue(*faults)
        client = openai.OpenAI(
            api_key=self.openai.api_key, base_url=self.openai.base_url, max_retries=0
        )
        return lambda: OpenAIImageGenerator(client).generate(
            encode_image(logo()), NATIVE_TRANSPARENCY
        )


def _leftovers(work: Path) -> list[str]:
    return sorted(p.name for p in work.iterdir()) if work.exists() else []


@dataclass(frozen=True)
class Scenario:
    """One row of the suite: the edge faulted, how it is run, and the outcome it must have."""

    name: str
    edge: str
    level: Literal["pipeline", "step"]
    outcome: Outcome
    run: Callable[[Rig], None]


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    edge: str, level: Literal["pipeline", "step"], outcome: Outcome
) -> Callable[[Callable[[Rig], None]], Callable[[Rig], None]]:
    def register(run: Callable[[Rig], None]) -> Callable[[Rig], None]:
        SCENARIOS[run.__name__] = Scenario(run.__name__, edge, level, outcome, run)
        return run

    return register


# -- image downloads ---------------------------------------------------------------------


@scenario("download", "pipeline", "survived")
def download_reset_then_served(rig: Rig) -> None:
    url = rig.serve()
    rig.http.fail_first("/logo.png", "reset")
    rig.run(url)
    assert rig.http.request_count("/logo.png") == 2


@scenario("download", "pipeline", "survived")
def download_503_and_429_then_served(rig: Rig) -> None:
    url = rig.serve()
    rig.http.fail_first("/logo.png", 503, 429)
    rig.run(url)
    assert rig.http.request_count("/logo.png") == 3


@scenario("download", "pipeline", "survived")
def download_cut_short_then_served(rig: Rig) -> None:
    url = rig.serve()
    rig.http.fail_first("/logo.png", "truncate")
    rig.run(url)
    assert rig.http.request_count("/logo.png") == 2


@scenario("download", "pipeline", "refused")
def download_404_is_not_retried(rig: Rig) -> None:
    url = rig.http.add("/gone.png", b"no such image", "text/plain", status=404)
    rig.refuse(url, "HTTP 404")
    assert rig.http.request_count("/gone.png") == 1
    assert rig.openai.responses_requests == []


@scenario("download", "step", "refused")
def download_stalls_before_headers(rig: Rig) -> None:
    url = rig.http.stall("/slow.png", 3, phase="headers")
    rig.refuse_step(lambda: download_image_from_url(url, timeout=0.3), "Timeout", True)


@scenario("download", "step", "refused")
def download_stalls_mid_body(rig: Rig) -> None:
    url = rig.http.stall("/slow.png", 3, body=logo(), phase="body")
    rig.refuse_step(lambda: download_image_from_url(url, timeout=0.3), "Timeout", True)


@scenario("download", "step", "refused")
def download_drips_one_byte_at_a_time(rig: Rig) -> None:
    with TrickleServer(logo(), interval=0.02) as server:
        url = server.origin + "/drip.png"
        rig.refuse_step(lambda: download_image_from_url(url, timeout=0.2), "still arriving", True)


@scenario("download", "step", "refused")
def download_endless_body(rig: Rig) -> None:
    rig.monkeypatch.setenv("IMAGE_PIPELINE_MAX_IMAGE_BYTES", "300000")
    url = rig.http.endless("/endless.png")
    rig.refuse_step(lambda: download_image_from_url(url, timeout=5), "Image too large", False)


@scenario("download", "step", "refused")
def download_declares_a_huge_body(rig: Rig) -> None:
    url = rig.http.lying_length("/huge.png", logo(), claimed_length=10**9)
    rig.refuse_step(lambda: download_image_from_url(url), "got at least 1000000000", False)


@scenario("download", "step", "refused")
def download_is_a_web_page(rig: Rig) -> None:
    url = rig.http.add("/logo.png", b"<!doctype html><title>Login</title>" * 20, "text/html")
    rig.refuse_step(lambda: download_image_from_url(url), "sent text/html", False)


@scenario("download", "step", "refused")
def download_is_empty(rig: Rig) -> None:
    url = rig.http.add("/empty.png", b"")
    rig.refuse_step(lambda: download_image_from_url(url), "Image is empty", False)


@scenario("download", "step", "refused")
def download_from_a_closed_port(rig: Rig) -> None:
    with ImageHTTPServer() as gone:
        url = gone.url("/logo.png")
    rig.refuse_step(lambda: download_image_from_url(url, timeout=2), "Could not connect", True)


@scenario("address", "pipeline", "refused")
def url_to_a_loopback_address(rig: Rig) -> None:
    rig.untrusted()
    rig.refuse(rig.serve(), "127.0.0.1 is a loopback address")
    assert rig.http.history == []
    assert rig.openai.responses_requests == []


@scenario("address", "step", "refused")
def url_with_a_decimal_ip(rig: Rig) -> None:
    rig.untrusted()
    url = rig.serve().replace("127.0.0.1", "2130706433")
    rig.refuse_step(lambda: download_image_from_url(url), "is 127.0.0.1, a loopback", False)
    assert rig.http.history == []


@scenario("address", "step", "refused")
def redirect_to_an_internal_address(rig: Rig) -> None:
    rig.monkeypatch.setenv("IMAGE_URL_ALLOWED_HOSTS", "localhost")
    start = rig.http.redirect("/r.png", rig.serve("/private.png")).replace("127.0.0.1", "localhost")
    rig.refuse_step(lambda: download_image_from_url(start), "a loopback address", False)
    assert rig.http.request_count("/private.png") == 0


@scenario("address", "step", "refused")
def redirect_loop(rig: Rig) -> None:
    rig.http.redirect("/a.png", rig.http.url("/b.png"))
    url = rig.http.redirect("/b.png", rig.http.url("/a.png"))
    rig.refuse_step(lambda: download_image_from_url(url), "Too many redirects", False)
    assert len(rig.http.history) == 6  # the first request and five redirects, no more


# -- the image itself --------------------------------------------------------------------


@scenario("image", "pipeline", "refused")
def decompression_bomb(rig: Rig) -> None:
    url = rig.serve("/bomb.png", large_blank_png(8000, 8000))
    rig.refuse(url, "too many pixels")
    assert rig.openai.responses_requests == []


@scenario("image", "step", "refused")
def animated_gif_input(rig: Rig) -> None:
    rig.refuse_step(lambda: encode_image(animated_gif(), "anim.gif"), "Animated GIF", False)


@scenario("image", "step", "refused")
def truncated_png_input(rig: Rig) -> None:
    cut = logo(size=(300, 200))[:-200]
    rig.refuse_step(lambda: encode_image(cut, "cut.png"), "Corrupt image", False)


@scenario("image", "step", "refused")
def oversize_local_file(rig: Rig) -> None:
    rig.monkeypatch.setenv("IMAGE_PIPELINE_MAX_IMAGE_BYTES", "1000")
    path = rig.work.parent / "big.png"
    path.write_bytes(logo(size=(400, 400)))
    rig.refuse_step(lambda: load_image_from_path(str(path)), "Image too large", False)


# -- OpenAI ------------------------------------------------------------------------------


@scenario("openai", "pipeline", "survived")
def openai_429_twice(rig: Rig) -> None:
    rig.openai.enqueue(Fault.rate_limit(retry_after=0.01), Fault.rate_limit(retry_after=0.01))
    rig.run(rig.serve())
    assert len(rig.openai.responses_requests) == 3


@scenario("openai", "pipeline", "survived")
def openai_500_then_503(rig: Rig) -> None:
    rig.openai.enqueue(Fault.server_error(500), Fault.server_error(503))
    rig.run(rig.serve())
    assert len(rig.openai.responses_requests) == 3


@scenario("openai", "pipeline", "survived")
def openai_connection_resets(rig: Rig) -> None:
    rig.openai.enqueue(Fault.connection_reset(), Fault.connection_reset())
    rig.run(rig.serve())
    assert len(rig.openai.responses_requests) == 3


@scenario("openai", "pipeline", "survived")
def openai_timeout(rig: Rig) -> None:
    rig.monkeypatch.setenv("IMAGE_PIPELINE_OPENAI_TIMEOUT", "0.5")
    rig.openai.enqueue(Fault.timeout(1.5))
    rig.run(rig.serve())
    assert len(rig.openai.responses_requests) == 2


@scenario("openai", "pipeline", "refused")
def openai_5xx_that_never_ends(rig: Rig) -> None:
    rig.openai.enqueue(*[Fault.server_error(502)] * 10)
    rig.refuse(rig.serve(), "OpenAI server error (502)")
    assert len(rig.openai.responses_requests) == 4  # 1 attempt + 3 task retries


@scenario("openai", "pipeline", "refused")
def openai_insufficient_quota(rig: Rig) -> None:
    rig.openai.enqueue(Fault.insufficient_quota(), Fault.insufficient_quota())
    rig.refuse(rig.serve(), "insufficient_quota")
    assert len(rig.openai.responses_requests) == 1


@scenario("openai", "pipeline", "refused")
def openai_moderation_blocked(rig: Rig) -> None:
    rig.openai.enqueue(Fault.moderation_blocked(), Fault.moderation_blocked())
    rig.refuse(rig.serve(), "moderation_blocked")
    assert len(rig.openai.responses_requests) == 1


@scenario("openai", "step", "refused")
def openai_transparent_unsupported(rig: Rig) -> None:
    step = rig.generate(Fault.transparent_unsupported())
    rig.refuse_step(step, "use --background opaque", False)


@scenario("openai", "step", "refused")
def openai_invalid_request(rig: Rig) -> None:
    fault = Fault.api_error(400, "Invalid image file.", "invalid_request_error", "invalid_image")
    rig.refuse_step(rig.generate(fault), "(400, invalid_image): Invalid image file.", False)


@scenario("openai", "step", "refused")
def openai_bad_key(rig: Rig) -> None:
    rig.refuse_step(rig.generate(Fault.unauthorized()), "check OPENAI_API_KEY", False)


@scenario("openai", "step", "refused")
def openai_forbidden(rig: Rig) -> None:
    rig.refuse_step(rig.generate(Fault.forbidden()), "OpenAI refused access (403)", False)


@scenario("openai", "step", "refused")
def openai_truncated_json(rig: Rig) -> None:
    rig.refuse_step(rig.generate(Fault.malformed()), "Malformed response from OpenAI", False)


@scenario("openai", "step", "refused")
def openai_reply_without_image(rig: Rig) -> None:
    step = rig.generate(Fault.no_image())
    rig.refuse_step(step, "No generated image returned from OpenAI", False)


@scenario("openai", "step", "refused")
def openai_failed_image_call(rig: Rig) -> None:
    step = rig.generate(Fault.failed_call())
    rig.refuse_step(step, "ended 'failed'", False)


# -- S3 and STS --------------------------------------------------------------------------


@scenario("s3", "pipeline", "survived")
def s3_slow_down_twice(rig: Rig) -> None:
    rig.s3_proxy.enqueue(S3Fault.slow_down(), S3Fault.slow_down())
    rig.run(rig.serve())
    assert rig.s3_proxy.count("PUT") == 3


@scenario("s3", "pipeline", "refused")
def s3_access_denied_then_fixed(rig: Rig) -> None:
    rig.s3_proxy.enqueue(S3Fault.access_denied())
    url = rig.serve()
    rig.refuse(url, "Error uploading image to S3 (AccessDenied)")
    assert rig.s3_proxy.count("PUT") == 1  # not retried
    rig.run(url)  # once access is granted, the paid-for image is still there
    assert len(rig.openai.responses_requests) == 1


@scenario("s3", "step", "refused")
def s3_expired_token(rig: Rig) -> None:
    rig.s3_proxy.enqueue(S3Fault.expired_token())
    rig.refuse_step(lambda: upload_image_to_s3(logo(), "a.png"), "AWS_SESSION_TOKEN", False)


@scenario("s3", "step", "refused")
def s3_no_such_bucket(rig: Rig) -> None:
    rig.monkeypatch.setenv("ARTIFACTS_BUCKET", "no-such-bucket-here")
    rig.refuse_step(lambda: upload_image_to_s3(logo(), "a.png"), "set ARTIFACTS_BUCKET", False)


@scenario("s3", "step", "refused")
def s3_internal_error(rig: Rig) -> None:
    rig.s3_proxy.enqueue(S3Fault.internal_error())
    rig.refuse_step(lambda: upload_image_to_s3(logo(), "a.png"), "InternalError", True)


@scenario("s3", "pipeline", "refused")
def sts_fails_during_bucket_detection(rig: Rig) -> None:
    rig.monkeypatch.delenv("ARTIFACTS_BUCKET")
    rig.s3_proxy.enqueue(S3Fault.sts_invalid_token())
    rig.refuse(rig.serve(), "Set ARTIFACTS_BUCKET")
