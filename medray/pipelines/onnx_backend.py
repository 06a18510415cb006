"""ONNX Runtime as an alternative backend of the enhance pipeline (``InferenceOptions(backend="onnx")``).

Any model of the SR protocol (``forward(lr, vitals, alpha)``) is exported once with α as an input, ``(lr [B, C, h,
w], alpha [B]) → sr clamped to [0, 1]``, with batch, height and width dynamic, so one graph serves every request,
tile and per-request α. The session is built once per model object and cached (a weak reference: it goes with its
model). The exported graph is fp32; ORT runs it on the CPU with the threads torch was given (the Serve replica's
CPUs, medray/serve/enhancer.py).

The TorchScript exporter (``dynamo=False``) is used: the torch.export one needs onnxscript and refuses the
protocol's data-dependent α checks; the pipeline validates α before any forward, so tracing them as the
constants of a valid α loses nothing.
"""
from __future__ import annotations

import io
import threading
import warnings
import weakref

import numpy as np
import torch

OPSET = 17
_SESSIONS: "weakref.WeakKeyDictionary[torch.nn.Module, OnnxRunner]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class _WithAlpha(torch.nn.Module):
    """The SR protocol as a graph with α as an input (no vitals: α is computed per request before the model)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, lr: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return self.model(lr, None, alpha).clamp(0.0, 1.0)


def export_onnx(model: torch.nn.Module, size: int = 32) -> bytes:
    """The ONNX model (bytes) of ``model``; traced on a [2, C, size, size] input, dynamic in B, H and W."""
    c = int(model.in_channels)
    p = next(model.parameters())
    lr = torch.rand(2, c, size, size, device=p.device)
    alpha = torch.full((2,), float(model.alpha_default), device=p.device)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # the trace warns about the protocol's Python-side α checks and about the legacy exporter itself
        warnings.simplefilter("ignore")
        torch.onnx.export(_WithAlpha(model).eval(), (lr, alpha), buf, dynamo=False, opset_version=OPSET,
                          input_names=["lr", "alpha"], output_names=["sr"],
                          dynamic_axes={"lr": {0: "batch", 2: "h", 3: "w"}, "alpha": {0: "batch"},
                                        "sr": {0: "batch", 2: "sh", 3: "sw"}})
    return buf.getvalue()


class OnnxRunner:
    """``runner(lr, alpha) → sr`` on ONNX Runtime, torch tensors in and out (on ``lr``'s device)."""

    def __init__(self, onnx_model: bytes, threads: int | None = None):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = int(threads or torch.get_num_threads())
        so.inter_op_num_threads = 1  # one graph branch at a time: the intra-op threads already fill the CPUs
        self.session = ort.InferenceSession(onnx_model, so, providers=["CPUExecutionProvider"])
        # a model that ignores α (vitals_adaptive=False) has no α input left in its graph
        self.inputs = {i.name for i in self.session.get_inputs()}

    def __call__(self, lr: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        feed = {"lr": np.ascontiguousarray(lr.detach().float().cpu().numpy())}
        if "alpha" in self.inputs:
            feed["alpha"] = np.ascontiguousarray(alpha.detach().float().cpu().numpy())
        out = self.session.run(["sr"], feed)[0]
        return torch.from_numpy(out).to(lr.device)


def onnx_runner(model: torch.nn.Module) -> OnnxRunner:
    """The cached runner of ``model``: exported and loaded on first use, then shared by every pipeline on it."""
    with _LOCK:
        runner = _SESSIONS.get(model)
        if runner is None:
            runner = _SESSIONS[model] = OnnxRunner(export_onnx(model))
        return runner
