"""Machine maps: known answers on a toy classifier, the CFGDM guidance signal, blank baselines,
batching and bounded memory."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from analysis.attribution import (CFGDM_METHODS, CLASSIFIER_METHODS, AttributionSettings, GuidanceSignal,
                                  blank_exemplar, cfgdm_maps, cfgdm_maps_per_sample, classifier_maps, ink_share,
                                  sampling_states)
from models.cfgdm import OneShotCFGDM, small_unet, to_model_space
from models.classifier import SketchClassifier

REPO = Path(__file__).resolve().parents[2]

QUICK = AttributionSettings.quick()


class QuadrantMask(nn.Module):
    """Channel 0 keeps the top-left quadrant, channel 1 everything else."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.zeros_like(x)
        mask[:, 0, :14, :14] = 1
        mask[:, 1] = 1 - mask[:, 0]
        return x * mask


class QuadrantNet(nn.Module):
    """Logit 0 = ink in the top-left quadrant, logit 1 = ink elsewhere: a known answer."""

    def __init__(self) -> None:
        super().__init__()
        conv = nn.Conv2d(1, 2, 1)
        nn.init.ones_(conv.weight)
        nn.init.zeros_(conv.bias)
        self.features = nn.Sequential(conv, QuadrantMask(), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).sum((2, 3))


def toy_classifier() -> SketchClassifier:
    return SketchClassifier(QuadrantNet().eval(), ["top_left", "rest"], "toy", torch.device("cpu"), {})


def drawing_everywhere() -> np.ndarray:
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 6] = 255
    image[6, 4:24] = 255
    image[20, 10:26] = 255
    return image


@pytest.mark.parametrize("method", CLASSIFIER_METHODS)
def test_classifier_maps_put_the_evidence_where_the_logit_reads(method: str) -> None:
    maps = classifier_maps(toy_classifier(), drawing_everywhere()[None], [0], method, QUICK)
    assert maps.shape == (1, 28, 28) and maps.dtype == np.float32 and np.isfinite(maps).all()
    magnitude = np.abs(maps[0])
    # occlusion windows and the smoothed Grad-CAM bleed a little across the quadrant edge
    assert magnitude[:14, :14].sum() > 0.8 * magnitude.sum() > 0


def test_classifier_maps_are_deterministic_and_independent_of_batching() -> None:
    images = np.stack([drawing_everywhere(), drawing_everywhere()[::-1]])
    classifier = toy_classifier()
    for method in ("integrated_gradients", "smoothgrad", "occlusion"):
        whole = classifier_maps(classifier, images, [0, 1], method, QUICK)
        again = classifier_maps(classifier, images, [0, 1], method, QUICK)
        assert np.array_equal(whole, again)
    one_by_one = classifier_maps(classifier, images, [0, 1], "integrated_gradients",
                                 AttributionSettings(n_steps=4, batch_size=1))
    assert np.allclose(one_by_one, classifier_maps(classifier, images, [0, 1], "integrated_gradients",
                                                   AttributionSettings(n_steps=4)), atol=1e-6)


def test_the_shipped_classifier_gives_maps_on_the_drawing(shipped_classifier) -> None:
    data = np.load(REPO / "data" / "stimuli" / "quickdraw17_default.npz")
    images = data["images"][:3]
    targets = [shipped_classifier.categories.index(c) for c in data["categories"][:3]]
    maps = classifier_maps(shipped_classifier, images, targets, "integrated_gradients", QUICK)
    ink = images > 0
    # IG from a blank canvas can only credit pixels that differ from it: the ink
    assert np.allclose(maps[~ink], 0.0)
    assert (maps.reshape(3, -1).sum(1) > 0).all()


def test_bad_method_or_target_count_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown attribution method"):
        classifier_maps(toy_classifier(), drawing_everywhere()[None], [0], "lime")
    with pytest.raises(ValueError, match="targets"):
        classifier_maps(toy_classifier(), drawing_everywhere()[None], [0, 1])
    with pytest.raises(ValueError, match="unknown attribution method"):
        cfgdm_maps(tiny_cfgdm(), drawing_everywhere()[None], "gradcam")


def tiny_cfgdm() -> OneShotCFGDM:
    torch.manual_seed(0)
    return OneShotCFGDM(small_unet((8, 16)), num_train_timesteps=100)


def test_ig_from_the_blank_canvas_is_complete_signed_and_only_on_ink() -> None:
    """Replays issue 11.1: the old baseline (the null exemplar, mid-grey in model space) credited
    the background and abs() broke completeness."""
    model = tiny_cfgdm()
    image = drawing_everywhere()
    settings = AttributionSettings(n_steps=64, timesteps=(0.7, 0.3), n_noise=1, sampling_steps=8)
    exemplar = to_model_space(image[None])
    x_t, t, eps_uncond = sampling_states(model, exemplar, settings)
    signal = GuidanceSignal(model)
    with torch.no_grad():
        gained = float(signal(exemplar, x_t, t, eps_uncond) - signal(blank_exemplar(exemplar), x_t, t, eps_uncond))
    maps = cfgdm_maps(model, image[None], "integrated_gradients", settings)
    assert abs(gained) > 0
    # completeness: signed attributions sum to s(exemplar) - s(blank) (the padding is blank: 0 there)
    assert float(maps.sum()) == pytest.approx(gained, rel=0.02)
    assert (maps < 0).any() or (maps > 0).all()  # signs are kept, not folded
    assert np.array_equal(maps[0][image == 0], np.zeros(int((image == 0).sum()), np.float32))
    on_ink, ink_area = ink_share(maps, image[None])
    assert on_ink == pytest.approx(1.0) and ink_area == pytest.approx((image > 0).mean())


def test_occlusion_pastes_blank_patches() -> None:
    """A patch over blank paper changes nothing, so it gets zero (up to float32 rounding, which
    depends on the thread count of the convolutions: ~6e-8 with 2 threads, 0 with one): only a
    blank (not grey) patch has that property."""
    image = np.zeros((28, 28), np.uint8)
    image[16:24, 16:24] = 255  # ink only in the bottom-right; windows elsewhere cover paper
    settings = AttributionSettings(timesteps=(0.5,), n_noise=1, sampling_steps=4, occlusion_stride=4)
    maps = cfgdm_maps(tiny_cfgdm(), image[None], "occlusion", settings)[0]
    assert np.abs(maps[:12, :12]).max() <= 1e-5 * np.abs(maps).max()
    assert np.abs(maps[16:24, 16:24]).min() > 1e-3 * np.abs(maps).max()
    clf = classifier_maps(toy_classifier(), image[None], [1], "occlusion", settings)[0]
    assert np.abs(clf[:12, :12]).max() <= 1e-5 * np.abs(clf).max()
    assert np.abs(clf[16:24, 16:24]).min() > 1e-3 * np.abs(clf).max()


def test_sampling_states_follow_the_models_own_guided_trajectory() -> None:
    """The states are the guided DDIM sampler's, seeded, and another seed gives other states."""
    from diffusers import DDIMScheduler

    model = tiny_cfgdm()
    exemplar = to_model_space(drawing_everywhere()[None])
    settings = AttributionSettings(timesteps=(0.9, 0.05), n_noise=1, sampling_steps=5, gamma=2.0, sampler="ddim")
    x_t, t, _ = sampling_states(model, exemplar, settings, seed=7)
    scheduler = DDIMScheduler.from_config(model.scheduler.config)
    scheduler.set_timesteps(5)
    x = torch.randn((1, *exemplar.shape), generator=torch.Generator().manual_seed(7))[0]
    seen = {}
    with torch.no_grad():
        for step in scheduler.timesteps:
            seen[int(step)] = x.clone()
            x = scheduler.step(model.guided_eps(x, torch.full((1,), int(step)), exemplar, 2.0), step, x).prev_sample
    for k in range(t.shape[1]):
        assert torch.allclose(x_t[0, k], seen[int(t[0, k])][0], atol=1e-5)
    assert sorted(int(v) for v in t[0]) == [int(scheduler.timesteps[-1]), int(scheduler.timesteps[0])]
    other, _, _ = sampling_states(model, exemplar, settings, seed=8)
    assert not torch.allclose(other, x_t)


def test_ddpm_sampling_states_are_the_ancestral_samplers_and_do_not_depend_on_chunks() -> None:
    """By default the states come from guided DDPM, the sampler of the samples shown to people:
    each drawing's trajectory is the one a DDPM loop with its own step-noise generator takes,
    whether it is sampled alone or in a chunk with others."""
    from diffusers import DDPMScheduler

    from analysis.attribution import trajectory_generator

    model = tiny_cfgdm()
    images = np.stack([drawing_everywhere(), drawing_everywhere().T, drawing_everywhere()[::-1]])
    exemplars = to_model_space(images)
    settings = AttributionSettings(timesteps=(0.9, 0.3), n_noise=2, sampling_steps=6, gamma=1.5)
    assert settings.sampler == "ddpm"
    x_t, t, _ = sampling_states(model, exemplars, settings, seed=3)
    one_at_a_time, _, _ = sampling_states(model, exemplars, replace(settings, batch_size=2), seed=3)
    # float32 matmuls round differently per batch shape (2.8e-6 seen on values up to 3.8)
    assert torch.allclose(x_t, one_at_a_time, atol=1e-5)
    scheduler = DDPMScheduler.from_config(model.scheduler.config)
    scheduler.set_timesteps(6)
    start = torch.randn((2, 3, *exemplars.shape[1:]), generator=torch.Generator().manual_seed(3))
    j, r = 1, 2  # second trajectory of the third drawing
    x, noise, seen = start[j, r:r + 1], trajectory_generator(3, j, r), {}
    with torch.no_grad():
        for step in scheduler.timesteps:
            seen[int(step)] = x.clone()
            eps = model.guided_eps(x, torch.full((1,), int(step)), exemplars[r:r + 1], 1.5)
            x = scheduler.step(eps, step, x, generator=[noise]).prev_sample
    for k in range(2):
        assert torch.allclose(x_t[r, 2 + k], seen[int(t[r, 2 + k])][0], atol=1e-5)
    assert not torch.allclose(x_t[r, 0], x_t[r, 2])  # the two trajectories differ
    with pytest.raises(ValueError, match="sampler"):
        sampling_states(model, exemplars, replace(settings, sampler="euler"))


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency", "occlusion"])
def test_batched_cfgdm_maps_equal_the_per_sample_loop(method: str) -> None:
    model = tiny_cfgdm()
    images = np.stack([drawing_everywhere(), drawing_everywhere().T, drawing_everywhere()[::-1]])
    settings = AttributionSettings(n_steps=4, timesteps=(0.2, 0.6), n_noise=2, sampling_steps=6, batch_size=8)
    batched = cfgdm_maps(model, images, method, settings)
    looped = cfgdm_maps_per_sample(model, images, method, settings)
    # occlusion subtracts two nearly equal signals, so float rounding shows at ~1e-5 of the peak
    assert np.allclose(batched, looped, rtol=1e-3, atol=1e-4 * np.abs(batched).max())


@pytest.mark.parametrize("method", CFGDM_METHODS)
def test_chunked_cfgdm_maps_equal_the_unchunked_ones(method: str) -> None:
    """``batch_size`` only changes how many inputs share a forward pass, never the maps."""
    model = tiny_cfgdm()
    images = np.stack([drawing_everywhere(), drawing_everywhere().T, drawing_everywhere()[::-1]])
    settings = AttributionSettings(n_steps=6, nt_samples=4, timesteps=(0.2, 0.6), n_noise=2, sampling_steps=6)
    whole = cfgdm_maps(model, images, method, replace(settings, batch_size=10_000))
    one = cfgdm_maps(model, images, method, replace(settings, batch_size=1))
    assert np.allclose(whole, one, rtol=1e-4, atol=1e-5 * np.abs(whole).max())


MEMORY_PROBE = """
import resource, sys, numpy as np, torch
from analysis.attribution import AttributionSettings, cfgdm_maps
from models.cfgdm import OneShotCFGDM
torch.set_num_threads(1)
images = np.load("data/stimuli/quickdraw17_default.npz")["images"][:8]
settings = AttributionSettings(n_steps=8, timesteps=(0.8, 0.5, 0.2), n_noise=2, sampling_steps=4,
                               batch_size=int(sys.argv[1]))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cfgdm_maps(OneShotCFGDM.from_pretrained(), images, "integrated_gradients", settings)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""


def test_cfgdm_attribution_memory_is_bounded_by_the_batch_size() -> None:
    """8 drawings x 6 states x 8 IG steps = 384 UNet inputs: in one batch (as before issue 10.6)
    they need about 2 GB; chunked to 16 inputs per forward the growth stays small."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, "16"], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    growth_mb = float(done.stdout.strip().splitlines()[-1])
    assert growth_mb < 400


def test_cfgdm_accepts_larger_exemplars_by_area_resizing() -> None:
    model = tiny_cfgdm()
    big = np.kron(drawing_everywhere(), np.ones((4, 4), np.uint8))
    assert np.allclose(cfgdm_maps(model, big[None], "saliency", QUICK),
                       cfgdm_maps(model, drawing_everywhere()[None], "saliency", QUICK), atol=1e-7)
