"""Who may watch `--serve`: the access token.

Serving anywhere but the default loopback address puts live pictures of people's
faces on a network, so every route then asks for a token, the way Jupyter does:
random for each run unless given, printed once as a ready URL
(`http://HOST:PORT/?token=...`). A browser that opens that URL gets the token in
a cookie and is sent on to the same page without it in the address bar, so the
page's own requests (the stream, the numbers) carry it and a screenshot of the
address bar shows no key. Tools that keep no cookies (curl, VLC, ffmpeg) pass it
as `?token=` on any route or as `Authorization: Bearer TOKEN`.

Tokens are compared in constant time: both sides are hashed to a fixed length
first, so neither the content nor the length of the token leaks through timing.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import socket
from urllib.parse import parse_qsl

from facedge.base.errors import FacedgeError

TOKEN_ENV = "FACEDGE_CAMERA_TOKEN"
MIN_TOKEN_CHARS = 16
# URL-safe characters only: the token goes unescaped into a URL and a cookie.
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~-]+")
# The addresses served without a token: the default one, and its IPv6 twin.
_OPEN_HOSTS = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}


def new_token():
    """32 URL-safe characters, 192 random bits from the OS."""
    return secrets.token_urlsafe(24)


def check_token(token, origin):
    """The token, or a FacedgeError naming `origin` (e.g. "--token") and what was expected."""
    if not token or len(token) < MIN_TOKEN_CHARS:
        raise FacedgeError(f"{origin}: {len(token or '')} characters; a token needs at least {MIN_TOKEN_CHARS} "
                           f"(a random one: python3 -c 'import secrets; print(secrets.token_urlsafe(24))')")
    if not _TOKEN_CHARS.fullmatch(token):
        raise FacedgeError(f"{origin}: only letters, digits and . _ ~ - may be used (it goes into URLs and cookies)")
    return token


def needs_token(host):
    """True unless `host` (as --serve names it) is the default loopback address.
    Other loopback addresses (127.0.0.2) count as a network: the rule stays simple
    and tests can check it without a second machine. A name counts as the address
    it resolves to, the one the server binds."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.ip_address(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])
        except (OSError, ValueError):  # binding will fail and say so; ask for a token meanwhile
            return True
    return address not in _OPEN_HOSTS


def choose_token(host, token=None, no_auth=False, environ=None):
    """(token or None, where it came from or None) for `--serve HOST:...`:
    --no-auth: none; --token, else $FACEDGE_CAMERA_TOKEN: that one, even on the
    default loopback address; else a new random one unless `host` is the default
    loopback address. Bad tokens are refused with a one-line FacedgeError."""
    environ = os.environ if environ is None else environ
    if no_auth and token is not None:
        raise FacedgeError("--no-auth and --token: choose one (--no-auth serves without any token)")
    if no_auth:
        return None, None
    if token is not None:
        return check_token(token, "--token"), "--token"
    if TOKEN_ENV in environ:
        return check_token(environ[TOKEN_ENV], TOKEN_ENV), TOKEN_ENV
    return (new_token(), None) if needs_token(host) else (None, None)


class TokenCheck:
    """Decides whether a request carries the token. One per server: the cookie's
    name holds the port, so that two cameras served by one machine keep apart."""

    def __init__(self, token, port):
        self._digest = _digest(token)
        self.cookie_name = f"facedge_token_{port}"

    def query_token(self, query):
        """The `token` parameter of a URL's query string, or None."""
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key == "token":
                return value
        return None

    def matches(self, value):
        return value is not None and hmac.compare_digest(_digest(value), self._digest)

    def allows(self, query, headers):
        """True when the query, a cookie or an Authorization header holds the token."""
        given = [self.query_token(query), _cookie(headers.get_all("Cookie") or [], self.cookie_name)]
        auth = headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            given.append(auth[7:].strip())
        ok = False
        for value in given:  # every candidate is compared, so timing says nothing about which matched
            ok |= self.matches(value)
        return ok

    def set_cookie(self, token):
        """The Set-Cookie value that keeps `token` for this server's page. Lax, not
        Strict: a browser following the printed link from another site's page must
        still send it on the redirect that follows."""
        return f"{self.cookie_name}={token}; Path=/; HttpOnly; SameSite=Lax"


def _digest(value):
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def _cookie(header_values, name):
    for header in header_values:
        for part in header.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                return value.strip('"')
    return None
