"""Which network address a request comes from, and whom to believe about it.

A client can put anything in ``X-Forwarded-For``, so the header is honoured only when the app is
told how many reverse proxies of our own stand in front of it (``DA_TRUSTED_PROXY_HOPS``): then
werkzeug's ``ProxyFix`` takes the address that the nearest trusted proxy saw and puts it in
``request.remote_addr``. Everything that needs an address (rate limits, the per-address quality
flag) reads it here, so there is one rule for all of them.

An IPv6 client usually holds a whole /64 (its provider hands out prefixes, not addresses), so
limits and flags that count "one address" count its /64 (`address_class`): otherwise one home
connection could rotate through 2^64 addresses and never be counted twice.
"""

from __future__ import annotations

import ipaddress

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix


def install_proxy_fix(app: Flask) -> None:
    """Trust ``X-Forwarded-For``/``-Proto`` from exactly ``TRUSTED_PROXY_HOPS`` proxies (0 = none)."""
    hops = int(app.config.get("TRUSTED_PROXY_HOPS", 0))
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0,
                                x_prefix=0)


def client_address() -> str:
    """The request's client address as far as the configured proxies vouch for it."""
    return request.remote_addr or "unknown"


#: prefix length that counts as one IPv6 client (a household or a provider's customer)
IPV6_CLIENT_PREFIX = 64


def address_class(address: str | None = None) -> str:
    """What counts as one client address: an IPv4 address itself, an IPv6 address' /64.
    Defaults to this request's address; anything unparsable is returned unchanged."""
    address = client_address() if address is None else address
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(parsed)
