"""Machine importance maps with captum: the game's classifier and the one-shot CFGDM.

Both functions return one *signed* float32 map per drawing at the model's 28x28 input resolution
(Saliency/SmoothGrad are gradient magnitudes by definition, Grad-CAM is ReLU'd by definition).
Signs are kept here so Integrated Gradients stays *complete* (its attributions sum to
f(input) - f(baseline)) and tests can check that; `analysis.maps.prepare_map` takes the
magnitude only when a map enters the comparison with human maps, because a person brushes a
part whether it counts for or against the answer and a map of mass must be non-negative.

**Blank baselines.** IG starts from, and Occlusion pastes, the *blank canvas* of each model's own
input space: 0 for the classifier (inputs in [0, 1]), -1 for the CFGDM (inputs in [-1, 1],
background -1). The CFGDM's null exemplar (all 0) is mid-grey in its space, not blank; starting
from it credited the background (only 24% of |IG| lay on ink). From a blank baseline IG can only
credit pixels that differ from it: the ink.

**CFGDM.** A diffusion model has no class score, so we attribute the *guidance signal*: how much
the exemplar changes the model's noise prediction,

    s(e) = mean over k of  mean_pixels (eps(x_k, t_k | e) - eps(x_k, t_k | null))^2

over K states ``x_k`` taken from the model's **own guided sampling trajectories** from that
exemplar (`sampling_states`): by default ancestral DDPM, the sampler whose samples the README and
the model card show (DDIM, deterministic given its start, is the option), with guidance `gamma`,
`n_noise` trajectories from seeded Gaussian noise, states recorded at the steps nearest the
requested fractions of T. These are the states in which guidance actually steers
generation (the maps follow the generation, as in Boutin et al.); forward-noised copies of the
exemplar would instead show the model where the exemplar itself already is. The states and the
unconditional predictions are held fixed (no gradient flows through the trajectory); only the
exemplar channel is attributed. This is the term classifier-free guidance amplifies
(eps = eps_u + (1+gamma)(eps_c - eps_u)).

**Memory.** Every captum call is chunked so that one UNet forward sees at most
``settings.batch_size`` inputs (exemplar copies x states x IG steps / occluded copies / noisy
samples); peak memory is bounded by that, whatever the number of drawings, states or steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Occlusion, Saliency
from diffusers import DDIMScheduler, DDPMScheduler
from torch import nn
from tqdm.auto import tqdm

from models.cfgdm import PAD, OneShotCFGDM, to_model_space

from .ink import ink_mask
from .stimuli import at_size

CLASSIFIER_METHODS = ("integrated_gradients", "saliency", "smoothgrad", "gradcam", "occlusion")
CFGDM_METHODS = ("integrated_gradients", "saliency", "smoothgrad", "occlusion")
CLASSIFIER_BLANK = 0.0  # background of the classifier's [0, 1] input
CFGDM_BLANK = -1.0  # background of the CFGDM's [-1, 1] model space


@dataclass(frozen=True)
class AttributionSettings:
    """Knobs shared by both model families (defaults are the ones used in the study).

    The defaults are sized so that the full comparison of 250 stimuli, with its random-weights,
    seed and method controls, runs in minutes on two CPU cores (README, "Machine maps").
    """

    n_steps: int = 16  # IG integration steps
    nt_samples: int = 8  # SmoothGrad noisy samples
    nt_stdev: float = 0.15  # SmoothGrad noise, as a fraction of the input range
    occlusion_window: int = 4  # square patch, pixels at 28x28
    occlusion_stride: int = 4
    timesteps: tuple[float, ...] = (0.8, 0.5, 0.2)  # CFGDM: where on the trajectory, fractions of T
    n_noise: int = 2  # CFGDM: sampling trajectories (noise draws) per exemplar
    gamma: float = 1.0  # CFGDM: guidance scale of the sampling trajectories
    sampler: str = "ddpm"  # CFGDM: sampler of the trajectories ("ddpm" or "ddim")
    sampling_steps: int = 50  # CFGDM: steps of the sampling trajectories
    batch_size: int = 64  # most model inputs in one forward pass: bounds peak memory
    seed: int = 0

    @classmethod
    def quick(cls) -> "AttributionSettings":
        """Small settings for tests and previews (minutes become seconds)."""
        return cls(n_steps=4, nt_samples=3, timesteps=(0.7, 0.3), n_noise=1, sampling_steps=8, occlusion_window=8,
                   occlusion_stride=8)


def _check(method: str, allowed: Sequence[str]) -> None:
    if method not in allowed:
        raise ValueError(f"unknown attribution method {method!r}; choose one of {', '.join(allowed)}")


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(n, i + size)) for i in range(0, n, max(1, size))]


def _attribute(forward: nn.Module, x: torch.Tensor, method: str, settings: AttributionSettings, stdev: float,
               blank: float, rows: int, target: torch.Tensor | None = None, extra: tuple | None = None
               ) -> torch.Tensor:
    """One captum method on ``forward``, shaped like ``x``; at most ``rows`` copies of ``x``'s
    drawings per forward call.

    IG and Occlusion are signed (blank baseline / blank patches); Saliency and SmoothGrad are
    gradient magnitudes.
    """
    per_drawing = max(1, rows // len(x))  # copies of each drawing a forward call may hold
    if method == "integrated_gradients":
        return IntegratedGradients(forward).attribute(x, baselines=torch.full_like(x, blank), target=target,
                                                      additional_forward_args=extra, n_steps=settings.n_steps,
                                                      internal_batch_size=per_drawing * len(x))
    if method == "saliency":
        return Saliency(forward).attribute(x, target=target, additional_forward_args=extra, abs=True)
    if method == "smoothgrad":
        return NoiseTunnel(Saliency(forward)).attribute(x, nt_type="smoothgrad", nt_samples=settings.nt_samples,
                                                        nt_samples_batch_size=per_drawing, stdevs=stdev,
                                                        target=target, additional_forward_args=extra, abs=True)
    window = (1, settings.occlusion_window, settings.occlusion_window)
    return Occlusion(forward).attribute(x, sliding_window_shapes=window,
                                        strides=(1, settings.occlusion_stride, settings.occlusion_stride),
                                        baselines=blank, target=target, additional_forward_args=extra,
                                        perturbations_per_eval=per_drawing)


# --- classifier -------------------------------------------------------------------------------

def _last_conv_block(module: nn.Module) -> nn.Module:
    """The last ReLU of the feature extractor: Grad-CAM's layer (7x7 for SketchCNN)."""
    relus = [m for m in module.features if isinstance(m, nn.ReLU)] if hasattr(module, "features") else []
    if not relus:
        raise ValueError("Grad-CAM needs a module with a `features` stack containing ReLU layers")
    return relus[-1]


def classifier_maps(classifier, images: np.ndarray, targets: Sequence[int], method: str = "integrated_gradients",
                    settings: AttributionSettings | None = None, progress: bool = False) -> np.ndarray:
    """float32 ``[N, 28, 28]`` maps of the evidence for ``targets`` (class indices); signed for
    IG and Occlusion (see the module docstring).

    ``classifier`` is a loaded `models.classifier.SketchClassifier`; ``images`` are uint8
    white-on-black drawings of any size (resized like the game does).
    """
    _check(method, CLASSIFIER_METHODS)
    settings = settings or AttributionSettings()
    module = classifier.module.eval()
    x_all = classifier.preprocess(np.asarray(images))
    target_all = torch.as_tensor(np.asarray(targets), dtype=torch.long, device=x_all.device)
    if len(target_all) != len(x_all):
        raise ValueError(f"{len(x_all)} images but {len(target_all)} targets")
    torch.manual_seed(settings.seed)
    out = []
    for part in tqdm(_chunks(len(x_all), settings.batch_size), desc=f"classifier {method}", disable=not progress,
                     leave=False):
        x = x_all[part].clone().requires_grad_(True)
        if method == "gradcam":
            cam = LayerGradCam(module, _last_conv_block(module)).attribute(x, target=target_all[part],
                                                                           relu_attributions=True)
            attr = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear").clamp_min(0)
        else:
            attr = _attribute(module, x, method, settings, settings.nt_stdev, CLASSIFIER_BLANK, settings.batch_size,
                              target=target_all[part])
        out.append(attr.detach()[:, 0].float().cpu().numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 28, 28), np.float32)


# --- CFGDM -----------------------------------------------------------------------------------

class GuidanceSignal(nn.Module):
    """``s(e)`` of the module docstring, one value per exemplar, as a captum forward function.

    Inputs: exemplars ``[M, 1, 32, 32]``; fixed states ``x_t`` and unconditional predictions
    ``eps_uncond`` ``[M, K, 1, 32, 32]``; timesteps ``t`` ``[M, K]``. The ``M * K`` conditional
    predictions are one UNet call, so captum's expansion over IG steps or noisy samples
    (which repeats every argument along the first axis) also lands in that single call.
    """

    def __init__(self, model: OneShotCFGDM) -> None:
        super().__init__()
        self.model = model

    def forward(self, exemplar: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor,
                eps_uncond: torch.Tensor) -> torch.Tensor:
        m, k = t.shape
        cond = self.model.eps(x_t.reshape(m * k, *x_t.shape[2:]), t.reshape(-1),
                              exemplar.repeat_interleave(k, dim=0))
        diff = cond.reshape(m, k, -1) - eps_uncond.reshape(m, k, -1)
        return diff.pow(2).mean(dim=(1, 2))


def blank_exemplar(like: torch.Tensor) -> torch.Tensor:
    """The blank canvas in model space (every pixel background), shaped like ``like``."""
    return torch.full_like(like, CFGDM_BLANK)


@torch.no_grad()
def sampling_states(model: OneShotCFGDM, exemplars: torch.Tensor, settings: AttributionSettings,
                    seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixed ``(x_t, t, eps_uncond)`` per exemplar: states of its own guided trajectories.

    ``n_noise`` trajectories per exemplar start from Gaussian noise drawn from one generator
    seeded with ``seed`` (default ``settings.seed``), all exemplars' noise in one draw, so the
    states do not depend on how drawings are chunked. DDIM with eta = 0 is deterministic after
    its start; DDPM adds fresh noise at every step, drawn per drawing and trajectory from
    `trajectory_generator`, again independent of chunking. A state is kept at each step whose
    timestep is nearest to a requested fraction of T; its unconditional prediction comes from
    the same guided forward pass.
    Returns ``x_t`` and ``eps_uncond`` ``[M, K, 1, 32, 32]`` and ``t`` ``[M, K]``, ``K`` = states
    per trajectory x ``n_noise``.
    """
    seed = settings.seed if seed is None else seed
    n, shape = exemplars.shape[0], exemplars.shape[1:]
    device = exemplars.device
    schedulers = {"ddim": DDIMScheduler, "ddpm": DDPMScheduler}
    if settings.sampler not in schedulers:
        raise ValueError(f"unknown sampler {settings.sampler!r}; choose ddpm or ddim")
    scheduler = schedulers[settings.sampler].from_config(model.scheduler.config)
    scheduler.set_timesteps(settings.sampling_steps)
    steps = [int(t) for t in scheduler.timesteps]
    total = model.scheduler.config.num_train_timesteps
    keep = sorted({int(np.argmin([abs(s - f * total) for s in steps])) for f in settings.timesteps})
    generator = torch.Generator().manual_seed(seed)
    start = torch.randn((settings.n_noise, n, *shape), generator=generator)
    k = len(keep) * settings.n_noise
    x_t = torch.empty((n, k, *shape), device=device)
    eps_uncond = torch.empty_like(x_t)
    t_all = torch.empty((n, k), dtype=torch.long, device=device)
    rows = max(1, settings.batch_size // 2)  # conditional + unconditional per state
    for j in range(settings.n_noise):
        for part in _chunks(n, rows):
            x, e, slot = start[j, part].to(device), exemplars[part], j * len(keep)
            noise = ([trajectory_generator(seed, j, r) for r in range(part.start, part.stop)]
                     if settings.sampler == "ddpm" else None)
            for i, step in enumerate(scheduler.timesteps):
                t = torch.full((len(x),), int(step), device=device, dtype=torch.long)
                cond, uncond = model.eps(torch.cat([x, x]), torch.cat([t, t]),
                                         torch.cat([e, torch.zeros_like(e)])).chunk(2)
                if i in keep:
                    x_t[part, slot], eps_uncond[part, slot], t_all[part, slot] = x, uncond, int(step)
                    slot += 1
                x = scheduler.step((1 + settings.gamma) * cond - settings.gamma * uncond, step, x,
                                   generator=noise).prev_sample
    return x_t, t_all, eps_uncond


def trajectory_generator(seed: int, trajectory: int, drawing: int) -> torch.Generator:
    """The generator of one drawing's DDPM step noise on one trajectory: seeded from all three,
    so a drawing's trajectory is the same whichever chunk it is sampled in."""
    return torch.Generator().manual_seed(int(np.random.default_rng([seed, trajectory, drawing]).integers(2**62)))


def _at_28(images: np.ndarray) -> np.ndarray:
    """Exemplars at the CFGDM's 28x28 resolution (area-averaged like the classifier input)."""
    images = np.asarray(images)
    return np.stack([at_size(im, 28, 28) for im in (images[None] if images.ndim == 2 else images)])


def _crop(attr: torch.Tensor) -> np.ndarray:
    return attr.detach()[:, 0, PAD:-PAD, PAD:-PAD].float().cpu().numpy()


def cfgdm_maps(model: OneShotCFGDM, images: np.ndarray, method: str = "integrated_gradients",
               settings: AttributionSettings | None = None, progress: bool = False) -> np.ndarray:
    """float32 ``[N, 28, 28]`` maps of each exemplar pixel's share of the guidance signal;
    signed for IG and Occlusion (see the module docstring).

    ``images`` are uint8 28x28 white-on-black exemplars (other sizes are resized first).
    """
    _check(method, CFGDM_METHODS)
    settings = settings or AttributionSettings()
    model.unet.eval()
    signal = GuidanceSignal(model)
    exemplars = to_model_space(_at_28(images)).to(model.device)
    x_t, t, eps_uncond = sampling_states(model, exemplars, settings)
    k = t.shape[1]
    rows = max(1, settings.batch_size // k)  # exemplar copies per forward: each carries K states
    torch.manual_seed(settings.seed)
    out = []
    for part in tqdm(_chunks(len(exemplars), rows), desc=f"CFGDM {method}", disable=not progress, leave=False):
        e = exemplars[part].clone().requires_grad_(True)
        # model space spans [-1, 1], twice the classifier's [0, 1]: scale SmoothGrad's noise alike
        attr = _attribute(signal, e, method, settings, 2 * settings.nt_stdev, CFGDM_BLANK, rows,
                          extra=(x_t[part], t[part], eps_uncond[part]))
        out.append(_crop(attr))
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 28, 28), np.float32)


def cfgdm_maps_per_sample(model: OneShotCFGDM, images: np.ndarray, method: str = "integrated_gradients",
                          settings: AttributionSettings | None = None) -> np.ndarray:
    """The same maps, computed one drawing, one state and one IG step batch at a time.

    A readable reference for tests and the benchmark: the signal is a mean over states and
    IG/occlusion are linear in the attributed function, so averaging per-state attributions gives
    `cfgdm_maps`' answer (up to float rounding) at a much higher cost.
    """
    settings = settings or AttributionSettings()
    if method not in ("integrated_gradients", "occlusion", "saliency"):
        raise ValueError("the per-sample reference covers integrated_gradients, saliency and occlusion")
    signal = GuidanceSignal(model)
    exemplars = to_model_space(_at_28(images)).to(model.device)
    x_t, t, eps_uncond = sampling_states(model, exemplars, settings)
    maps = []
    for i in range(len(exemplars)):
        per_state = []
        for j in range(t.shape[1]):
            e = exemplars[i:i + 1].clone().requires_grad_(True)
            extra = (x_t[i:i + 1, j:j + 1], t[i:i + 1, j:j + 1], eps_uncond[i:i + 1, j:j + 1])
            if method == "integrated_gradients":
                attr = IntegratedGradients(signal).attribute(e, baselines=blank_exemplar(e),
                                                             additional_forward_args=extra,
                                                             n_steps=settings.n_steps, internal_batch_size=1)
            elif method == "saliency":
                # the gradient of a mean is the mean of gradients; |.| is taken after averaging
                e.grad = None
                signal(e, *extra).sum().backward()
                attr = e.grad.detach().clone()
            else:
                window = (1, settings.occlusion_window, settings.occlusion_window)
                attr = Occlusion(signal).attribute(e, sliding_window_shapes=window,
                                                   strides=(1, settings.occlusion_stride, settings.occlusion_stride),
                                                   baselines=CFGDM_BLANK, additional_forward_args=extra)
            per_state.append(attr)
        mean = torch.stack(per_state).mean(0)
        maps.append(_crop(mean.abs() if method == "saliency" else mean))
    return np.concatenate(maps).astype(np.float32)


def ink_share(maps: np.ndarray, images: np.ndarray) -> tuple[float, float]:
    """``(share of |attribution| on ink, share of the canvas that is ink)``, means over drawings.

    Ink is the 28x28 drawing's strokes by Otsu's threshold (`analysis.ink.ink_mask`; a JPEG's
    paper noise is not ink). A map that credits ink no more than blank paper has a share near
    the ink's own area.
    """
    ink = np.stack([ink_mask(im) for im in _at_28(images)])
    mags = np.abs(np.asarray(maps, np.float64)).reshape(len(ink), -1)
    totals = mags.sum(1)
    shares = np.where(totals > 0, (mags * ink.reshape(len(ink), -1)).sum(1) / np.where(totals > 0, totals, 1), np.nan)
    return float(np.nanmean(shares)), float(ink.reshape(len(ink), -1).mean())
