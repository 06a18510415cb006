"""The ``medray`` command. Parses and validates flags, then calls one function of the package that owns the
work (imported lazily so ``medray --help`` stays fast). No logic lives here."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from medray.config import ConfigError, MedrayError
from medray.vitals.security import add_arguments as add_kafka_security_arguments


def _scales(text: str) -> tuple[int, ...]:
    try:
        scales = tuple(sorted({int(s) for s in text.split(",") if s.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scales {text!r}: expected a comma list drawn from 2,4") from None
    if not scales or any(s not in (2, 4) for s in scales):
        raise argparse.ArgumentTypeError(f"--scales {text!r}: valid scales are 2 and 4")
    return scales


def _kind(text: str) -> str:
    """A model kind of medray.tasks.KINDS (imported only when --model is parsed: `medray --help` stays fast)."""
    from medray import tasks

    try:
        return tasks.get(text).name
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be ≥ 1")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="medray",
        description="Medical scan super-resolution and synthesis on Ray, conditioned on live IoT vitals.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("demo", help="end to end on embedded defaults: data, ingest, train, eval, serve, report")
    s.add_argument("--quick", action="store_true", help="tiny budget (≈5 min on 2 cores)")
    s.add_argument("--out", type=Path, default=Path("medray-demo"), help="output folder (default ./medray-demo)")
    s.add_argument("--keep-serving", action="store_true", help="leave the Serve app and broker running; print URLs")

    s = sub.add_parser("demo-data", help="build BraTS-style NIfTI + DICOM demo data from scans shipped in PyPI packages")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--patients", type=_positive, default=12)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--source", choices=("synthetic", "real"), default="synthetic",
                   help="synthetic (default): the MNI152-based cohort; real: only real scans, OUT/train + OUT/eval "
                        "(docs/data.md; --patients/--seed do not apply)")

    s = sub.add_parser("ingest", help="scans (NIfTI, BraTS folders, DICOM) → de-identified Parquet shards (Ray Data)")
    s.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--scales", type=_scales, default=(2, 4), help="LR scales, comma list of 2,4 (default 2,4)")
    s.add_argument("--seed", type=int, default=0, help="split and degradation seed")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--salt", help="pseudonymisation salt (required: --salt, --salt-file or env MEDRAY_SALT)")
    g.add_argument("--salt-file", type=Path, help="file holding the salt")
    s.add_argument("--vitals", type=Path, help="per-patient vitals table (CSV/Parquet): patient_id,heart_rate,spo2,temperature,mobility")
    s.add_argument("--ct-window", default="soft_tissue", help="CT HU window name (soft_tissue, brain, lung, bone)")
    s.add_argument("--file-timeout", type=float, default=60.0, help="seconds allowed per input file")

    s = sub.add_parser("models", help="model information")
    msub = s.add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")
    ms = msub.add_parser("summary", help="parameters, fp32 MB and FLOPs at 256×256 of every model")
    ms.add_argument("--json", action="store_true")

    s = sub.add_parser("train", help="train a model kind (IoT-GAN, the SR baseline, PixMed cGAN) on Ray Train (DDP)")
    s.add_argument("--shards", type=Path, required=True)
    s.add_argument("--model", required=True, metavar="KIND", type=_kind,
                   help="model kind, a key of medray.tasks.KINDS (docs/models.md); a wrong one lists the valid kinds")
    s.add_argument("--name", required=True, help="run name; rerunning the same name+storage resumes")
    s.add_argument("--storage", type=Path, required=True, help="Ray Train storage_path")
    s.add_argument("--config", type=Path, help="YAML training config")
    s.add_argument("--preset", choices=["paper", "fast"],
                   help="named recipe (docs/models.md): paper = paper A's settings, fast = the CPU recipe of the "
                        "shipped weights; --config and flags override it")
    s.add_argument("--num-workers", type=_positive)
    s.add_argument("--use-gpu", action="store_true")
    s.add_argument("--scale", type=int, choices=[2, 4])
    s.add_argument("--patch", type=_positive, help="HR crop size")
    s.add_argument("--max-epochs", type=_positive)
    s.add_argument("--max-steps", type=_positive, help="stop after this many optimizer steps in total")
    s.add_argument("--batch-size", type=_positive, help="global batch size")
    s.add_argument("--time-budget", type=float, help="stop at the first epoch end after this many seconds of training")
    s.add_argument("--perceptual", choices=["vgg19", "none"], help="perceptual loss (vgg19 needs MEDRAY_VGG19_WEIGHTS)")

    s = sub.add_parser("eval", help="evaluate a checkpoint against bicubic/nearest on a split")
    s.add_argument("--checkpoint", type=Path,
                   help="checkpoint (.pt or folder); default: the shipped medray/weights/iotgan_x<--scale>.pt")
    s.add_argument("--scale", type=int, choices=[2, 4], default=2, help="which shipped weights, without --checkpoint")
    s.add_argument("--shards", type=Path, required=True)
    s.add_argument("--split", choices=["train", "val", "test"], default="test")
    s.add_argument("--out", type=Path, required=True)

    s = sub.add_parser("tune", help="Ray Tune sweep over a search space YAML")
    s.add_argument("space", type=Path, metavar="SPACE.yaml")
    s.add_argument("--shards", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--num-samples", type=_positive)
    s.add_argument("--scheduler", choices=["asha", "fifo"], default="fifo")
    s.add_argument("--max-epochs", type=_positive)
    s.add_argument("--max-steps", type=_positive)
    s.add_argument("--resume", action="store_true")
    s.add_argument("--address", help="Ray cluster (GCS HOST:PORT, as `ray start --head` prints); default: "
                   "$RAY_ADDRESS, else a private local Ray")

    s = sub.add_parser("broker", help="run the embedded Kafka-compatible broker (tansu) in the foreground")
    s.add_argument("--port", type=int, default=9092)

    s = sub.add_parser("vitals-sim", help="stream simulated patient vitals to Kafka")
    s.add_argument("--bootstrap", required=True, help="HOST:PORT")
    s.add_argument("--patients", type=_positive, default=4)
    s.add_argument("--hz", type=float, default=1.0)
    s.add_argument("--duration", type=float, default=60.0, help="seconds (bounded)")
    s.add_argument("--topic", default="medray.vitals")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--format", choices=["medray", "fhir"], default="medray",
                   help="medray JSON v1, or FHIR R4 Observations (one per vital)")
    add_kafka_security_arguments(s)

    s = sub.add_parser("serve", help="start the Ray Serve HTTP apps (enhance, augment, viewer)")
    s.add_argument("--checkpoint", type=Path, help="IoT-GAN checkpoint (default: the one in the config)")
    s.add_argument("--synth-checkpoint", type=Path, help="PixMed cGAN checkpoint (default: the one in the config)")
    s.add_argument("--kafka", help="Kafka bootstrap HOST:PORT (default: start the embedded broker)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--config", type=Path, default=None,
                   help="Serve config (default: the package's medray/serve/medray.yaml)")
    s.add_argument("--insecure-dev", action="store_true",
                   help="DEVELOPMENT ONLY: start without MEDRAY_API_TOKEN, listening on 127.0.0.1 only "
                        "(without a token and without this flag, serve refuses to start)")
    s = sub.add_parser("pacs", help="PACS round trips over DICOMweb (QIDO-RS, WADO-RS, STOW-RS)")
    psub = s.add_subparsers(dest="pacs_command", required=True, metavar="SUBCOMMAND")
    ps = psub.add_parser("enhance", help="enhance a study's series and store the derived series back (docs/pacs.md)")
    ps.add_argument("--dicomweb", required=True, metavar="URL", help="DICOMweb root, e.g. http://pacs:8042/dicom-web")
    ps.add_argument("--study", required=True, metavar="UID", help="Study Instance UID")
    ps.add_argument("--series", metavar="UID", help="one Series Instance UID (default: every CT/MR series)")
    ps.add_argument("--checkpoint", type=Path, help="SR checkpoint (default: the shipped weights)")
    ps.add_argument("--serve", metavar="URL", help="enhance on this medray Serve app (token: env MEDRAY_API_TOKEN) "
                                                  "instead of in this process")
    ps.add_argument("--token-file", type=Path, help="file holding the PACS bearer token")
    return p


def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "demo":
        from medray.demo.run import run_demo

        return run_demo(out=args.out, quick=args.quick, keep_serving=args.keep_serving)
    if cmd == "demo-data" and args.source == "real":
        from medray.datasets.real_corpus import build_real_corpus, summary

        print(summary(build_real_corpus(args.out)))
        return 0
    if cmd == "demo-data":
        from medray.datasets.demo_corpus import make_demo_data

        make_demo_data(out=args.out, patients=args.patients, seed=args.seed)
        return 0
    if cmd == "ingest":
        from medray.ingest.run import run_ingest
        from medray.ingest.deid import resolve_salt

        summary = run_ingest(
            paths=args.paths, out=args.out, scales=args.scales, seed=args.seed,
            salt=resolve_salt(args.salt, args.salt_file), vitals=args.vitals,
            ct_window=args.ct_window, file_timeout_s=args.file_timeout,
        )
        if summary.n_slices == 0:
            print(f"medray ingest: nothing was ingested ({summary.n_rejects} file(s) refused, see {args.out}/rejects.jsonl)",
                  file=sys.stderr)
            return 1
        return 0
    if cmd == "models":
        from medray.models.summary import model_summary, format_summary

        rows = model_summary()
        print(json.dumps(rows, indent=2) if args.json else format_summary(rows))
        return 0
    if cmd == "train":
        from medray.train.run import train_from_cli

        return train_from_cli(args)
    if cmd == "eval":
        from medray.evaluate.checkpoint import evaluate_checkpoint

        from medray.weights import checkpoint_or_default

        ckpt = checkpoint_or_default(args.checkpoint, "sr", args.scale)
        if ckpt is None:
            raise ConfigError(f"no --checkpoint given and no shipped medray/weights/iotgan_x{args.scale}.pt")
        evaluate_checkpoint(checkpoint=ckpt, shards=args.shards, split=args.split, out=args.out)
        return 0
    if cmd == "tune":
        from medray.tune import tune_from_cli

        return tune_from_cli(args)
    if cmd == "broker":
        from medray.vitals.broker import run_broker_foreground

        return run_broker_foreground(port=args.port)
    if cmd == "vitals-sim":
        from medray.vitals.security import from_args
        from medray.vitals.simulator import run_simulator

        run_simulator(bootstrap=args.bootstrap, patients=args.patients, hz=args.hz, duration_s=args.duration,
                      topic=args.topic, seed=args.seed, fmt=args.format,
                      client_options=from_args(args).client_options())
        return 0
    if cmd == "serve":
        from medray.serve.launch import serve_from_cli

        return serve_from_cli(args)
    if cmd == "pacs":
        import os

        from medray.serve.pacs import pacs_enhance, summary

        outcomes = pacs_enhance(args.dicomweb, args.study, args.series, args.checkpoint, args.serve,
                                args.token_file, serve_token=os.environ.get("MEDRAY_API_TOKEN") or None)
        print(summary(outcomes))
        return 1 if any(o.failed for o in outcomes) else 0
    raise AssertionError(cmd)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # kafka-python logs every connection at INFO: noise for broker/vitals-sim users
        logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        return _dispatch(args)
    except ConfigError as e:
        print(f"medray {args.command}: invalid option: {e}", file=sys.stderr)
        return 2
    except MedrayError as e:
        print(f"medray {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"medray {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
