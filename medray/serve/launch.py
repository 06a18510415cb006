"""``medray serve``: the serving stack (medray/serve/stack.py) with the CLI's overrides, until Ctrl-C/SIGTERM."""
from __future__ import annotations

import signal
import time

from medray.serve.stack import serving_stack


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def serve_from_cli(args) -> int:
    try:
        with serving_stack(args.config, checkpoint=args.checkpoint, synth_checkpoint=args.synth_checkpoint,
                           kafka=args.kafka, port=args.port, ray_init={"namespace": "serve"},
                           args={"insecure_dev": True} if args.insecure_dev else None) as stack:
            # SIGTERM (docker stop, kill) stops as cleanly as Ctrl-C; set after ray.init, which installs its own.
            signal.signal(signal.SIGTERM, _interrupt)
            url = stack.url
            print(f"medray serving at {url}/  (API docs {url}/docs, health {url}/healthz); vitals from "
                  f"{stack.bootstrap}; pids {stack.pids}. Ctrl-C stops.", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 0
