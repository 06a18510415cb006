"""Free the placement groups of trials that Tune has stopped (ASHA, errors, Ctrl+C).

A trial is a Tune actor driving one Ray Train run. When Tune stops the trial early, the trial's actor is
terminated and the Train controller it owns dies with it, ungracefully: the placement group holding the run's
workers stays CREATED for the life of the job. Ray Train's own ``PlacementGroupCleaner`` only works where the
state API (dashboard) of the right cluster is reachable from the workers, so medray does not rely on it:

- ``PlacementGroupRecorder`` (a Train worker-group callback, run in the controller) appends each placement group
  it starts to ``<evals_dir>/<trial id>/placement_groups.jsonl``;
- ``ReleaseStoppedTrials`` (a Tune callback, run in the sweep driver) removes every recorded group of a trial
  that Tune marks TERMINATED or ERROR and that is still CREATED; it re-checks while the sweep runs (a stopped
  controller may retry once and make a new group) and once more at the end.

A trial that finished normally has already removed its group (Train does that on a clean shutdown), so for it
this is a no-op.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from ray.train.v2._internal.execution.callback import WorkerGroupCallback  # internal: no public hook for the PG
from ray.tune import Callback

log = logging.getLogger(__name__)

PG_LOG = "placement_groups.jsonl"
RECHECK_S = 2.0  # how often (at most) the driver re-checks stopped trials while the sweep runs


def pg_log(evals_dir: str | Path, trial_id: str) -> Path:
    return Path(evals_dir) / trial_id / PG_LOG


def recorded_groups(evals_dir: str | Path, trial_id: str) -> list[str]:
    """Hex ids of the placement groups a trial's Train run started, oldest first."""
    path = pg_log(evals_dir, trial_id)
    if not path.is_file():
        return []
    return [json.loads(line)["placement_group"] for line in path.read_text().splitlines() if line.strip()]


class PlacementGroupRecorder(WorkerGroupCallback):
    """Runs in the Train controller: record every worker group's placement group under the trial."""

    def __init__(self, evals_dir: str, trial_id: str):
        self.evals_dir = evals_dir
        self.trial_id = trial_id

    def after_worker_group_start(self, worker_group) -> None:
        pg = worker_group.get_worker_group_state().placement_group_handle.placement_group
        path = pg_log(self.evals_dir, self.trial_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps({"placement_group": pg.id.hex(), "time": time.time()}) + "\n")


def release_groups(pg_ids: list[str]) -> list[str]:
    """Remove those of ``pg_ids`` that are still CREATED (or PENDING); returns the ids removed."""
    import ray
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup, remove_placement_group

    if not pg_ids:
        return []
    table = ray.util.placement_group_table()
    removed = []
    for pg_id in pg_ids:
        if table.get(pg_id, {}).get("state") not in ("CREATED", "PENDING", "PREPARED", "RESCHEDULING"):
            continue
        try:
            remove_placement_group(PlacementGroup(PlacementGroupID(bytes.fromhex(pg_id))))
            removed.append(pg_id)
        except Exception as e:  # already gone between the table read and now: nothing left to free
            log.debug("placement group %s: %s", pg_id, e)
    return removed


class ReleaseStoppedTrials(Callback):
    """Runs in the sweep driver: free the recorded placement groups of every stopped or failed trial."""

    def __init__(self, evals_dir: str):
        self.evals_dir = evals_dir
        self._last = 0.0
        self.released: dict[str, list[str]] = {}  # trial id → placement groups this callback removed

    def _release(self, trials: list[Any], *, stopping: bool = False) -> None:
        from ray.tune.experiment import Trial

        for trial in trials:
            # on_trial_complete/on_trial_error come just before Tune sets the final status
            if not stopping and trial.status not in (Trial.TERMINATED, Trial.ERROR):
                continue
            removed = release_groups(recorded_groups(self.evals_dir, trial.trial_id))
            if removed:
                log.info("trial %s was stopped with its Train run alive: freed placement group(s) %s",
                         trial.trial_id, ", ".join(removed))
                self.released.setdefault(trial.trial_id, []).extend(removed)

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        self._release([trial], stopping=True)

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        self._release([trial], stopping=True)

    def on_step_end(self, iteration: int, trials: list, **info) -> None:
        if time.monotonic() - self._last >= RECHECK_S:
            self._last = time.monotonic()
            self._release(trials)

    def on_experiment_end(self, trials: list, **info) -> None:
        self._release(trials)
