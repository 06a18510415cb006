"""One GAN training step in plain torch (no Ray), written like pix2pix's ``optimize_parameters``:

    forward:    fake = G(input)                          (once per step, with grad)
    backward_D: D on real and on fake.detach()           (detach: D's loss must not reach G)
    backward_G: D frozen (requires_grad False), G's loss through D(fake) back into G only

Works on DDP-wrapped or bare models. In ``g_step`` D is called through ``unwrap`` (its bare module): D's
parameters are frozen there, and calling its DDP wrapper would arm a gradient all-reduce that never fires.
Mixed precision uses ``torch.amp``: bf16 autocast (no scaler needed) or fp16 autocast with one GradScaler per
optimizer; off on CPU unless asked.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from torch import nn

from medray.losses.adversarial import d_loss
from medray.losses.pixmed import pixmed_generator_loss
from medray.losses.ssim import ssim_loss


def unwrap(model: nn.Module) -> nn.Module:
    """The bare module inside a DDP wrapper (or the model itself)."""
    return getattr(model, "module", model)


def set_requires_grad(nets, flag: bool) -> None:
    """Switch gradients of every parameter of ``nets`` on or off (pix2pix's helper): frozen D in G's step
    saves the work of D's weight gradients and guarantees G's loss cannot change D."""
    for net in nets if isinstance(nets, (list, tuple)) else [nets]:
        for p in net.parameters():
            p.requires_grad_(flag)


@dataclass
class Amp:
    """Autocast + optional GradScalers. ``mode``: off | bf16 | fp16 (resolve ``auto`` with ``resolve_amp``)."""

    mode: str = "off"
    device_type: str = "cpu"
    scalers: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.mode == "fp16":
            self.scalers = {"g": torch.amp.GradScaler(self.device_type), "d": torch.amp.GradScaler(self.device_type)}

    def autocast(self):
        if self.mode == "off":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.mode == "bf16" else torch.float16
        return torch.autocast(device_type=self.device_type, dtype=dtype)

    def step(self, which: str, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        scaler = self.scalers.get(which)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

    def state_dict(self) -> dict:
        return {k: s.state_dict() for k, s in self.scalers.items()}

    def load_state_dict(self, state: dict) -> None:
        for k, s in (state or {}).items():
            if k in self.scalers:
                self.scalers[k].load_state_dict(s)


def resolve_amp(mode: str, device: torch.device) -> Amp:
    """``auto`` → bf16 on CUDA, off elsewhere (CPU autocast is slower than fp32 for these convs)."""
    if mode == "auto":
        mode = "bf16" if device.type == "cuda" else "off"
    return Amp(mode=mode, device_type=device.type)


def _float(out):
    """D output → fp32 for the losses (autocast may leave bf16/fp16 logits)."""
    if isinstance(out, torch.Tensor):
        return out.float()
    for name in ("patch", "global_", "mixed"):
        v = getattr(out, name, None)
        if v is not None:
            setattr(out, name, v.float())
    return out


def d_step(D: nn.Module, opt_d: torch.optim.Optimizer, real: tuple, fake: tuple, adv_mode, amp: Amp) -> dict:
    """backward_D: one optimizer step of D on real vs fake. ``real``/``fake`` are the argument tuples D takes
    (SR: (hr,) / (sr,); cGAN: (mask, image)); fake tensors are detached here so nothing reaches G."""
    set_requires_grad(D, True)
    opt_d.zero_grad(set_to_none=True)
    fake = tuple(t.detach() for t in fake)  # stop the gradient at G's output
    with amp.autocast():
        out_real = D(*real)
        out_fake = D(*fake)
    loss = d_loss(_float(out_real), _float(out_fake), adv_mode)
    amp.step("d", loss, opt_d)
    return {"d_loss": float(loss.detach())}


def sr_g_step(G: nn.Module, D: nn.Module | None, opt_g: torch.optim.Optimizer, sr: torch.Tensor,
              hr: torch.Tensor, loss_fn, amp: Amp) -> dict:
    """backward_G for the SR GAN: composite loss (perceptual/SSIM/L1 + adversarial through the frozen D).
    ``D=None`` is the pixel-loss warm-up: no adversarial term."""
    d_fake = None
    if D is not None:
        set_requires_grad(D, False)  # D is a fixed critic here; only G moves
        with amp.autocast():
            d_fake = _float(unwrap(D)(sr))
    total, parts = loss_fn(sr.float(), hr, d_fake)
    amp.step("g", total, opt_g)
    if D is not None:
        set_requires_grad(D, True)
    return {"g_loss": float(total.detach()), **{f"g_{k}": float(v) for k, v in parts.items() if k != "total"}}


def sr_train_step(G, D, opt_g, opt_d, batch: dict, loss_fn, adv_mode, amp: Amp, adversarial: bool = True) -> dict:
    """One SR iteration on a batch with ``lr``, ``hr``, ``vitals``: forward G once, then D, then G."""
    opt_g.zero_grad(set_to_none=True)
    with amp.autocast():
        sr = G(batch["lr"], batch.get("vitals"))
    logs = d_step(D, opt_d, (batch["hr"],), (sr,), adv_mode, amp) if adversarial else {}
    logs.update(sr_g_step(G, D if adversarial else None, opt_g, sr, batch["hr"], loss_fn, amp))
    return logs


def cgan_g_step(G, D, opt_g, cond: torch.Tensor, fake: torch.Tensor, real: torch.Tensor, loss_cfg, amp: Amp) -> dict:
    """backward_G for the mask→image cGAN: w_adv·BCE through the frozen PatchGAN + w_ssim·(1 − SSIM)
    (``pixmed_generator_loss``). ``D=None`` is the warm-up: the SSIM (and L1) terms only."""
    fake = fake.float()
    if D is None:
        ssim_term = ssim_loss(fake, real, data_range=1.0)
        total, parts = loss_cfg.w_ssim * ssim_term, {"ssim": float(ssim_term.detach())}
        if loss_cfg.w_l1 > 0:
            l1 = (fake - real).abs().mean()
            total, parts["l1"] = total + loss_cfg.w_l1 * l1, float(l1.detach())
    else:
        set_requires_grad(D, False)  # D is a fixed critic here; only G moves
        with amp.autocast():
            d_fake = _float(unwrap(D)(cond, fake))
        total, parts = pixmed_generator_loss(d_fake, fake, real, loss_cfg)
    amp.step("g", total, opt_g)
    if D is not None:
        set_requires_grad(D, True)
    return {"g_loss": float(total.detach()), **{f"g_{k}": v for k, v in parts.items() if k != "total"}}


def cgan_train_step(G, D, opt_g, opt_d, cond: torch.Tensor, real: torch.Tensor, loss_cfg, amp: Amp,
                    adversarial: bool = True) -> dict:
    """One cGAN iteration: ``cond`` = encoded mask [B,K,H,W], ``real`` = image [B,C,H,W]."""
    opt_g.zero_grad(set_to_none=True)
    with amp.autocast():
        fake = G(cond)
    logs = d_step(D, opt_d, (cond, real), (cond, fake), loss_cfg.adv_mode, amp) if adversarial else {}
    logs.update(cgan_g_step(G, D if adversarial else None, opt_g, cond, fake, real, loss_cfg, amp))
    return logs
