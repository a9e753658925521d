"""The HTTP remote's transport: proxies from the environment, and retries of 5xx answers and resets.

Real servers on loopback (tests/store/http_servers.py): an origin that fails on demand and a
forward proxy that counts what goes through it. The counts are what a user would see in the
servers' logs: requests through the proxy, attempts at the origin.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_servers import Origin, Proxy
from store_helpers import key_of, make_entry, write_blob

from ddbuild.errors import ConfigError, StoreError
from ddbuild.store._files import CHUNK
from ddbuild.store.http import ATTEMPTS, HttpStore, proxy_for
from ddbuild.store.http import Proxy as ProxySetting
from ddbuild.store.layered import LayeredStore

BLOB = bytes(range(256)) * 4096  # 1 MiB, so a reset half way through is a real partial body


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.stop()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    server = Proxy()
    yield server
    server.stop()


def _round_trip(store: HttpStore, tmp_path: Path) -> str:
    """Put a blob and an entry, read both back (and check the bytes); returns the blob digest."""
    digest, source = write_blob(tmp_path, BLOB)
    store.put_blob(digest, source)
    key = key_of("stage")
    store.put_entry(key, make_entry(key))
    assert store.has_blob(digest)
    assert store.get_blob(digest, tmp_path / "back.bin") and (tmp_path / "back.bin").read_bytes() == BLOB
    assert store.get_entry(key) == make_entry(key)
    return digest


# -- proxies -----------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["http_proxy", "HTTP_PROXY"])
def test_http_remote_goes_through_the_proxy_named_by_the_environment(
    origin: Origin, proxy: Proxy, tmp_path: Path, variable: str
) -> None:
    store = HttpStore(origin.url + "team/", environ={variable: f"http://{proxy.address}"})
    _round_trip(store, tmp_path)
    assert proxy.count() == origin.count() >= 6  # every request went through the proxy, none around it
    assert all(target.startswith(f"{origin.url}team/") for _, target in proxy.requests)  # absolute URLs
    assert {m for m, _ in proxy.requests} >= {"PUT", "HEAD", "GET"}


def test_lowercase_proxy_variable_wins_over_uppercase(origin: Origin, proxy: Proxy, tmp_path: Path) -> None:
    environ = {"HTTP_PROXY": "http://127.0.0.1:9", "http_proxy": f"http://{proxy.address}"}
    _round_trip(HttpStore(origin.url, environ=environ), tmp_path)
    assert proxy.count() == origin.count() > 0


@pytest.mark.parametrize(
    "no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*", "example.com, .127.0.0.1"]
)
def test_no_proxy_reaches_the_remote_directly(origin: Origin, proxy: Proxy, tmp_path: Path, no_proxy: str) -> None:
    environ = {"HTTP_PROXY": f"http://{proxy.address}", "NO_PROXY": no_proxy}
    _round_trip(HttpStore(origin.url, environ=environ), tmp_path)
    assert proxy.count() == 0 and origin.count() > 0


def test_no_proxy_for_another_host_still_uses_the_proxy(origin: Origin, proxy: Proxy, tmp_path: Path) -> None:
    environ = {"http_proxy": f"http://{proxy.address}", "no_proxy": "example.com,10.0.0.1"}
    _round_trip(HttpStore(origin.url, environ=environ), tmp_path)
    assert proxy.count() == origin.count() > 0


def test_https_proxy_variable_does_not_apply_to_an_http_remote(origin: Origin, proxy: Proxy, tmp_path: Path) -> None:
    _round_trip(HttpStore(origin.url, environ={"HTTPS_PROXY": f"http://{proxy.address}"}), tmp_path)
    assert proxy.count() == 0 and origin.count() > 0


def test_https_remote_is_tunnelled_with_connect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tls = Origin(tls_dir=tmp_path)
    proxy = Proxy()
    try:
        assert tls.cert_file is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert_file))  # trust the throwaway certificate
        store = HttpStore(tls.url + "team/", environ={"HTTPS_PROXY": f"http://{proxy.address}"})
        _round_trip(store, tmp_path)
        store.close()
        # One CONNECT per connection (kept alive across requests), every request inside the tunnel.
        assert proxy.requests == [("CONNECT", f"127.0.0.1:{tls.port}")]
        assert tls.count() >= 6
        assert all(not target.startswith("https://") for _, target in tls.requests)  # origin-form inside TLS
    finally:
        proxy.stop()
        tls.stop()


def test_proxy_credentials_are_sent_and_never_shown(origin: Origin, tmp_path: Path) -> None:
    proxy = Proxy(credentials=("me", "pr0xy-s3cret"))
    try:
        store = HttpStore(origin.url, environ={"http_proxy": f"http://me:pr0xy-s3cret@{proxy.address}"})
        _round_trip(store, tmp_path)
        assert proxy.count() == origin.count() > 0

        origin.stop()  # the proxy now answers 502 Bad Gateway, every time
        with pytest.raises(StoreError) as failing:
            store.get_entry(key_of("stage"))
        for text in (str(failing.value), repr(store), repr(store._http.proxy)):
            assert "pr0xy-s3cret" not in text
        assert str(failing.value).startswith(f"remote cache {origin.url} answered HTTP 502 to {ATTEMPTS} attempts")

        wrong = HttpStore(origin.url, environ={"http_proxy": f"http://me:guess@{proxy.address}"})
        with pytest.raises(StoreError, match=r"refused|HTTP 407"):
            wrong.has_blob("0" * 32)
    finally:
        proxy.stop()


def test_unreachable_proxy_is_named_in_the_error(origin: Origin) -> None:
    store = HttpStore(origin.url, environ={"http_proxy": "http://127.0.0.1:9"})
    with pytest.raises(StoreError) as down:
        store.get_entry(key_of("stage"))
    assert str(down.value).startswith(f"remote cache {origin.url} is unreachable via proxy 127.0.0.1:9 (GET actions/")
    assert origin.count() == 0


def test_a_proxy_that_is_not_plain_http_is_a_config_error(origin: Origin) -> None:
    with pytest.raises(ConfigError) as bad:
        HttpStore("https://cache.example/team/", environ={"https_proxy": "https://u:pw@proxy.example:3128"})
    assert str(bad.value) == (
        "https_proxy: https://proxy.example... is not an http://host[:port] proxy, so the remote cache "
        "https://cache.example/team/ cannot use it. Set https_proxy to http://host:port (https remotes are "
        "tunnelled with CONNECT), or add the remote's host to no_proxy."
    )
    assert "pw" not in str(bad.value).replace("https", "")


PROXY_ENVIRONMENTS = [
    {"http_proxy": "http://p:1"},
    {"HTTP_PROXY": "http://p:1", "HTTPS_PROXY": "http://q:2"},
    {"HTTP_PROXY": "http://p:1", "http_proxy": "http://q:2"},
    {"HTTP_PROXY": "http://p:1", "http_proxy": ""},
    {"http_proxy": "http://p:1", "https_proxy": "http://user:pw@q:3", "no_proxy": ".internal, cache.local:8080"},
    {"https_proxy": "http://q", "NO_PROXY": "*"},
    {"http_proxy": "http://p:1", "no_proxy": "*,x"},
    {"http_proxy": "http://p:1", "no_proxy": "EXAMPLE.com"},
    {"http_proxy": "http://p:1", "no_proxy": "127.0.0.1"},
]
PROXY_URLS = [
    "http://cache.example.com/team/", "https://cache.example.com:8443/", "http://a.internal/",
    "http://cache.local:8080/", "http://cache.local:9090/", "http://127.0.0.1:8000/", "https://internal/",
]


@pytest.mark.parametrize("environ", PROXY_ENVIRONMENTS, ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()))
def test_proxy_choice_matches_the_llm_client(environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """For every URL, the proxy the remote uses is the one the LLM client's lookup (aiohttp's
    get_env_proxy_for_url over the process environment) picks, or none where it picks none."""
    from aiohttp.helpers import get_env_proxy_for_url
    from yarl import URL

    for name in [n for n in __import__("os").environ if n.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    for url in PROXY_URLS:
        try:
            theirs = get_env_proxy_for_url(URL(url))[0]
        except LookupError:
            theirs = None
        ours = proxy_for(url, environ)
        expected = (theirs.host, theirs.port) if theirs is not None else None
        assert ((ours.host, ours.port) if ours is not None else None) == expected, url


def test_proxy_lookup_follows_the_llm_clients_rules() -> None:
    """Spot checks of the rules (the comparison with aiohttp above covers them wholesale)."""
    env = {"http_proxy": "http://p:1", "https_proxy": "p2:2", "no_proxy": ".internal, cache.local"}
    assert proxy_for("http://cache.example/", env) == ProxySetting("p", 1)
    assert proxy_for("https://cache.example/", env) == ProxySetting("p2", 2)  # scheme-less: http
    assert proxy_for("http://a.internal/", env) is None
    assert proxy_for("http://b.a.internal:8080/", env) is None
    assert proxy_for("http://cache.local:9090/", env) is None
    assert proxy_for("http://notcache.local/", env) == ProxySetting("p", 1)
    assert proxy_for("http://cache.example/", {"http_proxy": ""}) is None
    assert proxy_for("http://cache.example/", {"HTTP_PROXY": "http://p:1", "http_proxy": ""}) is None


# -- retries -----------------------------------------------------------------------------------


def test_503_twice_is_retried_and_then_served(origin: Origin, tmp_path: Path) -> None:
    store = HttpStore(origin.url, environ={})
    digest, source = write_blob(tmp_path, BLOB)
    store.put_blob(digest, source)
    origin.fail("503", times=2, method="GET")
    before = origin.count("GET")
    assert store.get_blob(digest, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == BLOB
    assert origin.count("GET") - before == 3


def test_put_answered_500_is_retried(origin: Origin, tmp_path: Path) -> None:
    store = HttpStore(origin.url, environ={})
    digest, source = write_blob(tmp_path, BLOB)
    origin.fail("500", method="PUT")
    store.put_blob(digest, source)
    assert origin.count("PUT") == 2 and origin.files[f"/objects/{digest[:2]}/{digest}"] == BLOB


def test_connection_reset_once_is_retried(origin: Origin, tmp_path: Path) -> None:
    store = HttpStore(origin.url, environ={})
    key = key_of("stage")
    store.put_entry(key, make_entry(key))
    store.close()  # a fresh connection: the reset is not the idle keep-alive case
    origin.fail("reset")
    assert store.get_entry(key) == make_entry(key)
    assert [m for m, _ in origin.requests[-2:]] == ["GET", "GET"]


def test_reset_in_the_middle_of_a_blob_restarts_it(origin: Origin, tmp_path: Path) -> None:
    """The first CHUNK of the body is already in the file when the reset comes: the retry starts over."""
    big = BLOB * (3 * CHUNK // len(BLOB))
    store = HttpStore(origin.url, environ={})
    digest, source = write_blob(tmp_path, big)
    store.put_blob(digest, source)
    origin.fail("reset-mid-body", method="GET")
    before = origin.count("GET")
    assert store.get_blob(digest, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == big  # not a half body followed by the whole one
    assert origin.count("GET") - before == 2


def test_persistent_503_gives_up_naming_the_url(origin: Origin) -> None:
    store = HttpStore(origin.url + "team/", environ={})
    origin.fail("503", times=100)
    key = key_of("stage")
    started = time.monotonic()
    with pytest.raises(StoreError) as failing:
        store.get_entry(key)
    elapsed = time.monotonic() - started
    assert str(failing.value) == (
        f"remote cache {origin.url}team/ answered HTTP 503 to {ATTEMPTS} attempts at GET "
        f"{origin.url}team/actions/{key[:2]}/{key}.json; giving up. The server (or a proxy before it) is "
        "failing; builds continue with the local cache. Check the server's error log."
    )
    assert origin.count() == ATTEMPTS
    assert 0.2 < elapsed < 5  # backed off between attempts (0.25·(1+2+4)·U[0.5,1) s), and bounded


def test_persistent_resets_give_up_as_unreachable(origin: Origin) -> None:
    store = HttpStore(origin.url, environ={})
    origin.fail("reset", times=100)
    with pytest.raises(StoreError) as down:
        store.get_entry(key_of("stage"))
    assert str(down.value).startswith(f"remote cache {origin.url} is unreachable (GET actions/")
    assert f", {ATTEMPTS} attempts)." in str(down.value)
    assert origin.count() == ATTEMPTS


def test_404_and_501_are_not_retried(origin: Origin) -> None:
    store = HttpStore(origin.url, environ={})
    assert store.get_entry(key_of("absent")) is None
    assert origin.count() == 1
    origin.fail("501")
    with pytest.raises(StoreError, match="answered HTTP 501 to GET"):
        store.get_entry(key_of("absent"))
    assert origin.count() == 2


def test_retries_stay_within_the_transfer_deadline(origin: Origin, monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry-After: 3 on every answer, DDBUILD_TRANSFER_TIMEOUT=1: one attempt, no 3 s wait."""
    origin.retry_after = "3"
    origin.fail("503", times=100)
    store = HttpStore(origin.url, environ={"DDBUILD_TRANSFER_TIMEOUT": "1"})
    started = time.monotonic()
    with pytest.raises(StoreError, match="answered HTTP 503 to 1 attempt at GET"):
        store.get_entry(key_of("stage"))
    assert time.monotonic() - started < 1
    assert origin.count() == 1


def test_a_failing_remote_is_switched_off_once_and_the_build_goes_on(origin: Origin, tmp_path: Path) -> None:
    """Through LayeredStore (what a build uses): a remote answering 503 is a warning, not a failure."""
    from ddbuild.store.fs import FileSystemStore

    origin.fail("503", times=100)
    layered = LayeredStore(FileSystemStore(tmp_path / "local"), HttpStore(origin.url, environ={}))
    assert layered.get_entry(key_of("a")) is None
    assert layered.get_entry(key_of("b")) is None
    assert layered.remote_error is not None and "answered HTTP 503" in layered.remote_error
    assert origin.count() == ATTEMPTS  # the second lookup did not ask the remote again
