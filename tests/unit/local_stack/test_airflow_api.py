"""The REST driver against a scripted Airflow: it follows runs task by task, deletes the runs an unpause
created and renews a refused token."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import requests

from local_stack import airflow_api
from local_stack.airflow_api import AirflowApi, run_after_for


def response(status: int, body: dict | None = None) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = json.dumps(body or {}).encode()
    return answer


class Scripted(AirflowApi):
    """Answers each request from ``routes``: (method, path) -> a list of answers, the last one repeating."""

    def __init__(self, routes: dict[tuple[str, str], list]) -> None:
        super().__init__("http://airflow", "secret")
        self.routes = routes
        self.calls: list[tuple[str, str, dict]] = []

    def headers(self) -> dict[str, str]:
        return {}

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        self.calls.append((method, path, kwargs))
        answers = self.routes.get((method, path), [response(200, {})])
        return answers.pop(0) if len(answers) > 1 else answers[0]


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(airflow_api.time, "sleep", lambda seconds: None)


def ti(task_id: str, state: str | None, map_index: int = -1) -> dict:
    return {"task_id": task_id, "map_index": map_index, "state": state, "duration": 1.25}


def test_follow_hands_each_poll_of_a_started_run_to_the_watcher_until_the_run_ends():
    run_path = "/dags/d/dagRuns/r"
    client = Scripted(
        {
            ("GET", run_path): [response(200, {"state": state}) for state in ("queued", "running", "running")]
            + [response(200, {"state": "failed"})],
            ("GET", f"{run_path}/taskInstances"): [
                response(200, {"task_instances": [ti("a", "running"), ti("b", None, 0)]}),
                response(200, {"task_instances": [ti("a", "success"), ti("b", "up_for_retry", 0)]}),
                response(200, {"task_instances": [ti("a", "success"), ti("b", "failed", 0)]}),
            ],
        }
    )
    polls: list[list[tuple[str, str | None]]] = []
    finished = client.follow(
        [("d", "r")], lambda tasks: polls.append([(t["task_id"], t["state"]) for t in tasks])
    )
    assert finished == {("d", "r"): {"state": "failed"}}
    assert polls == [
        [("a", "running"), ("b", None)],
        [("a", "success"), ("b", "up_for_retry")],
        [("a", "success"), ("b", "failed")],
    ], "no task states asked of the queued run; every poll of the running one handed over"


def test_unpaused_stops_the_scheduled_runs_the_unpause_created_once_and_pauses_again(capsys):
    scheduled = {"dag_runs": [{"dag_run_id": "scheduled__2026-12-02", "state": "queued"}]}
    client = Scripted({("GET", "/dags/d/dagRuns"): [response(200, scheduled)]})
    with client.unpaused("d") as stop_unasked_runs:
        stop_unasked_runs()
    patches = [(path, kwargs["json"]) for method, path, kwargs in client.calls if method == "PATCH"]
    assert patches == [
        ("/dags/d", {"is_paused": False}),
        ("/dags/d/dagRuns/scheduled__2026-12-02", {"state": "failed", "note": airflow_api.UNASKED_NOTE}),
        ("/dags/d", {"is_paused": True}),
    ]
    assert not [path for method, path, _ in client.calls if method == "DELETE"], "kept as the latest run"
    listing = next(kwargs for method, _, kwargs in client.calls if method == "GET")
    assert listing["params"]["run_type"] == "scheduled"
    assert "Stopped scheduled__2026-12-02 (queued), created by the unpause" in capsys.readouterr().err


def test_a_run_that_could_not_be_stopped_is_stopped_at_the_next_poll():
    running = {"dag_runs": [{"dag_run_id": "scheduled__2026-12-02", "state": "running"}]}
    path = "/dags/d/dagRuns/scheduled__2026-12-02"
    client = Scripted(
        {
            ("GET", "/dags/d/dagRuns"): [response(200, running)],
            ("PATCH", path): [response(500, {"detail": "Database error"}), response(200, {})],
        }
    )
    with client.unpaused("d") as stop_unasked_runs:  # the first try, on unpausing, fails
        stop_unasked_runs()
        stop_unasked_runs()
    assert [p for method, p, _ in client.calls if p == path] == [path, path]


def test_unpaused_pauses_again_when_the_body_fails():
    client = Scripted({("GET", "/dags/d/dagRuns"): [response(200, {"dag_runs": []})]})
    with pytest.raises(RuntimeError), client.unpaused("d"):
        raise RuntimeError("stopped")
    assert client.calls[-1][:2] == ("PATCH", "/dags/d") and client.calls[-1][2]["json"] == {"is_paused": True}


def test_a_trigger_names_the_partition_and_no_logical_date():
    client = Scripted({("POST", "/dags/d/dagRuns"): [response(200, {"dag_run_id": "manual__x"})]})
    client.trigger("d", "2026-11-27", {"top_n": 3}, run_after=datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC))
    body = client.calls[0][2]["json"]
    assert body == {
        "logical_date": None,
        "partition_key": "2026-11-27",
        "conf": {"top_n": 3},
        "run_after": "2026-11-26T23:59:59+00:00",
    }


def test_a_refusal_ends_the_runner_with_airflows_reason():
    client = Scripted({("POST", "/dags/d/dagRuns"): [response(400, {"detail": "not partitioned"})]})
    with pytest.raises(SystemExit, match="Triggering d for 2026-11-27 failed: 400 .*not partitioned"):
        client.trigger("d", "2026-11-27", {})


def test_new_runs_takes_the_first_new_run_of_each_partition():
    runs = {
        "dag_runs": [  # newest first, as asked
            {"dag_run_id": "c", "partition_key": "2026-11-02"},
            {"dag_run_id": "b", "partition_key": "2026-11-01"},
            {"dag_run_id": "a", "partition_key": "2026-11-01"},
        ]
    }
    client = Scripted({("GET", "/dags/d/dagRuns"): [response(200, runs)]})
    found = client.new_runs("d", {"a"}, ["2026-11-01", "2026-11-02"], seconds=5)
    assert {key: run["dag_run_id"] for key, run in found.items()} == {"2026-11-01": "b", "2026-11-02": "c"}


def test_a_refused_token_is_renewed_once(monkeypatch):
    tokens = iter(["old", "new"])
    sent: list[str] = []
    monkeypatch.setattr(AirflowApi, "_login", lambda self: next(tokens))

    def request(method, url, headers, timeout, **kwargs):
        sent.append(headers["Authorization"])
        return response(401 if headers["Authorization"] == "Bearer old" else 200)

    monkeypatch.setattr(airflow_api.requests, "request", request)
    assert AirflowApi("http://airflow", "secret").api("GET", "/dags").status_code == 200
    assert sent == ["Bearer old", "Bearer new"]


def test_a_server_error_is_tried_again_except_for_a_post(monkeypatch):
    statuses: list[str] = []
    monkeypatch.setattr(AirflowApi, "_login", lambda self: "token")

    def request(method, url, headers, timeout, **kwargs):
        statuses.append(method)
        return response(500 if len(statuses) < 3 else 200)

    monkeypatch.setattr(airflow_api.requests, "request", request)
    client = AirflowApi("http://airflow", "secret")
    assert client.api("GET", "/dags").status_code == 200 and statuses == ["GET"] * 3
    statuses.clear()
    assert client.api("POST", "/dags/d/dagRuns").status_code == 500 and statuses == ["POST"]


def test_a_timeout_is_tried_again_except_for_a_post(monkeypatch):
    sent: list[str] = []
    monkeypatch.setattr(AirflowApi, "_login", lambda self: "token")

    def request(method, url, headers, timeout, **kwargs):
        sent.append(method)
        if len(sent) == 1:
            raise requests.ReadTimeout("busy")
        return response(200)

    monkeypatch.setattr(airflow_api.requests, "request", request)
    client = AirflowApi("http://airflow", "secret")
    assert client.api("GET", "/dags").status_code == 200 and sent == ["GET", "GET"]
    sent.clear()
    with pytest.raises(requests.ReadTimeout):
        client.api("POST", "/dags/d/dagRuns")


def test_an_active_backfill_is_waited_for_then_named(monkeypatch):
    active = {
        "backfills": [
            {
                "id": 7,
                "completed_at": None,
                "from_date": "2026-11-01T00:00:00Z",
                "to_date": "2026-11-03T00:00:00Z",
            }
        ]
    }
    done = {"backfills": [{**active["backfills"][0], "completed_at": "2026-12-02T10:00:00Z"}]}
    client = Scripted({("GET", "/backfills"): [response(200, active), response(200, done)]})
    client.wait_for_backfills("d", seconds=60)
    assert len(client.calls) == 2
    client = Scripted({("GET", "/backfills"): [response(200, active)]})
    monkeypatch.setattr(airflow_api.time, "monotonic", iter([0.0, 0.0, 100.0]).__next__)
    with pytest.raises(SystemExit, match=r"still active: 7 \(2026-11-01 to 2026-11-03\).*cancel"):
        client.wait_for_backfills("d", seconds=60)


def test_a_triggered_run_is_due_before_todays_scheduled_one():
    now = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    assert run_after_for(date(2026, 11, 27), now) == datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC)
    assert run_after_for(date(2026, 12, 2), now) == datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)
