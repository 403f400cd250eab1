"""One-shot classifier-free guided diffusion model (CFGDM; Boutin et al., ICML 2023).

A `UNet2DModel` (diffusers) predicts the noise in a drawing ``x_t`` given the timestep and an
*exemplar* drawing stacked as a second input channel. During training the exemplar is replaced
by the null image (all zeros, a value no real drawing has: drawings are -1 background, +1 ink)
with probability 0.1, so the same network also predicts noise unconditionally. Sampling mixes
the two with guidance scale gamma:

    eps = (1 + gamma) * eps_cond - gamma * eps_uncond

so gamma = 0 is plain conditional sampling and larger gamma follows the exemplar more closely.
`OneShotCFGDM.sample` is the readable loop: a model, a scheduler (DDPM or DDIM), one batched
forward per step for the conditional and unconditional predictions.

Images enter as uint8 white-on-black 28x28 drawings; they are padded to 32x32 (the UNet halves
the resolution twice) and scaled to [-1, 1].
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
from diffusers.training_utils import compute_snr

IMAGE_SIZE = 28
PAD = 2  # 28 + 2 * 2 = 32
P_UNCOND = 0.1
DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights" / "cfgdm"
CARD_META = "cfgdm.json"
# Steps each sampler gets unless told otherwise. Ancestral DDPM sampling is the default: with
# this small model, deterministic DDIM at 25 steps draws tangled, over-dense strokes, while DDPM
# with 250 steps draws clean single lines that follow the exemplar more closely as gamma grows
# (README, "The one-shot CFGDM"); DDIM stays available as the fast option.
SAMPLER_STEPS = {"ddpm": 250, "ddim": 25}
DEFAULT_SAMPLER = "ddpm"


def small_unet(channels: tuple[int, ...] = (16, 32, 64), layers_per_block: int = 1,
               attention_levels: int = 0) -> UNet2DModel:
    """A `UNet2DModel` for 32x32 drawing + exemplar inputs (the shipped weights' and, smaller, the tests').

    ``attention_levels`` puts self-attention in that many of the lowest-resolution levels (the
    middle block always has it): there a drawing is a few cells wide, so attention lets every
    part of the sample see every part of the exemplar.
    """
    if not 0 <= attention_levels <= len(channels):
        raise ValueError(f"attention_levels must lie in 0..{len(channels)}")
    plain = len(channels) - attention_levels
    down = ("DownBlock2D",) * plain + ("AttnDownBlock2D",) * attention_levels
    up = ("AttnUpBlock2D",) * attention_levels + ("UpBlock2D",) * plain
    return UNet2DModel(sample_size=IMAGE_SIZE + 2 * PAD, in_channels=2, out_channels=1,
                       layers_per_block=layers_per_block, block_out_channels=channels,
                       down_block_types=down, up_block_types=up, attention_head_dim=8,
                       norm_num_groups=min(8, channels[0]))


def to_model_space(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``[N, 28, 28]`` -> float ``[N, 1, 32, 32]`` in [-1, 1] (padding is background)."""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32) / 127.5 - 1.0
    if x.ndim == 2:
        x = x[None]
    return torch.nn.functional.pad(x[:, None], (PAD, PAD, PAD, PAD), value=-1.0)


def to_images(x: torch.Tensor) -> np.ndarray:
    """float ``[N, 1, 32, 32]`` in [-1, 1] -> uint8 ``[N, 28, 28]``."""
    x = x[:, 0, PAD:PAD + IMAGE_SIZE, PAD:PAD + IMAGE_SIZE]
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


class OneShotCFGDM:
    """The UNet, its noise schedule, and guided sampling from one exemplar."""

    def __init__(self, unet: UNet2DModel, num_train_timesteps: int = 1000, meta: dict[str, Any] | None = None,
                 beta_schedule: str = "linear") -> None:
        self.unet = unet
        self.scheduler = DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule)
        self.meta = meta or {}

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def to(self, device: str | torch.device) -> "OneShotCFGDM":
        self.unet.to(device)
        return self

    def eps(self, x_t: torch.Tensor, t: torch.Tensor, exemplar: torch.Tensor) -> torch.Tensor:
        """Noise prediction for ``x_t`` given the exemplar (zeros = unconditional)."""
        t = t.expand(x_t.shape[0]) if t.ndim == 0 else t
        return self.unet(torch.cat([x_t, exemplar], dim=1), t).sample

    def guided_eps(self, x_t: torch.Tensor, t: torch.Tensor, exemplar: torch.Tensor, gamma: float) -> torch.Tensor:
        """(1 + gamma) * eps_cond - gamma * eps_uncond, from one batched forward."""
        both = self.eps(torch.cat([x_t, x_t]), torch.cat([t, t]) if t.ndim else t,
                        torch.cat([exemplar, torch.zeros_like(exemplar)]))
        cond, uncond = both.chunk(2)
        return (1 + gamma) * cond - gamma * uncond

    @torch.no_grad()
    def sample(self, exemplars: np.ndarray, gamma: float = 1.0, steps: int | None = None,
               sampler: str = DEFAULT_SAMPLER, seed: int = 0, max_batch: int = 128) -> np.ndarray:
        """New drawings "like" each exemplar: uint8 ``[N, 28, 28]``.

        ``steps`` defaults to the sampler's entry in `SAMPLER_STEPS`. The UNet sees at most ``max_batch`` exemplars per pass (twice that many inputs, with the
        unconditional half), so memory does not grow with N; the result does not depend on it.
        """
        config = self.scheduler.config
        scheduler = (DDIMScheduler.from_config(config) if sampler == "ddim"
                     else DDPMScheduler.from_config(config) if sampler == "ddpm" else None)
        if scheduler is None:
            raise ValueError("sampler must be 'ddim' or 'ddpm'")
        scheduler.set_timesteps(SAMPLER_STEPS[sampler] if steps is None else steps)
        exemplar = to_model_space(exemplars).to(self.device)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        x = torch.randn(exemplar.shape, generator=generator).to(self.device)
        for t in scheduler.timesteps:
            t_batch = torch.full((x.shape[0],), int(t), device=self.device, dtype=torch.long)
            eps = torch.cat([self.guided_eps(x[i:i + max_batch], t_batch[i:i + max_batch],
                                             exemplar[i:i + max_batch], gamma)
                             for i in range(0, x.shape[0], max_batch)])
            x = scheduler.step(eps, t, x, generator=generator).prev_sample
        return to_images(x)

    def save_pretrained(self, out_dir: str | Path, meta: dict[str, Any] | None = None) -> None:
        """UNet weights (safetensors) and config via diffusers, plus our metadata JSON."""
        out = Path(out_dir)
        self.unet.save_pretrained(out, safe_serialization=True)
        info = {**self.meta, **(meta or {}),
                "num_train_timesteps": self.scheduler.config.num_train_timesteps,
                "beta_schedule": self.scheduler.config.beta_schedule,
                "p_uncond": P_UNCOND, "image_size": IMAGE_SIZE, "pad": PAD}
        (out / CARD_META).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_pretrained(cls, weights_dir: str | Path | None = None, device: str | None = None) -> "OneShotCFGDM":
        folder = Path(weights_dir) if weights_dir is not None else DEFAULT_WEIGHTS_DIR
        meta_path = folder / CARD_META
        if not meta_path.exists():
            raise FileNotFoundError(f"no CFGDM weights in {folder} ({CARD_META} missing)")
        meta = json.loads(meta_path.read_text())
        unet = UNet2DModel.from_pretrained(folder)
        from .classifier import choose_device

        model = cls(unet.eval(), meta.get("num_train_timesteps", 1000), meta, meta.get("beta_schedule", "linear"))
        return model.to(choose_device(device))


def training_loss(model: OneShotCFGDM, target: torch.Tensor, exemplar: torch.Tensor,
                  generator: torch.Generator | None = None, snr_gamma: float | None = None) -> torch.Tensor:
    """Denoising loss on a batch of (target, exemplar) pairs, dropping exemplars with p=0.1.

    With ``snr_gamma`` each timestep's error is weighted by min(SNR, snr_gamma) / SNR (Min-SNR-γ,
    Hang et al. 2023): the nearly clean timesteps, whose noise is easy to predict and whose
    gradients fight the others', count less, which speeds up training several-fold.
    """
    n = target.shape[0]
    noise = torch.randn(target.shape, generator=generator).to(target.device)
    t = torch.randint(0, model.scheduler.config.num_train_timesteps, (n,), generator=generator).to(target.device)
    keep = (torch.rand(n, generator=generator) >= P_UNCOND).float().to(target.device)[:, None, None, None]
    x_t = model.scheduler.add_noise(target, noise, t)
    pred = model.eps(x_t, t, exemplar * keep)
    if snr_gamma is None:
        return torch.nn.functional.mse_loss(pred, noise)
    snr = compute_snr(model.scheduler, t)
    weight = torch.clamp(snr, max=snr_gamma) / snr
    per_sample = ((pred - noise) ** 2).mean(dim=(1, 2, 3))
    return (per_sample * weight).mean()
