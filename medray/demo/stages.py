"""Stage bookkeeping for long pipelines: numbered progress lines, timings, and failures that are recorded
(and shown in the report) instead of aborting the stages that do not depend on them."""
from __future__ import annotations

import logging
import time
import traceback
from typing import Callable, TypeVar
from dataclasses import dataclass, field

log = logging.getLogger("medray.demo")
T = TypeVar("T")


@dataclass
class Stage:
    name: str
    status: str = "pending"  # ok | failed | skipped
    seconds: float = 0.0
    detail: str = ""


@dataclass
class StageTracker:
    names: list[str]
    stages: dict[str, Stage] = field(default_factory=dict)

    def __post_init__(self):
        self.stages = {n: Stage(n) for n in self.names}

    def ok(self, name: str) -> bool:
        return self.stages[name].status == "ok"

    def call(self, name: str, fn: Callable[[Stage], T], needs: tuple[str, ...] = ()) -> T | None:
        """Run ``fn(stage)`` as stage ``name`` and return its value; skip it (None) when a stage it needs did not
        succeed. An exception is recorded with its message (never a patient identifier) and swallowed, so the
        stages that do not depend on it still run; the exit code reflects it."""
        st = self.stages[name]
        i = self.names.index(name) + 1
        missing = [n for n in needs if not self.ok(n)]
        if missing:
            st.status, st.detail = "skipped", f"needs {', '.join(missing)}"
            print(f"[{i}/{len(self.names)}] {name}: skipped ({st.detail})", flush=True)
            return None
        print(f"[{i}/{len(self.names)}] {name} …", flush=True)
        t0 = time.perf_counter()
        try:
            value = fn(st)
            st.status = "ok"
            return value
        except Exception as e:  # noqa: BLE001 - recorded, reported, and reflected in the exit code
            st.status, st.detail = "failed", f"{type(e).__name__}: {e}"[:500]
            log.debug("stage %s failed:\n%s", name, traceback.format_exc())
            return None
        finally:
            st.seconds = time.perf_counter() - t0
            mark = "done" if st.status == "ok" else st.status.upper()
            print(f"[{i}/{len(self.names)}] {name}: {mark} in {st.seconds:.1f}s  {st.detail}", flush=True)

    def rows(self) -> list[dict]:
        return [vars(s).copy() for s in self.stages.values()]

    def failed(self) -> list[str]:
        return [s.name for s in self.stages.values() if s.status == "failed"]

    def summary_table(self) -> str:
        lines = [f"{'stage':<14} {'status':<8} {'seconds':>8}  detail"]
        for s in self.stages.values():
            lines.append(f"{s.name:<14} {s.status:<8} {s.seconds:>8.1f}  {s.detail}")
        return "\n".join(lines)
