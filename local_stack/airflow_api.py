"""The REST driver every runner shares (``make run``, ``make backfill``, ``make run EXECUTOR=celery``):
Airflow's API v2 on a running stack, the standalone one or the Celery cluster.

It logs in once (``/auth/token``) and again when the token is refused; it triggers runs with a partition key,
creates backfills, and follows runs to their end, handing each poll's task instances to a watcher
(``local_stack.progress.Follower``'s by default: one line per task instance as it finishes, the progress of a
long CSV landing).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from typing import Any

import requests

from local_stack.progress import Follower

ADMIN = "admin"
POLL_SECONDS = 2.0
SERVER_ERROR_TRIES = 3
REQUEST_SECONDS = 60.0
RUN_SECONDS = 900.0
FINISHED_RUN = frozenset({"success", "failed"})

UNASKED_NOTE = (
    "Created by the scheduler when a runner of this project unpaused the DAG, and stopped by it: not asked "
    "for (see AirflowApi.unpaused)."
)

Watcher = Callable[[list[dict]], None]
"""Called at each poll of a started run with its task instances' REST JSON (``GET .../taskInstances``)."""


def midnight(day: date) -> datetime:
    return datetime.combine(day, day_time(), tzinfo=UTC)


@dataclass
class AirflowApi:
    url: str
    password: str
    username: str = ADMIN
    _token: str | None = field(default=None, repr=False)

    def _login(self) -> str:
        answer = requests.post(
            f"{self.url}/auth/token", json={"username": self.username, "password": self.password}, timeout=10
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    def headers(self) -> dict[str, str]:
        if self._token is None:
            self._token = self._login()
        return {"Authorization": f"Bearer {self._token}"}

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """``method /api/v2{path}``; a refused (expired) token is renewed once, and an idempotent request
        that met a server error or a timeout (SQLite busy with the scheduler's writes, a loaded machine) is
        tried again, up to 3 times in all."""
        renewed = False
        last = SERVER_ERROR_TRIES - 1
        for attempt in range(SERVER_ERROR_TRIES):
            try:
                answer = self._send(method, path, **kwargs)
                if answer.status_code == 401 and not renewed:
                    self._token, renewed = None, True
                    answer = self._send(method, path, **kwargs)
            except requests.Timeout:
                if method == "POST" or attempt == last:
                    raise
                continue
            if answer.status_code < 500 or method == "POST" or attempt == last:
                return answer
            time.sleep(1)
        return answer

    def _send(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        return requests.request(
            method,
            f"{self.url}/api/v2{path}",
            headers={**self.headers(), **(headers or {})},
            timeout=REQUEST_SECONDS,
            **kwargs,
        )

    def checked(self, method: str, path: str, what: str, **kwargs: Any) -> dict:
        """The answer's JSON; a refusal ends the runner with Airflow's own reason, naming ``what``."""
        answer = self.api(method, path, **kwargs)
        if answer.status_code >= 400:
            raise SystemExit(f"{what} failed: {answer.status_code} {answer.text}")
        return answer.json() if answer.content else {}

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.checked(
            "PATCH",
            f"/dags/{dag_id}",
            f"{'Pausing' if paused else 'Unpausing'} {dag_id}",
            json={"is_paused": paused},
        )

    def dag_runs(self, dag_id: str, **filters: Any) -> list[dict]:
        """The newest 100 runs of ``dag_id`` (newest first) matching the API's ``filters``."""
        query = {"limit": 100, "order_by": "-id", **filters}
        return self.checked("GET", f"/dags/{dag_id}/dagRuns", f"Listing the runs of {dag_id}", params=query)[
            "dag_runs"
        ]

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.checked("GET", f"/dags/{dag_id}/dagRuns/{run_id}", f"Reading run {run_id} of {dag_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.checked(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
            f"Reading the tasks of {run_id}",
            params={"limit": 1000},
        )["task_instances"]

    def trigger(self, dag_id: str, partition_key: str, conf: dict, run_after: datetime | None = None) -> dict:
        """A manual run of a partitioned DAG for ``partition_key``: no logical date (the partition is the
        run's identity), ``run_after`` when given (see ``unpaused``)."""
        body: dict[str, Any] = {"logical_date": None, "partition_key": partition_key, "conf": conf}
        if run_after:
            body["run_after"] = run_after.isoformat()
        return self.checked(
            "POST", f"/dags/{dag_id}/dagRuns", f"Triggering {dag_id} for {partition_key}", json=body
        )

    def backfill_body(
        self, dag_id: str, first: date, last: date, conf: dict, reprocess: str, max_active_runs: int
    ) -> dict:
        """For a partitioned DAG the range is the partition dates': midnight of the first and last day."""
        return {
            "dag_id": dag_id,
            "from_date": midnight(first).isoformat(),
            "to_date": midnight(last).isoformat(),
            "dag_run_conf": conf,
            "reprocess_behavior": reprocess,
            "max_active_runs": max_active_runs,
        }

    def backfill_partitions(self, body: dict) -> list[str]:
        """The partition keys a backfill with ``body`` would create runs for (Airflow's dry run)."""
        answer = self.checked(
            "POST", "/backfills/dry_run", f"Planning the backfill of {body['dag_id']}", json=body
        )
        return [run["partition_key"] for run in answer["backfills"]]

    def wait_for_backfills(self, dag_id: str, seconds: float) -> None:
        """Until no backfill of ``dag_id`` is active: the scheduler marks one completed every 30 s once its
        runs have finished. One still active after ``seconds`` (an interrupted one, say, whose runs go on
        whenever a scheduler runs) ends the runner, naming it."""
        deadline = time.monotonic() + seconds
        while True:
            listing = self.checked(
                "GET",
                "/backfills",
                f"Listing the backfills of {dag_id}",
                params={"dag_id": dag_id, "limit": 100, "order_by": "-id"},
            )
            active = [backfill for backfill in listing["backfills"] if backfill["completed_at"] is None]
            if not active:
                return
            if time.monotonic() > deadline:
                names = ", ".join(f"{b['id']} ({b['from_date'][:10]} to {b['to_date'][:10]})" for b in active)
                raise SystemExit(
                    f"A backfill of {dag_id} is still active: {names}. Its runs go on whenever a scheduler "
                    f"runs; cancel it with PUT /api/v2/backfills/<id>/cancel (e.g. on make airflow)."
                )
            time.sleep(POLL_SECONDS)

    def create_backfill(self, body: dict) -> dict:
        return self.checked("POST", "/backfills", f"Creating the backfill of {body['dag_id']}", json=body)

    def follow(
        self,
        runs: Iterable[tuple[str, str]],
        watch: Watcher | None = None,
        seconds: float = RUN_SECONDS,
        while_waiting: Callable[[], None] | None = None,
    ) -> dict[tuple[str, str], dict]:
        """Wait until every ``(dag_id, run_id)`` has finished, handing each poll's task instances to ``watch``
        (a new ``Follower`` by default); the runs' final JSON by ``(dag_id, run_id)``. ``while_waiting`` is
        called at every poll (e.g. to drop runs an unpause created)."""
        if watch is None:
            watch = Follower(self.api).follow
        pending = list(runs)
        finished: dict[tuple[str, str], dict] = {}
        deadline = time.monotonic() + seconds
        while pending:
            if while_waiting:
                while_waiting()
            for dag_id, run_id in list(pending):
                run = self.dag_run(dag_id, run_id)
                if run["state"] == "queued":
                    continue  # no task has started: spare the metadata DB the question
                watch(self.task_instances(dag_id, run_id))
                if run["state"] in FINISHED_RUN:
                    finished[dag_id, run_id] = run
                    pending.remove((dag_id, run_id))
            if not pending:
                break
            if time.monotonic() > deadline:
                names = ", ".join(f"{dag_id} {run_id}" for dag_id, run_id in pending)
                raise SystemExit(f"Not finished within {seconds:.0f} s: {names}")
            time.sleep(POLL_SECONDS)
        return finished

    def new_runs(
        self, dag_id: str, before: set[str], partitions: Iterable[str], seconds: float, **filters: Any
    ) -> dict[str, dict]:
        """By partition key, the first run of ``dag_id`` not in ``before`` (and matching the API's
        ``filters``) for each of ``partitions``: runs something else created, e.g. an asset event or a
        backfill. Waits up to ``seconds`` for them all to exist."""
        wanted = set(partitions)
        found: dict[str, dict] = {}
        deadline = time.monotonic() + seconds
        while True:
            # Oldest first: the first new run of a partition wins.
            for run in reversed(self.dag_runs(dag_id, **filters)):
                key = run.get("partition_key")
                if run["dag_run_id"] not in before and key in wanted and key not in found:
                    found[key] = run
            if len(found) == len(wanted) or time.monotonic() > deadline:
                return found
            time.sleep(POLL_SECONDS)

    def run_ids(self, dag_id: str) -> set[str]:
        return {run["dag_run_id"] for run in self.dag_runs(dag_id)}

    @contextmanager
    def unpaused(self, dag_id: str) -> Iterator[Callable[[], None]]:
        """``dag_id`` unpaused until exit, then paused again; yields a function, for ``follow`` to call at
        every poll, that stops the scheduled runs the unpause created: the runners ask for every run.

        The unpause race: unpausing a DAG whose latest cron tick has no run yet makes the scheduler create a
        scheduled run for it (today's partition). A manual run triggered while paused with a ``run_after``
        before today's midnight goes first (``max_active_runs=1``), so the scheduled one waits queued
        (``make run``); a backfill's runs are scheduled apart from it, and Airflow starts it at once. Either
        way it is marked failed as soon as it is seen, with a note saying why, which stops its tasks. It is
        kept, not deleted: as the DAG's latest run it is what tells the scheduler that today's tick has its
        run, while a deleted one is created again at the DAG's next parse.
        """
        stopped: set[str] = set()

        def stop_unasked_runs() -> None:
            for run in self.dag_runs(dag_id, run_type="scheduled", state=["queued", "running"]):
                run_id = run["dag_run_id"]
                if run_id in stopped:
                    continue
                stop = {"state": "failed", "note": UNASKED_NOTE}
                answer = self.api("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", json=stop)
                if not answer.ok:
                    continue  # e.g. SQLite busy with the scheduler's writes: again at the next poll
                stopped.add(run_id)
                print(
                    f"Stopped {run_id} ({run['state']}), created by the unpause: not asked for.",
                    file=sys.stderr,
                    flush=True,
                )

        self.set_paused(dag_id, False)
        try:
            stop_unasked_runs()
            yield stop_unasked_runs
        finally:
            try:  # on the way out, perhaps interrupted: a stack that is gone is paused enough
                self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
            except requests.RequestException:
                pass


def run_after_for(day: date, now: datetime | None = None) -> datetime:
    """A ``run_after`` before both the partition's and today's midnight: a manual run with it is queued ahead
    of the scheduled run an unpause creates for today (see ``AirflowApi.unpaused``)."""
    today = midnight((now or datetime.now(UTC)).date())
    return min(midnight(day), today) - timedelta(seconds=1)
