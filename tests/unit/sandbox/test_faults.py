"""The TMDB sandbox fails on demand the way TMDB does, so client tests can prove they survive it."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from sandbox import tmdb_app
from sandbox.tmdb_app import FaultRule, FaultSpecError, create_app, parse_faults

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 here; plain httpx still works for these tests.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    from fastapi.testclient import TestClient

CATALOG = Path(__file__).resolve().parents[3] / "include" / "data" / "tmdb_catalog.json"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.sandbox.test"
API_KEY = "0123456789abcdef0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IDS = (1429, 31911, 85937)

RATE_LIMITED = {
    "success": False,
    "status_code": 25,
    "status_message": "Your request count (#) is over the allowed limit of (40).",
}
INTERNAL_ERROR = {
    "success": False,
    "status_code": 11,
    "status_message": "Internal error: Something went wrong, contact TMDB.",
}
SERVICE_OFFLINE = {
    "success": False,
    "status_code": 9,
    "status_message": "Service offline: This service is temporarily offline, try again later.",
}


def sandbox(*rules: dict[str, Any]) -> TestClient:
    return TestClient(create_app(CATALOG, [TOKEN, API_KEY], faults=[FaultRule(**rule) for rule in rules]))


def status(client: TestClient, path: str, **params: str) -> int:
    return client.get(path, params=params, headers=AUTH).status_code


def statuses(client: TestClient, paths: list[str]) -> list[int]:
    return [status(client, path) for path in paths]


# --- each fault --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault, code, body",
    [
        ("429", 429, RATE_LIMITED),
        ("500", 500, INTERNAL_ERROR),
        ("503", 503, SERVICE_OFFLINE),
        ("empty", 200, {}),
    ],
)
def test_fault_answers_like_tmdb(fault, code, body):
    response = sandbox({"path": "/3/tv/*", "fault": fault, "times": 1}).get("/3/tv/1429", headers=AUTH)
    assert response.status_code == code
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert response.json() == body


@pytest.mark.parametrize("rule, retry_after", [({}, "1"), ({"retry_after": 7}, "7")])
def test_429_says_when_to_retry(rule, retry_after):
    response = sandbox({"path": "/3/discover/tv", "fault": "429", "times": 1, **rule}).get(
        "/3/discover/tv", headers=AUTH
    )
    assert response.headers["retry-after"] == retry_after


def test_malformed_is_a_200_claiming_json_that_is_not():
    response = sandbox({"path": "/3/tv/*", "fault": "malformed", "times": 1}).get("/3/tv/1429", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert response.text.startswith("<html>")
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_slow_answers_normally_but_late():
    client = sandbox({"path": "/3/tv/*", "fault": "slow", "delay": 0.3, "times": 1})
    started = time.perf_counter()
    response = client.get("/3/tv/1429", headers=AUTH)
    assert time.perf_counter() - started >= 0.3
    assert response.status_code == 200 and response.json()["id"] == 1429
    started = time.perf_counter()
    client.get("/3/tv/1429", headers=AUTH)
    assert time.perf_counter() - started < 0.3


def test_slow_defaults_to_five_seconds():
    assert FaultRule(path="/3/tv/*", fault="slow", times=1).delay == 5.0


# --- answers that are not what they claim ------------------------------------------------------------


def real(path: str) -> bytes:
    """The answer without any fault."""
    return sandbox().get(path, headers=AUTH).content


def test_html_is_a_200_page_that_says_it_is_html():
    response = sandbox({"path": "/3/tv/*", "fault": "html", "times": 1}).get("/3/tv/1429", headers=AUTH)
    assert (response.status_code, response.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert response.content == tmdb_app.HTML_PAGE and response.text.startswith("<!DOCTYPE html>")


def test_invalid_json_is_the_real_answer_cut_in_half_with_a_length_that_matches():
    whole = real("/3/tv/1429")
    response = sandbox({"path": "/3/tv/*", "fault": "invalid-json", "times": 1}).get(
        "/3/tv/1429", headers=AUTH
    )
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert response.content == whole[: len(whole) // 2]
    assert response.headers["content-length"] == str(len(whole) // 2)
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_truncated_announces_the_whole_length_and_sends_half():
    whole = real("/3/tv/1429")
    response = sandbox({"path": "/3/tv/*", "fault": "truncated", "times": 1}).get("/3/tv/1429", headers=AUTH)
    assert response.headers["content-length"] == str(len(whole))
    assert response.content == whole[: len(whole) // 2]


@pytest.mark.parametrize("fault", ["stall", "trickle"])
def test_stall_and_trickle_send_the_real_answer_over_the_delay(fault):
    whole = real("/3/discover/tv")
    client = sandbox({"path": "/3/discover/tv", "fault": fault, "delay": 0.3, "times": 1})
    started = time.perf_counter()
    response = client.get("/3/discover/tv", headers=AUTH)
    assert time.perf_counter() - started >= 0.3
    assert response.content == whole and response.headers["content-length"] == str(len(whole))


def test_trickle_sends_its_body_in_pieces_a_tenth_of_a_second_apart():
    rule = FaultRule(path="/3/tv/*", fault="trickle", delay=0.5, times=1)
    sent: list[tuple[float, bytes]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append((time.perf_counter(), message.get("body", b"")))

    started = time.perf_counter()
    asyncio.run(tmdb_app.spoil(rule, b"x" * 95)({"type": "http"}, None, send))
    pieces = [(at, body) for at, body in sent if body]
    assert [len(body) for _, body in pieces] == [19] * 5
    gaps = [
        later - earlier for (earlier, _), (later, _) in zip([(started, b"")] + pieces, pieces, strict=False)
    ]
    assert all(gap >= 0.09 for gap in gaps), gaps


def test_no_id_drops_the_id_of_the_series_and_of_every_discover_result():
    client = sandbox({"path": "/3/*", "fault": "no-id", "times": 1})
    details = client.get("/3/tv/1429", headers=AUTH).json()
    assert "id" not in details and details["name"]
    results = client.get("/3/discover/tv", headers=AUTH).json()["results"]
    assert results and not [series for series in results if "id" in series]


def test_results_not_list_sends_discovers_results_as_an_object():
    client = sandbox({"path": "/3/discover/tv", "fault": "results-not-list", "times": 1})
    page = client.get("/3/discover/tv", headers=AUTH).json()
    expected = json.loads(real("/3/discover/tv"))["results"]
    assert page["results"] == {str(number): series for number, series in enumerate(expected, 1)}


def test_huge_streams_a_json_object_of_the_size_asked_without_a_length():
    client = sandbox({"path": "/3/tv/*", "fault": "huge", "size": 3 * tmdb_app.HUGE_CHUNK + 5, "times": 1})
    with client.stream("GET", "/3/tv/1429", headers=AUTH) as response:
        assert response.headers["content-type"] == "application/json;charset=utf-8"
        assert "content-length" not in response.headers
        body = response.read()
    assert len(body) == 3 * tmdb_app.HUGE_CHUNK + 5
    assert set(json.loads(body)) == {"padding"}


def test_huge_defaults_to_64_mib():
    assert FaultRule(path="/3/tv/*", fault="huge", times=1).size == 64 * 1024 * 1024


def test_a_fault_that_spoils_the_answer_leaves_an_error_answer_as_it_is():
    client = sandbox({"path": "/3/tv/*", "fault": "no-id", "times": 1})
    response = client.get("/3/tv/999999999", headers=AUTH)
    assert response.status_code == 404 and response.json()["status_code"] == 34


# --- triggers and order ------------------------------------------------------------------------------


def test_times_counts_each_distinct_path():
    client = sandbox({"path": "/3/tv/*", "fault": "500", "times": 2})
    paths = [f"/3/tv/{tv_id}" for tv_id in IDS]
    assert statuses(client, paths * 3) == [500] * 6 + [200] * 3
    assert status(client, "/3/discover/tv") == 200  # the glob does not match it


def test_query_does_not_make_a_path_distinct():
    client = sandbox({"path": "/3/discover/tv", "fault": "503", "times": 1})
    assert [status(client, "/3/discover/tv", page=str(page)) for page in (1, 2)] == [503, 200]


def test_rules_apply_in_order_per_path():
    client = sandbox(
        {"path": "/3/tv/*", "fault": "429", "retry_after": 1, "times": 1},
        {"path": "/3/tv/*", "fault": "500", "times": 1},
    )
    paths = [f"/3/tv/{tv_id}" for tv_id in IDS]
    assert statuses(client, paths * 3) == [429] * 3 + [500] * 3 + [200] * 3


def test_probability_is_reproducible_with_a_seed():
    paths = [f"/3/tv/{IDS[n % 3]}" for n in range(24)]
    rule = {"path": "/3/tv/*", "fault": "500", "probability": 0.5}
    first = statuses(sandbox(rule), paths)
    assert first == statuses(sandbox(rule), paths) == statuses(sandbox({**rule, "seed": 0}), paths)
    assert {200, 500} == set(first)
    assert statuses(sandbox({**rule, "seed": 1}), paths) != first


@pytest.mark.parametrize("probability, expected", [(0, 200), (1, 503)])
def test_probability_extremes(probability, expected):
    client = sandbox({"path": "/3/*", "fault": "503", "probability": probability, "seed": 3})
    assert statuses(client, ["/3/tv/1429", "/3/discover/tv"] * 10) == [expected] * 20


def test_credentials_are_checked_before_faults_and_do_not_spend_them():
    client = sandbox({"path": "/3/tv/*", "fault": "500", "times": 1})
    refused = client.get("/3/tv/1429", headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401 and refused.json()["status_code"] == 7
    assert statuses(client, ["/3/tv/1429"] * 2) == [500, 200]


# --- configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, message",
    [
        ("not json", "fault list: Invalid JSON"),
        ('{"path": "/3/tv/*"}', "fault list: Input should be a valid array"),
        (
            '[{"path": "/3/tv/*", "fault": "500", "times": 1}, {"path": "/3/tv/*", "fault": "404", "times": 1}]',  # noqa: E501 (verbatim data)
            "rule 1 field fault: Input should be '429', '500', '503', 'slow', 'malformed', 'empty', 'html', ",
        ),
        ('[{"path": "/3/tv/*", "fault": "500"}]', "rule 0: give exactly one of `times` or `probability`"),
        ('[{"path": "/3/tv/*", "fault": "500", "times": 1, "probability": 0.5}]', "rule 0: give exactly one"),
        ('[{"path": "/3/tv/*", "fault": "500", "probability": 1.5}]', "rule 0 field probability: "),
        ('[{"path": "/3/tv/*", "fault": "500", "times": -1}]', "rule 0 field times: "),
        ('[{"path": "3/tv/*", "fault": "500", "times": 1}]', "rule 0 field path: "),
        (
            '[{"path": "/3/tv/*", "fault": "429", "times": 1, "retry-after": 2}]',
            "rule 0 field retry-after: Extra inputs",
        ),
    ],
)
def test_bad_spec_names_the_rule_and_field(spec, message):
    with pytest.raises(FaultSpecError, match="^" + message.replace("(", r"\(").replace("*", r"\*")):
        parse_faults(spec)


def test_rules_are_frozen():
    rule = FaultRule(path="/3/tv/*", fault="500", times=1)
    with pytest.raises(ValueError):
        rule.times = 2


def serve(monkeypatch: pytest.MonkeyPatch, faults: str) -> Any:
    """Run ``main`` as ``python -m sandbox.tmdb_app`` would, handing back the app instead of serving it."""
    served = {}
    monkeypatch.setattr(tmdb_app.uvicorn, "run", lambda app, **_: served.setdefault("app", app))
    monkeypatch.setattr(sys, "argv", ["tmdb_app", "--port", "1", "--catalog", str(CATALOG)])
    monkeypatch.setenv("TMDB_SANDBOX_CREDENTIALS", TOKEN)
    monkeypatch.setenv("TMDB_SANDBOX_FAULTS", faults)
    tmdb_app.main()
    return served["app"]


def test_faults_come_from_the_environment(monkeypatch):
    app = serve(monkeypatch, json.dumps([{"path": "/3/tv/*", "fault": "429", "retry_after": 2, "times": 1}]))
    response = TestClient(app).get("/3/tv/1429", headers=AUTH)
    assert (response.status_code, response.headers["retry-after"]) == (429, "2")


def test_no_faults_in_the_environment_means_none(monkeypatch):
    assert status(TestClient(serve(monkeypatch, "")), "/3/tv/1429") == 200


def test_a_bad_spec_in_the_environment_stops_start_up(monkeypatch, capsys):
    with pytest.raises(SystemExit) as stopped:
        serve(
            monkeypatch,
            '[{"path": "/3/tv/*", "fault": "500", "times": 1}, {"path": "/3/tv/*", "fault": "oops"}]',
        )
    assert stopped.value.code == 2
    assert "error: TMDB_SANDBOX_FAULTS: rule 1 field fault: Input should be '429'" in capsys.readouterr().err


# --- admin API ---------------------------------------------------------------------------------------


def test_put_replaces_the_rules_and_their_budgets():
    client = sandbox({"path": "/3/tv/*", "fault": "500", "times": 1})
    assert status(client, "/3/tv/1429") == 500
    response = client.put("/_sandbox/faults", json=[{"path": "/3/tv/*", "fault": "503", "probability": 1}])
    assert response.status_code == 200
    assert response.json() == [
        {
            "path": "/3/tv/*",
            "fault": "503",
            "probability": 1.0,
            "seed": 0,
            "retry_after": 1,
            "delay": 5.0,
            "size": 64 * 1024 * 1024,
        }
    ]
    assert statuses(client, ["/3/tv/1429", "/3/tv/31911"]) == [503, 503]
    client.put("/_sandbox/faults", json=[{"path": "/3/tv/*", "fault": "500", "times": 1}])
    assert statuses(client, ["/3/tv/1429"] * 2) == [500, 200]


@pytest.mark.parametrize(
    "body, message",
    [
        ("[{", "fault list: Invalid JSON"),
        (
            '[{"path": "/3/tv/*", "fault": "500", "times": 1}, {"path": "/3/tv/*", "fault": "500", "times": "x"}]',  # noqa: E501 (verbatim data)
            "rule 1 field times: Input should be a valid integer",
        ),
    ],
)
def test_put_refuses_a_bad_spec_with_422_and_keeps_the_rules(body, message):
    client = sandbox({"path": "/3/tv/*", "fault": "500", "probability": 1})
    response = client.put("/_sandbox/faults", content=body)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(message)
    assert status(client, "/3/tv/1429") == 500


def test_delete_clears_the_rules_and_their_budgets():
    client = sandbox({"path": "/3/tv/*", "fault": "500", "times": 1})
    assert client.delete("/_sandbox/faults").status_code == 204
    assert status(client, "/3/tv/1429") == 200
    client.put("/_sandbox/faults", json=[{"path": "/3/tv/*", "fault": "500", "times": 1}])
    assert statuses(client, ["/3/tv/1429"] * 2) == [500, 200]


def test_admin_api_needs_no_tmdb_credential():
    client = sandbox()
    assert client.get("/_sandbox/requests").status_code == 200
    assert client.put("/_sandbox/faults", json=[]).status_code == 200
    assert client.get("/3/tv/1429").status_code == 401


def test_request_log_records_every_tmdb_request_with_api_key_masked():
    client = sandbox({"path": "/3/tv/1429", "fault": "429", "times": 1})
    before = time.time()
    client.get("/3/tv/1429", params={"api_key": API_KEY, "language": "pt-BR"})
    client.get("/3/tv/1429", params={"api_key": API_KEY, "append_to_response": "external_ids"})
    client.get("/3/discover/tv", params={"api_key": "wrong", "page": "2"})
    client.get("/3/tv/999999999", headers=AUTH)
    log = client.get("/_sandbox/requests").json()
    assert [{key: entry[key] for key in ("path", "query", "status")} for entry in log] == [
        {"path": "/3/tv/1429", "query": {"api_key": "***", "language": "pt-BR"}, "status": 429},
        {
            "path": "/3/tv/1429",
            "query": {"api_key": "***", "append_to_response": "external_ids"},
            "status": 200,
        },
        {"path": "/3/discover/tv", "query": {"api_key": "***", "page": "2"}, "status": 401},
        {"path": "/3/tv/999999999", "query": {}, "status": 404},
    ]
    times = [entry["at"] for entry in log]
    assert before <= times[0] and times == sorted(times) and times[-1] <= time.time()
    assert API_KEY not in json.dumps(log)


def test_request_log_can_be_cleared():
    client = sandbox()
    client.get("/3/tv/1429", headers=AUTH)
    assert client.delete("/_sandbox/requests").status_code == 204
    assert client.get("/_sandbox/requests").json() == []
    client.get("/3/tv/31911", headers=AUTH)
    assert [entry["path"] for entry in client.get("/_sandbox/requests").json()] == ["/3/tv/31911"]
