"""``medray tune``: a Ray Tune sweep whose trials each launch one Ray Train run, resumable after interruption.

Layout under ``--out``::

    tune/<space name>/      Tune experiment state (what ``--resume`` restores)
    runs/<trial id>/        each trial's Ray Train run (checkpoints); run name = trial id
    trials/<trial id>/      the trial's test-split evaluation and its launch log
    results.csv, results.md, *.png   the summary (rewritten after every sweep or resume)
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from medray.config import ConfigError
from medray.tune.space import Distribution, SweepSpace, load_space
from medray.tune.trainable import TrialSetup, train_trial

log = logging.getLogger(__name__)

DRIVER_CPU = 0.1  # the trial itself only drives the Train run; its workers hold the real resources
ASHA_MAX_T = 10_000  # in reports; large so ASHA never cuts the final test-evaluation report of a full run


@dataclass
class SweepOutcome:
    experiment_path: Path
    rows: list[dict[str, Any]]
    table: Path
    csv: Path
    plots: list[Path]
    n_errored: int
    released: dict[str, list[str]] = field(default_factory=dict)  # trial id → placement groups freed for it

    @property
    def tensorboard_dirs(self) -> list[Path]:
        """Trial folders holding Tune's TensorBoard event files (``tensorboard --logdir experiment_path``)."""
        return sorted({p.parent for p in self.experiment_path.glob("*/events.out.tfevents.*")})


def _tune_distribution(d: Distribution):
    from ray import tune

    if d.kind == "grid":
        return tune.grid_search(list(d.values))
    if d.kind == "choice":
        return tune.choice(list(d.values))
    if d.kind == "uniform":
        return tune.uniform(*d.values)
    return tune.loguniform(*d.values)


def param_space(space: SweepSpace) -> dict[str, Any]:
    """Tune's param space: the variant grid plus one distribution per dotted key (kept under ``params``)."""
    from ray import tune

    out: dict[str, Any] = {"params": {k: _tune_distribution(d) for k, d in space.params.items()}}
    if space.variants:
        out["variant"] = tune.grid_search([v.name for v in space.variants])
    return out


def trial_setup(space: SweepSpace, shards: Path, out: Path, max_epochs: int | None,
                max_steps: int | None) -> TrialSetup:
    base = dict(space.base)
    if max_epochs is not None:
        base["max_epochs"] = max_epochs
    if max_steps is not None:
        base["max_steps"] = max_steps
    return TrialSetup(
        model=space.model, shards=str(shards.resolve()), runs_dir=str((out / "runs").resolve()),
        evals_dir=str((out / "trials").resolve()), metric=space.metric, mode=space.mode, base=base,
        variants={v.name: dict(v.overrides) for v in space.variants},
        workers=int(space.resources["workers"]), cpu_per_worker=float(space.resources["cpu"]),
        gpu_per_worker=float(space.resources["gpu"]),
    )


def _scheduler(name: str):
    if name == "fifo":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="training_iteration", max_t=ASHA_MAX_T, grace_period=1, reduction_factor=2)


def run_sweep(space: SweepSpace, shards: Path, out: Path, *, num_samples: int | None = None,
              scheduler: str = "fifo", max_epochs: int | None = None, max_steps: int | None = None,
              resume: bool = False, tune_callbacks: Sequence[Any] = (), address: str | None = None) -> SweepOutcome:
    """Run (or resume) the sweep and write its table and plots. ``tune_callbacks`` go to Tune's RunConfig.
    ``address``: the Ray cluster (see medray.tune.cluster.connect), joined once the inputs are checked."""
    import ray
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from medray.tune.cluster import connect
    from medray.tune.plots import write_plots
    from medray.tune.release import ReleaseStoppedTrials
    from medray.tune.results import collect_rows, write_tables

    if scheduler not in ("fifo", "asha"):
        raise ConfigError(f"scheduler={scheduler!r} is not valid; choose one of ['asha', 'fifo']")
    if not shards.is_dir():
        raise ConfigError(f"--shards {str(shards)!r} is not a folder of shards")
    out.mkdir(parents=True, exist_ok=True)
    exp_path = (out / "tune" / space.name).resolve()
    setup = trial_setup(space, shards, out, max_epochs, max_steps)
    trainable = tune.with_resources(tune.with_parameters(train_trial, setup=setup), {"cpu": DRIVER_CPU})
    # a trial stopped by ASHA (or failed, or interrupted) leaves its Train run's placement group behind
    release = ReleaseStoppedTrials(setup.evals_dir)

    if resume:
        if not tune.Tuner.can_restore(str(exp_path)):
            raise ConfigError(f"--resume: no sweep to resume at {str(exp_path)!r}; run without --resume first")
        connect(address)
        log.info("resuming sweep %s", exp_path)
        tuner = tune.Tuner.restore(str(exp_path), trainable=trainable, resume_unfinished=True,
                                   resume_errored=True)
        # the restored RunConfig carries the first run's (pickled) callbacks: use this run's instead
        tuner._local_tuner.get_run_config().callbacks = [release, *tune_callbacks]
    else:
        if exp_path.exists():
            raise ConfigError(f"a sweep already exists at {str(exp_path)!r}; pass --resume to finish it, "
                              "or choose another --out")
        connect(address)
        cpus = ray.cluster_resources().get("CPU", 1)
        need = setup.workers * setup.cpu_per_worker + DRIVER_CPU
        if need > cpus:
            raise ConfigError(f"resources_per_trial needs {need:g} CPUs per trial but the cluster has {cpus:g}")
        tuner = tune.Tuner(
            trainable,
            param_space=param_space(space),
            tune_config=tune.TuneConfig(
                metric=space.metric, mode=space.mode, num_samples=num_samples or space.num_samples,
                scheduler=_scheduler(scheduler),
                # Tune ignores TuneConfig.max_concurrent_trials for a given BasicVariantGenerator: limit it here
                search_alg=BasicVariantGenerator(max_concurrent=space.max_concurrent_trials,
                                                 random_state=space.search_seed),
            ),
            run_config=tune.RunConfig(name=space.name, storage_path=str(exp_path.parent),
                                      callbacks=[release, *tune_callbacks], verbose=1),
        )
    grid = tuner.fit()  # Ctrl+C: Tune saves its state and returns; unfinished trials show up below
    n_errored = len(grid.errors)
    for err in grid.errors:
        log.error("trial failed: %s", err)
    rows = collect_rows(grid, space, setup)
    csv, table = write_tables(rows, space, out)
    plots = write_plots(rows, space, out)
    return SweepOutcome(experiment_path=exp_path, rows=rows, table=table, csv=csv, plots=plots,
                        n_errored=n_errored, released=dict(release.released))


def tune_from_cli(args) -> int:
    """Entry point of ``medray tune`` (flags parsed in medray/cli.py)."""
    space = load_space(args.space)  # validates everything before Ray starts
    outcome = run_sweep(space, shards=args.shards, out=args.out, num_samples=args.num_samples,
                        scheduler=args.scheduler, max_epochs=args.max_epochs,
                        max_steps=getattr(args, "max_steps", None), resume=args.resume,
                        address=getattr(args, "address", None))
    print(outcome.table.read_text())
    print(f"medray tune: {len(outcome.rows)} trial(s); table {outcome.table}; csv {outcome.csv}; "
          f"plots {', '.join(str(p) for p in outcome.plots) or 'none'}")
    n_tb = len(outcome.tensorboard_dirs)
    print(f"medray tune: TensorBoard logs of {n_tb} trial(s): tensorboard --logdir {outcome.experiment_path}")
    unfinished = sum(r["status"] == "unfinished" for r in outcome.rows)
    if unfinished and args.scheduler == "fifo":  # with ASHA, unfinished = stopped early on purpose
        print(f"medray tune: interrupted with {unfinished} trial(s) unfinished; rerun with --resume to finish them",
              file=sys.stderr)
        return 130
    return 1 if outcome.n_errored else 0
