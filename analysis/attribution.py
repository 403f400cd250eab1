"""Machine importance maps with captum: the game's classifier and the one-shot CFGDM.

Both functions return one non-negative float32 map per drawing at the model's 28x28 input
resolution; `analysis.maps.prepare_map` then resizes, blurs and normalises them exactly like the
human maps, so every comparison uses the same smoothing.

**Classifier.** The attributed output is the logit of the drawing's category. Integrated
Gradients (baseline: the blank canvas, all zeros), Saliency and SmoothGrad take the absolute
value of the attribution (a pixel whose removal *or* addition changes the evidence matters);
Grad-CAM (last convolutional block, ReLU, upsampled) and Occlusion (blank patches) keep only the
positive evidence, as those methods are usually read.

**CFGDM.** A diffusion model has no class score, so we attribute the *guidance signal*: how much
the exemplar changes the model's noise prediction,

    s(e) = mean over k of  mean_pixels (eps(x_k, t_k | e) - eps(x_k, t_k | null))^2

over K fixed states ``x_k``: the exemplar itself forward-noised (`q(x_t | x_0 = e)`) at several
timesteps with several noise draws. This is exactly the term that classifier-free guidance
amplifies (ε = ε_u + (1+γ)(ε_c − ε_u)), so pixels with high attribution are the ones that steer
generation from this exemplar. The states and the unconditional predictions are computed once
and held fixed; only the exemplar channel is attributed. The IG baseline is the null exemplar
(zeros), for which s = 0, so IG attributions sum to s(e) (completeness). Timesteps, noise draws
and IG integration steps are all evaluated in one batched forward pass per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Occlusion, Saliency
from torch import nn

from models.cfgdm import PAD, OneShotCFGDM, to_model_space

from .stimuli import at_size

CLASSIFIER_METHODS = ("integrated_gradients", "saliency", "smoothgrad", "gradcam", "occlusion")
CFGDM_METHODS = ("integrated_gradients", "saliency", "smoothgrad", "occlusion")
OCCLUSION_PER_EVAL = 16  # occluded copies evaluated in one forward pass


@dataclass(frozen=True)
class AttributionSettings:
    """Knobs shared by both model families (defaults are the ones used in the study)."""

    n_steps: int = 32  # IG integration steps
    nt_samples: int = 16  # SmoothGrad noisy samples
    nt_stdev: float = 0.15  # SmoothGrad noise, as a fraction of the input range
    occlusion_window: int = 4  # square patch, pixels at 28x28
    occlusion_stride: int = 2
    timesteps: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)  # CFGDM, fractions of T
    n_noise: int = 4  # CFGDM noise draws per timestep
    batch_size: int = 8  # drawings per captum call
    seed: int = 0

    @classmethod
    def quick(cls) -> "AttributionSettings":
        """Small settings for tests and previews (minutes become seconds)."""
        return cls(n_steps=4, nt_samples=3, timesteps=(0.3, 0.7), n_noise=1, occlusion_stride=4)


def _check(method: str, allowed: Sequence[str]) -> None:
    if method not in allowed:
        raise ValueError(f"unknown attribution method {method!r}; choose one of {', '.join(allowed)}")


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]


def _attribute(forward: nn.Module, x: torch.Tensor, method: str, settings: AttributionSettings, stdev: float,
               target: torch.Tensor | None = None, extra: tuple | None = None) -> torch.Tensor:
    """One captum method on ``forward`` from the zero baseline; non-negative, shaped like ``x``.

    Gradient methods take absolute values; occlusion keeps only the drop it causes.
    """
    if method == "integrated_gradients":
        return IntegratedGradients(forward).attribute(x, baselines=torch.zeros_like(x), target=target,
                                                      additional_forward_args=extra, n_steps=settings.n_steps).abs()
    if method == "saliency":
        return Saliency(forward).attribute(x, target=target, additional_forward_args=extra, abs=True)
    if method == "smoothgrad":
        return NoiseTunnel(Saliency(forward)).attribute(x, nt_type="smoothgrad", nt_samples=settings.nt_samples,
                                                        stdevs=stdev, target=target, additional_forward_args=extra,
                                                        abs=True)
    window = (1, settings.occlusion_window, settings.occlusion_window)
    return Occlusion(forward).attribute(x, sliding_window_shapes=window,
                                        strides=(1, settings.occlusion_stride, settings.occlusion_stride),
                                        baselines=0.0, target=target, additional_forward_args=extra,
                                        perturbations_per_eval=OCCLUSION_PER_EVAL).clamp_min(0)


# --- classifier -------------------------------------------------------------------------------

def _last_conv_block(module: nn.Module) -> nn.Module:
    """The last ReLU of the feature extractor: Grad-CAM's layer (7x7 for SketchCNN)."""
    relus = [m for m in module.features if isinstance(m, nn.ReLU)] if hasattr(module, "features") else []
    if not relus:
        raise ValueError("Grad-CAM needs a module with a `features` stack containing ReLU layers")
    return relus[-1]


def classifier_maps(classifier, images: np.ndarray, targets: Sequence[int], method: str = "integrated_gradients",
                    settings: AttributionSettings | None = None) -> np.ndarray:
    """float32 ``[N, 28, 28]`` non-negative maps of the evidence for ``targets`` (class indices).

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
    for part in _chunks(len(x_all), settings.batch_size):
        x = x_all[part].clone().requires_grad_(True)
        if method == "gradcam":
            cam = LayerGradCam(module, _last_conv_block(module)).attribute(x, target=target_all[part],
                                                                           relu_attributions=True)
            attr = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear").clamp_min(0)
        else:
            attr = _attribute(module, x, method, settings, settings.nt_stdev, target=target_all[part])
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


@torch.no_grad()
def guidance_states(model: OneShotCFGDM, exemplars: torch.Tensor, settings: AttributionSettings
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixed ``(x_t, t, eps_uncond)`` for each exemplar: forward-noised copies of it."""
    n = exemplars.shape[0]
    total = model.scheduler.config.num_train_timesteps
    steps = torch.tensor([min(total - 1, int(round(f * total))) for f in settings.timesteps], dtype=torch.long)
    t = steps.repeat(settings.n_noise)  # [K]
    k = len(t)
    generator = torch.Generator().manual_seed(settings.seed)
    noise = torch.randn((n, k, *exemplars.shape[1:]), generator=generator).to(exemplars.device)
    t = t.to(exemplars.device).expand(n, k).contiguous()
    x0 = exemplars[:, None].expand(n, k, *exemplars.shape[1:])
    x_t = model.scheduler.add_noise(x0.reshape(n * k, *exemplars.shape[1:]), noise.reshape(n * k, *exemplars.shape[1:]),
                                    t.reshape(-1).cpu()).reshape(n, k, *exemplars.shape[1:])
    null = torch.zeros((n * k, *exemplars.shape[1:]), device=exemplars.device)
    eps_uncond = model.eps(x_t.reshape(n * k, *exemplars.shape[1:]), t.reshape(-1), null).reshape(x_t.shape)
    return x_t, t, eps_uncond


def _at_28(images: np.ndarray) -> np.ndarray:
    """Exemplars at the CFGDM's 28x28 resolution (area-averaged like the classifier input)."""
    images = np.asarray(images)
    return np.stack([at_size(im, 28, 28) for im in (images[None] if images.ndim == 2 else images)])


def _crop(attr: torch.Tensor) -> np.ndarray:
    return attr.detach()[:, 0, PAD:-PAD, PAD:-PAD].float().cpu().numpy()


def cfgdm_maps(model: OneShotCFGDM, images: np.ndarray, method: str = "integrated_gradients",
               settings: AttributionSettings | None = None) -> np.ndarray:
    """float32 ``[N, 28, 28]`` non-negative maps of each exemplar pixel's share of the guidance signal.

    ``images`` are uint8 28x28 white-on-black exemplars (other sizes are resized first).
    """
    _check(method, CFGDM_METHODS)
    settings = settings or AttributionSettings()
    model.unet.eval()
    signal = GuidanceSignal(model)
    exemplars = to_model_space(_at_28(images)).to(model.device)
    x_t, t, eps_uncond = guidance_states(model, exemplars, settings)
    torch.manual_seed(settings.seed)
    out = []
    for part in _chunks(len(exemplars), settings.batch_size):
        e = exemplars[part].clone().requires_grad_(True)
        # model space spans [-1, 1], twice the classifier's [0, 1]: scale SmoothGrad's noise alike
        attr = _attribute(signal, e, method, settings, 2 * settings.nt_stdev,
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
    x_t, t, eps_uncond = guidance_states(model, exemplars, settings)
    maps = []
    for i in range(len(exemplars)):
        per_state = []
        for j in range(t.shape[1]):
            e = exemplars[i:i + 1].clone().requires_grad_(True)
            extra = (x_t[i:i + 1, j:j + 1], t[i:i + 1, j:j + 1], eps_uncond[i:i + 1, j:j + 1])
            if method == "integrated_gradients":
                attr = IntegratedGradients(signal).attribute(e, baselines=torch.zeros_like(e), additional_forward_args=extra,
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
                                                   baselines=0.0, additional_forward_args=extra)
            per_state.append(attr)
        mean = torch.stack(per_state).mean(0)
        maps.append(_crop(mean.clamp_min(0) if method == "occlusion" else mean.abs()))
    return np.concatenate(maps).astype(np.float32)
