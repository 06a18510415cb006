"""ASHA end to end: a 4-trial sweep runs to completion, ASHA stops trials mid-run, and every stopped trial's
Ray Train placement group is freed (no CREATED group left, the cluster's CPUs all available again).

Trials run one at a time, so ASHA's first rung compares each later trial with those before it: the first trial
(a usable learning rate) sets the bar and the three with a learning rate too small to move the generator fall
under it after their first validation report and are stopped with their Train run still alive."""
import time

import pytest

from medray.tune.release import recorded_groups
from medray.tune.runner import run_sweep
from medray.tune.space import load_space

SPACE = """
model: iotgan
description: ASHA smoke sweep
metric: val_psnr
mode: max
max_concurrent_trials: 1
resources_per_trial: {workers: 1, cpu: 1, gpu: 0}
base:
  max_epochs: 3
  patch: 32
  batch_size: 2
  val_max_slices: 2
  val_batch_size: 2
  augment: false
  generator: {width: 8, depth: 1}
  discriminator: {width: 8, n_layers: 2}
params:
  lr: {grid: [0.002, 1.0e-9, 2.0e-9, 3.0e-9]}
"""

LIVE = ("CREATED", "PENDING", "PREPARED", "RESCHEDULING")


def _live_groups(ids) -> set[str]:
    import ray

    table = ray.util.placement_group_table()
    return {i for i in ids if table.get(i, {}).get("state") in LIVE}


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_asha_sweep_stops_trials_and_frees_their_placement_groups(ray_session, tiny_shards, tmp_path):
    ray = ray_session
    space_file = tmp_path / "asha.yaml"
    space_file.write_text(SPACE)
    before_groups = set(ray.util.placement_group_table())
    cpus_before = ray.available_resources().get("CPU", 0.0)

    out = tmp_path / "sweep"
    outcome = run_sweep(load_space(space_file), tiny_shards, out, scheduler="asha")

    assert outcome.n_errored == 0
    assert len(outcome.rows) == 4
    statuses = {r["trial_id"]: r["status"] for r in outcome.rows}
    stopped = [t for t, s in statuses.items() if s == "unfinished"]
    assert stopped, f"ASHA stopped no trial, so the test shows nothing: {statuses}"
    assert "done" in statuses.values()
    assert len(outcome.tensorboard_dirs) == 4  # Tune's TensorBoard event files, one folder per trial
    for trial_id in stopped:  # each stopped trial had a live Train run with its own placement group
        assert recorded_groups(out / "trials", trial_id), trial_id
    ours = set(ray.util.placement_group_table()) - before_groups
    assert ours, "the sweep's Train runs created no placement group"

    deadline = time.monotonic() + 60  # removal is asynchronous in the GCS; the CPUs come back shortly after
    while time.monotonic() < deadline:
        live = _live_groups(ours)
        cpus = ray.available_resources().get("CPU", 0.0)
        if not live and cpus >= cpus_before:
            break
        time.sleep(1.0)
    assert not live, f"placement groups still held after the sweep: {sorted(live)}"
    assert cpus == pytest.approx(cpus_before), (cpus, cpus_before)
    if cpus_before == ray.cluster_resources().get("CPU"):
        assert ray.available_resources().get("CPU") == ray.cluster_resources().get("CPU")
