"""The client libraries and token lifetime (issue 16, item 2; and item 3's revocation): the
Python client and relay.js (in headless Chromium) answer `token_expiring` with a token from their
`getToken` hook and keep their connection past the old token's `exp`; relay.js reconnects and
resumes after a 1008 `token expired`; a client the server API revoked does not reconnect."""

from __future__ import annotations

import asyncio
import time

import pytest

from browser_helpers import demo_config, make_browser_fixture
from relay_client import Closed, Open, Reconnecting, RelayClient, RelayClientError, State
from relay_helpers import base_config

browser = make_browser_fixture()
pytestmark = pytest.mark.timeout(90)

KEY = "client-test-api-key-0123456789"


def test_the_python_client_refreshes_its_token_and_keeps_the_connection(relay):
    server = relay(base_config(auth={"leeway": 0}))
    tokens = [server.token("alice", ttl=3), server.token("alice", ttl=3600)]
    calls = 0

    async def get_token() -> str:
        nonlocal calls
        calls += 1
        return tokens.pop(0) if len(tokens) > 1 else tokens[0]

    async def scenario() -> None:
        client = RelayClient(server.url("/ws/secure"), get_token=get_token)
        states: list[State] = []

        async def watch() -> None:
            async for state in client.states():
                states.append(state)

        watcher = asyncio.create_task(watch())
        first = await client.connect()
        async with asyncio.timeout(5):
            async for message in client.messages():
                if message.type == "refreshed":
                    break
        await asyncio.sleep(4)  # past the first token's exp
        pong = await client.request({"type": "ping"}, reply="pong")
        assert pong.type == "pong"
        assert calls == 2 and not any(isinstance(s, Reconnecting) for s in states), states
        assert isinstance(client.state, Open) and client.state.session.client_id == first.client_id
        await client.close()
        await watcher

    asyncio.run(scenario())


def test_a_revoked_python_client_does_not_reconnect(relay):
    server = relay(base_config(), env={"RELAY_API_KEY": KEY})

    async def scenario() -> None:
        client = RelayClient(server.url("/ws/secure"), get_token=lambda: server.token("bob"))
        await client.connect()
        status, body = await asyncio.to_thread(server.http_json, "POST", "/api/server/disconnect", {"userId": "bob"},
                                               None, {"X-API-Key": KEY})
        assert (status, body) == (200, {"disconnected": 1})
        async with asyncio.timeout(5):
            async for state in client.states():
                if isinstance(state, Closed):
                    break
        assert isinstance(client.state, Closed) and isinstance(client.state.error, RelayClientError)
        assert client.state.error.code == "revoked" and client.state.error.close_code == 1008, client.state

    asyncio.run(scenario())


GET_TOKEN_SETUP = """
const done = arguments[arguments.length - 1];
window.tokens = arguments[1];
window.events = [];
window.relay = new RelayClient(arguments[0], {
  backoffInitial: 50,
  getToken: () => new Promise((resolve) => setTimeout(() => resolve(window.tokens.length > 1 ? window.tokens.shift() : window.tokens[0]), 10)),
});
for (const name of ["token_expiring", "refreshed", "error", "token-refreshed", "token-error", "disconnected"]) {
  relay.on(name, (value) => window.events.push(Object.assign({event: name}, value)));
}
relay.on("state", (s) => window.events.push({event: "state", state: s.state, resumed: s.resumed, code: s.code}));
relay.once("connected", () => done(relay.clientId));
relay.connect();
"""


def open_with_tokens(driver, server, tokens: list[str]) -> str:
    driver.get(f"{server.http_url}/demo/")
    driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const script = document.createElement("script");
        script.src = "/relay.js";
        script.onload = () => done(true);
        document.head.appendChild(script);""")
    return driver.execute_async_script(GET_TOKEN_SETUP, "/ws/pubsub", tokens)


def events(driver) -> list[dict]:
    return driver.execute_script("return window.events")


def relay_js_config() -> dict:
    cfg = demo_config()
    cfg["auth"] = {"leeway": 0}
    return cfg


def test_relay_js_refreshes_with_get_token_and_keeps_the_connection(relay, browser):
    server = relay(relay_js_config())
    driver = browser()  # first: the short-lived token must not expire while Chromium starts
    client_id = open_with_tokens(driver, server, [server.token("alice", ttl=3), server.token("alice")])
    assert client_id
    deadline = time.monotonic() + 5
    while not any(e["event"] == "token-refreshed" for e in events(driver)):
        assert time.monotonic() < deadline, events(driver)
        time.sleep(0.1)
    time.sleep(4)  # past the first token's exp
    seen = events(driver)
    assert not any(e["event"] == "disconnected" for e in seen), seen
    assert [e for e in seen if e["event"] == "token_expiring"][0]["expiresAt"] > 0
    assert driver.execute_script("return relay.state") == "open"


def test_relay_js_reconnects_and_resumes_after_token_expired(relay, browser):
    server = relay(relay_js_config())
    driver = browser()  # first: the short-lived token must not expire while Chromium starts
    # The refresh gets another user's token: refused, so the relay closes at the first exp.
    tokens = [server.token("alice", ttl=3), server.token("mallory"), server.token("alice")]
    client_id = open_with_tokens(driver, server, tokens)
    deadline = time.monotonic() + 10
    while not any(e["event"] == "state" and e["state"] == "open" and e["resumed"] for e in events(driver)):
        assert time.monotonic() < deadline, events(driver)
        time.sleep(0.1)
    seen = events(driver)
    assert any(e["event"] == "token-error" for e in seen), seen
    assert any(e["event"] == "disconnected" and e["code"] == 1008 for e in seen), seen
    assert driver.execute_script("return relay.clientId") == client_id
