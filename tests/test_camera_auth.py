"""The token rules of `--serve` (runtime/camera/auth.py): when one is asked for,
where it comes from, which tokens are refused at start, and what carries it."""

import email.message
import re

import pytest

from facedge.runtime.camera.auth import TOKEN_ENV, TokenCheck, check_token, choose_token, needs_token, new_token
from facedge.base.errors import FacedgeError

GOOD = "abcdefghijklmnop-0123456789"


def test_new_tokens_are_32_url_safe_characters_and_never_repeat():
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", t) for t in tokens)


@pytest.mark.parametrize("host, needed", [("127.0.0.1", False), ("::1", False), ("localhost", False),
                                          ("127.0.0.2", True), ("0.0.0.0", True), ("::", True),
                                          ("192.168.1.20", True)])
def test_a_token_is_needed_everywhere_but_the_default_loopback_address(host, needed):
    assert needs_token(host) is needed


def test_where_the_token_comes_from():
    env = {TOKEN_ENV: "from-the-environment-123"}
    assert choose_token("127.0.0.1", environ={}) == (None, None)  # loopback stays as it was
    token, origin = choose_token("0.0.0.0", environ={})
    assert origin is None and len(token) == 32
    assert choose_token("0.0.0.0", token=GOOD, environ=env) == (GOOD, "--token")
    assert choose_token("0.0.0.0", environ=env) == ("from-the-environment-123", TOKEN_ENV)
    assert choose_token("127.0.0.1", environ=env) == ("from-the-environment-123", TOKEN_ENV)  # asked for: kept
    assert choose_token("0.0.0.0", no_auth=True, environ=env) == (None, None)


@pytest.mark.parametrize("kwargs, message", [
    ({"token": ""}, "--token: 0 characters; a token needs at least 16 (a random one: python3 -c"),
    ({"token": "short-token"}, "--token: 11 characters; a token needs at least 16"),
    ({"token": "spaces are not allowed here"}, "--token: only letters, digits and . _ ~ - may be used"),
    ({"environ": {TOKEN_ENV: ""}}, f"{TOKEN_ENV}: 0 characters; a token needs at least 16"),
    ({"token": GOOD, "no_auth": True}, "--no-auth and --token: choose one"),
])
def test_bad_tokens_are_refused_in_one_line(kwargs, message):
    kwargs.setdefault("environ", {})
    with pytest.raises(FacedgeError) as e:
        choose_token("0.0.0.0", **kwargs)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def _headers(**values):
    headers = email.message.Message()
    for key, value in values.items():
        headers[key.replace("_", "-")] = value
    return headers


def test_query_cookie_and_bearer_carry_the_token():
    check = TokenCheck(check_token(GOOD, "--token"), port=8000)
    assert check.allows(f"token={GOOD}", _headers())
    assert check.allows("a=1", _headers(Cookie=f"other=1; facedge_token_8000={GOOD}"))
    assert check.allows("", _headers(Authorization=f"Bearer {GOOD}"))
    assert not check.allows("", _headers(Cookie=f"facedge_token_8001={GOOD}"))  # another server's
    assert not check.allows(f"token={GOOD[:-1]}", _headers())
    assert not check.allows("", _headers(Authorization=f"Basic {GOOD}"))
    assert not check.allows("token=", _headers())
    assert check.set_cookie(GOOD) == f"facedge_token_8000={GOOD}; Path=/; HttpOnly; SameSite=Lax"
