"""Which image URLs we may fetch: http(s) to public addresses only, unless the host is trusted.

Every URL (and every redirect) is resolved once here; the addresses that passed are the
only ones the download may connect to (see edges.http.safe_http), so a DNS answer cannot
change between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

import requests

from prefect_image_pipeline.errors import UnsafeURLError
from prefect_image_pipeline.settings.config import settings
from prefect_image_pipeline.urls import normalise_host, parse_http_url, redact_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses a connection may use, as strings ("93.184.216.34", "2606:...").
Resolver = Callable[[str, int], list[str]]

ALLOWED_HOSTS_VARIABLE = "IMAGE_URL_ALLOWED_HOSTS"
# Spellings inet_aton accepts besides dotted quads: 2130706433, 0177.0.0.1, 0x7f.1, 127.1.
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}", re.I)
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (RFC 6052 NAT64).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class CheckedURL:
    """A URL that passed the policy, with the addresses its connection is pinned to."""

    url: str
    scheme: str
    host: str  # lower-case, no brackets, no trailing dot
    port: int
    addresses: tuple[str, ...]


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer for ``host`` (A and AAAA), in its preferred order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def allowed_hosts() -> frozenset[str]:
    """Hosts exempt from the address check: IMAGE_URL_ALLOWED_HOSTS, comma-separated."""
    return frozenset(normalise_host(host) for host in settings().allowed_hosts)


def ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form a resolver accepts, or None for a name."""
    bare = normalise_host(host)
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be contacted ("a loopback address"), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = refusal_reason(embedded)
            if inner is not None:
                return f"{inner} (IPv4 {embedded} inside IPv6)"
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        # Shared address space (100.64/10), documentation ranges and the like.
        (not address.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def check_url(
    url: str,
    resolver: Resolver = system_resolver,
    trusted: frozenset[str] | None = None,
) -> CheckedURL:
    """Resolve ``url`` and refuse it unless it is http(s) to public addresses or a trusted host.

    Raises InvalidImageSourceError for a malformed URL or scheme, UnsafeURLError for a
    refused address, and requests.ConnectionError when the name does not resolve.
    """
    scheme, host, port = parse_http_url(url)
    shown = redact_url(url)
    is_trusted = host in (allowed_hosts() if trusted is None else trusted)
    addresses = _resolve(host, port, resolver, shown)
    if not is_trusted:
        for address in addresses:
            _refuse_if_internal(host, address, shown)
    return CheckedURL(url, scheme, host, port, tuple(str(a) for a in addresses))


def _resolve(host: str, port: int, resolver: Resolver, shown: str) -> list[IPAddress]:
    literal = ip_literal(host)
    if literal is not None:
        return [literal]
    try:
        answers = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolver(host, port)]
    except (OSError, UnicodeError) as exc:
        raise requests.ConnectionError(
            f"Could not resolve host {host} to download {shown}; check the URL and your DNS"
        ) from exc
    if not answers:
        raise requests.ConnectionError(f"Host {host} has no addresses; check the URL {shown}")
    return answers


def _refuse_if_internal(host: str, address: IPAddress, shown: str) -> None:
    reason = refusal_reason(address)
    if reason is None:
        return
    literal = ip_literal(host)
    if literal is None:
        subject = f"{host} resolves to {address}, {reason}"
    elif str(literal) == host:
        subject = f"{address} is {reason}"
    else:  # 2130706433, 0177.0.0.1, ::ffff:127.0.0.1: show what the spelling means
        subject = f"{host} is {address}, {reason}"
    raise UnsafeURLError(
        f"refused {shown}: {subject}; allow it with {ALLOWED_HOSTS_VARIABLE}={host} "
        "if the host is trusted"
    )
