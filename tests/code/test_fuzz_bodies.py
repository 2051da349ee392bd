"""Issue #17: a hypothesis fuzzer of raw request bodies against the in-process service.

Bodies are bytes, not models: arbitrary JSON, the contract example with a field replaced by
arbitrary JSON, deep nesting, huge numbers, duplicate keys, NaN/Infinity tokens, other encodings,
BOMs and random bytes, sent to /recommend, /recommend_batch and /predict. The only property: the
answer is one of the documented statuses (200, 413, 422), never >= 500, and always JSON.
Derandomised in CI (profile `ci`); `--hypothesis-profile=thorough` runs it deep.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from serving.http.openapi import EXAMPLE_PREDICT_REQUEST, EXAMPLE_REQUEST
from tests.code.test_service_contract import AUTH, make_client
from tests.jsonfuzz import JSON_VALUES, json_paths, replace_at

PATHS = ("/recommend", "/recommend_batch", "/predict")
HEADERS = {**AUTH, "content-type": "application/json"}

EXAMPLES = {
    "/recommend": EXAMPLE_REQUEST,
    "/recommend_batch": [EXAMPLE_REQUEST],
    "/predict": EXAMPLE_PREDICT_REQUEST,
}


@st.composite
def mutated(draw: st.DrawFn, path: str) -> bytes:
    """The endpoint's valid example with one node replaced by arbitrary JSON."""
    doc = EXAMPLES[path]
    where = draw(st.sampled_from(json_paths(doc)))
    return json.dumps(replace_at(doc, where, draw(JSON_VALUES))).encode()


@st.composite
def tokens(draw: st.DrawFn, path: str) -> bytes:
    """The example with a number replaced by a raw token JSON parsers disagree on."""
    text = json.dumps(EXAMPLES[path])
    token = draw(
        st.sampled_from(
            [
                "NaN",
                "Infinity",
                "-Infinity",
                "1e400",
                "-1e400",
                "1" + "0" * 400,
                "9" * 5000,
                "1.0e-400",
                "0x10",
                "01",
                "1_000",
                '"\\ud800"',
                '"\\u0000"',
            ]
        )
    )
    return text.replace("57", token, 1).replace(": 9,", f": {token},", 1).encode()


@st.composite
def duplicated(draw: st.DrawFn, path: str) -> bytes:
    """The example with a key repeated (either value could be read last)."""
    text = json.dumps(EXAMPLES[path])
    key = draw(
        st.sampled_from(['"adverse_event": "none"', '"ecog": 1', '"patient_id": "pt-000417"'])
    )
    twin = draw(st.sampled_from(['"adverse_event": "serious"', '"ecog": 4', '"patient_id": "x"']))
    return text.replace(key, f"{key}, {twin.split(':')[0]}: {twin.split(':', 1)[1]}", 1).encode()


def nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


BODIES = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.builds(nested, st.integers(0, 12_000), st.sampled_from(["list", "dict"])),
    st.builds(
        lambda v, enc: json.dumps(v).encode(enc),
        JSON_VALUES,
        st.sampled_from(["utf-16", "utf-32", "utf-8-sig", "latin-1"]),
    ),
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(tmp_path_factory.mktemp("fuzz"), max_body_bytes=256 * 1024) as c:
        yield c


def check(client: TestClient, path: str, body: bytes) -> None:
    resp = client.post(path, content=body, headers=HEADERS)
    assert resp.status_code in (200, 413, 422), (resp.status_code, resp.text[:300])
    resp.json()


@settings(
    max_examples=max(300, settings().max_examples),
    suppress_health_check=list(HealthCheck),
    deadline=None,
)
@given(path=st.sampled_from(PATHS), data=st.data())
def test_raw_bodies_never_fail(client: TestClient, path: str, data: st.DataObject) -> None:
    body = data.draw(st.one_of(BODIES, mutated(path), tokens(path), duplicated(path)))
    check(client, path, body)


def test_fuzzer_reaches_valid_and_invalid_answers(client: TestClient) -> None:
    """Sanity check of the setup: the example passes and a deep body is refused, not crashed."""
    for path, doc in EXAMPLES.items():
        assert client.post(path, json=doc, headers=AUTH).status_code == 200
        check(client, path, nested(5000, "list"))
