"""Safe downloads: only public addresses (or trusted hosts), checked on every hop, pinned.

Address checks run without any network: IP literals never reach a resolver, and names
go through a fake resolver (DNS is the edge). Connections run against loopback servers
that the tests trust, or refuse, through IMAGE_URL_ALLOWED_HOSTS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from prefect_image_pipeline.edges.http.safe_http import MAX_REDIRECTS, open_checked
from prefect_image_pipeline.edges.http.url_policy import check_url, ip_literal
from prefect_image_pipeline.errors import InvalidImageSourceError, UnsafeURLError, is_transient
from prefect_image_pipeline.image_processing_utils import download_image_from_url
from prefect_image_pipeline.urls import redact_url
from tests.fakes.flaky_http import TLSImageServer, self_signed_certificate
from tests.fakes.http_server import ImageHTTPServer
from tests.images import logo


def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} should not need a DNS lookup")


class FakeDNS:
    """A resolver with fixed answers that counts its lookups."""

    def __init__(self, **answers: list[str]) -> None:
        self.answers = {name.replace("_", "."): addresses for name, addresses in answers.items()}
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.answers:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return self.answers[host]


@pytest.fixture
def untrusted(monkeypatch: pytest.MonkeyPatch) -> None:
    """No host is exempt: loopback servers are refused like any internal address."""
    monkeypatch.delenv("IMAGE_URL_ALLOWED_HOSTS", raising=False)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/x.png", "127.0.0.1 is a loopback address"),
        ("http://2130706433/x.png", "2130706433 is 127.0.0.1, a loopback address"),
        ("http://0177.0.0.1/x.png", "0177.0.0.1 is 127.0.0.1, a loopback address"),
        ("http://0x7f.1/x.png", "0x7f.1 is 127.0.0.1, a loopback address"),
        ("http://127.1/x.png", "127.1 is 127.0.0.1, a loopback address"),
        ("http://[::1]/x.png", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/x.png", "a loopback address (IPv4 127.0.0.1 inside IPv6)"),
        ("http://[::ffff:a9fe:a9fe]/x.png", "a link-local address (IPv4 169.254.169.254"),
        ("http://[2002:7f00:1::]/x.png", "a loopback address (IPv4 127.0.0.1 inside IPv6)"),
        ("http://[64:ff9b::a00:1]/x.png", "a private address (IPv4 10.0.0.1 inside IPv6)"),
        ("http://10.1.2.3/x.png", "10.1.2.3 is a private address"),
        ("http://172.16.0.1/x.png", "172.16.0.1 is a private address"),
        ("http://192.168.1.1/x.png", "192.168.1.1 is a private address"),
        ("http://[fc00::1]/x.png", "fc00::1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[fe80::1]/x.png", "fe80::1 is a link-local address"),
        ("http://224.0.0.1/x.png", "224.0.0.1 is a multicast address"),
        ("http://[ff02::1]/x.png", "ff02::1 is a multicast address"),
        ("http://240.0.0.1/x.png", "240.0.0.1 is a reserved address"),
        ("http://0.0.0.0/x.png", "0.0.0.0 is an unspecified address"),
        ("http://[::]/x.png", ":: is an unspecified address"),
        ("http://100.64.0.1/x.png", "100.64.0.1 is not a public address"),
        ("https://127.0.0.1:8443/x.png", "127.0.0.1 is a loopback address"),
    ],
)
def test_internal_addresses_are_refused_in_every_spelling(
    untrusted: None, url: str, reason: str
) -> None:
    with pytest.raises(UnsafeURLError) as caught:
        check_url(url, resolver=no_dns)
    message = str(caught.value)
    assert message.startswith(f"refused {url}: ")
    assert reason in message
    assert "allow it with IMAGE_URL_ALLOWED_HOSTS=" in message
    assert isinstance(caught.value, ValueError)  # the documented type for refusals
    assert not is_transient(caught.value)


def test_a_name_is_refused_when_any_of_its_addresses_is_internal(untrusted: None) -> None:
    dns = FakeDNS(files_corp_example=["10.0.0.5"], mixed_example=["93.184.216.34", "127.0.0.1"])
    with pytest.raises(
        UnsafeURLError, match=r"files\.corp\.example resolves to 10\.0\.0\.5, a private"
    ):
        check_url("http://files.corp.example/logo.png", resolver=dns)
    with pytest.raises(UnsafeURLError, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        check_url("https://mixed.example/logo.png", resolver=dns)
    assert "IMAGE_URL_ALLOWED_HOSTS=files.corp.example" in _refusal(
        "http://files.corp.example/logo.png", dns
    )


def _refusal(url: str, dns: FakeDNS) -> str:
    with pytest.raises(UnsafeURLError) as caught:
        check_url(url, resolver=dns)
    return str(caught.value)


def test_public_addresses_pass_and_are_pinned_for_the_connection(untrusted: None) -> None:
    dns = FakeDNS(cdn_example=["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
    checked = check_url("https://cdn.example/a/logo.png", resolver=dns)
    assert checked.addresses == ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    assert (checked.host, checked.port, checked.scheme) == ("cdn.example", 443, "https")
    assert check_url("http://93.184.216.34:8080/x.png", resolver=no_dns).port == 8080


def test_allowed_hosts_are_exempt_by_name_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMAGE_URL_ALLOWED_HOSTS", " Intranet.Example. , 10.0.0.5 ")
    dns = FakeDNS(intranet_example=["10.0.0.9"], other_example=["10.0.0.9"])
    assert check_url("http://INTRANET.example/a.png", resolver=dns).addresses == ("10.0.0.9",)
    assert check_url("http://10.0.0.5/a.png", resolver=no_dns).addresses == ("10.0.0.5",)
    with pytest.raises(UnsafeURLError):
        check_url("http://other.example/a.png", resolver=dns)
    with pytest.raises(UnsafeURLError):  # the same address spelt differently is another host
        check_url("http://167772165/a.png", resolver=no_dns)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/a.png", "Unsupported URL scheme 'ftp'"),
        ("file:///etc/passwd", "Unsupported URL scheme 'file'"),
        ("gopher://127.0.0.1:70/x", "Unsupported URL scheme 'gopher'"),
        ("http:///a.png", "has no host"),
        ("http://example.com:99999/a.png", "bad port"),
    ],
)
def test_unusable_urls_are_refused_before_any_lookup(url: str, message: str) -> None:
    with pytest.raises(InvalidImageSourceError, match=message):
        check_url(url, resolver=no_dns)


def test_a_name_that_does_not_resolve_is_a_transient_connection_error() -> None:
    with pytest.raises(
        requests.ConnectionError, match=r"Could not resolve host nowhere\.example"
    ) as caught:
        check_url("http://nowhere.example/a.png", resolver=FakeDNS())
    assert is_transient(caught.value)


def test_numeric_spellings_are_read_like_a_resolver_reads_them() -> None:
    assert str(ip_literal("2130706433")) == "127.0.0.1"
    assert str(ip_literal("0x7f000001")) == "127.0.0.1"
    assert str(ip_literal("017700000001")) == "127.0.0.1"
    assert str(ip_literal("[::ffff:7f00:1]")) == "::ffff:7f00:1"
    assert ip_literal("cafe.example") is None
    assert ip_literal("1.2.3.4.5") is None


def test_messages_never_echo_passwords_or_signatures() -> None:
    url = (
        "https://user:hunter2@cdn.example/a.png?X-Amz-Signature=abc123&X-Amz-Security-Token=tok&w=5"
    )
    shown = redact_url(url)
    assert "hunter2" not in shown and "abc123" not in shown and "tok&" not in shown
    assert shown.startswith("https://user:***@cdn.example/a.png?")
    assert "w=5" in shown


# -- over real connections (loopback) ---------------------------------------------------


def test_download_from_loopback_is_refused_before_any_request(
    untrusted: None, http_server: ImageHTTPServer
) -> None:
    url = http_server.add("/logo.png", logo())
    decimal = url.replace("127.0.0.1", "2130706433")
    for refused in (url, decimal, url.replace("127.0.0.1", "localhost")):
        with pytest.raises(UnsafeURLError, match="a loopback address"):
            download_image_from_url(refused)
    assert http_server.history == []


def test_every_redirect_is_checked(
    monkeypatch: pytest.MonkeyPatch, http_server: ImageHTTPServer
) -> None:
    monkeypatch.setenv("IMAGE_URL_ALLOWED_HOSTS", "localhost")
    target = http_server.add("/secret.png", logo())  # http://127.0.0.1:PORT: not allowed
    start = http_server.redirect("/hop.png", target).replace("127.0.0.1", "localhost")
    with pytest.raises(UnsafeURLError, match=r"refused http://127\.0\.0\.1:\d+/secret\.png"):
        download_image_from_url(start)
    assert http_server.request_count("/hop.png") == 1
    assert http_server.request_count("/secret.png") == 0


def test_redirects_to_other_schemes_are_refused(http_server: ImageHTTPServer) -> None:
    url = http_server.redirect("/to-file.png", "file:///etc/passwd")
    with pytest.raises(InvalidImageSourceError, match="Unsupported URL scheme 'file'"):
        download_image_from_url(url)


def test_relative_redirects_are_followed(http_server: ImageHTTPServer) -> None:
    http_server.add("/images/real.png", logo())
    url = http_server.redirect("/images/moved.png", "real.png")
    assert download_image_from_url(url) == logo()


@pytest.mark.parametrize(("hops", "allowed"), [(MAX_REDIRECTS, True), (MAX_REDIRECTS + 1, False)])
def test_at_most_five_redirects_are_followed(
    http_server: ImageHTTPServer, hops: int, allowed: bool
) -> None:
    final = http_server.add("/final.png", logo())
    for hop in reversed(range(hops)):
        final = http_server.redirect(f"/r{hop}.png", final)
    if allowed:
        assert download_image_from_url(final) == logo()
        return
    with pytest.raises(InvalidImageSourceError, match="Too many redirects") as caught:
        download_image_from_url(final)
    assert not is_transient(caught.value)
    assert http_server.request_count("/final.png") == 0


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(
    monkeypatch: pytest.MonkeyPatch, http_server: ImageHTTPServer
) -> None:
    # The OS cannot resolve images.test: the download works only because the connection
    # uses the address the check resolved, once, and the server still sees the name.
    monkeypatch.setenv("IMAGE_URL_ALLOWED_HOSTS", "images.test")
    dns = FakeDNS(images_test=["127.0.0.1"])
    http_server.add("/logo.png", logo())
    url = f"http://images.test:{http_server.port}/logo.png"
    with open_checked(url, timeout=5, resolver=dns) as response:
        assert response.content == logo()
    assert dns.lookups == ["images.test"]
    assert http_server.history[0].headers["host"] == f"images.test:{http_server.port}"


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TLSImageServer]:
    cert, key = self_signed_certificate(tmp_path, "images.test")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    monkeypatch.setenv("IMAGE_URL_ALLOWED_HOSTS", "images.test,wrong.test")
    with TLSImageServer(cert, key) as server:
        yield server


def test_https_keeps_sni_and_certificate_checks_for_the_name(tls_server: TLSImageServer) -> None:
    tls_server.add("/logo.png", logo())
    dns = FakeDNS(images_test=["127.0.0.1"], wrong_test=["127.0.0.1"])
    with open_checked(tls_server.https_url("images.test", "/logo.png"), 5, dns) as response:
        assert response.content == logo()
    # Same address, a name the certificate does not cover: verification must fail.
    wrong = tls_server.https_url("wrong.test", "/logo.png")
    with (
        pytest.raises(requests.exceptions.SSLError, match="REQUESTS_CA_BUNDLE") as caught,
        open_checked(wrong, 5, dns),
    ):
        pass
    assert not is_transient(caught.value)
    assert tls_server.request_count("/logo.png") == 1


def test_a_url_requests_cannot_send_is_invalid_not_transient(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMAGE_URL_ALLOWED_HOSTS", "exa mple.test")
    dns = FakeDNS(**{"exa mple.test": ["127.0.0.1"]})
    with (
        pytest.raises(InvalidImageSourceError, match="Invalid image URL") as caught,
        open_checked("http://exa mple.test/x.png", 2, dns),
    ):
        pass
    assert not is_transient(caught.value)
