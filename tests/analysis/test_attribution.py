"""Machine maps: known answers on a toy classifier, the CFGDM guidance signal, batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from torch import nn

from analysis.attribution import (CFGDM_METHODS, CLASSIFIER_METHODS, AttributionSettings, GuidanceSignal,
                                  cfgdm_maps, cfgdm_maps_per_sample, classifier_maps, guidance_states)
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
    assert maps.shape == (1, 28, 28) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and (maps >= 0).all()
    inside = maps[0, :14, :14].sum()
    # occlusion windows and the smoothed Grad-CAM bleed a little across the quadrant edge
    assert inside > 0.8 * maps[0].sum() > 0


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


def test_the_null_exemplar_has_no_guidance_signal_and_ig_is_complete() -> None:
    model = tiny_cfgdm()
    exemplar = to_model_space(drawing_everywhere()[None])
    x_t, t, eps_uncond = guidance_states(model, exemplar, QUICK)
    signal = GuidanceSignal(model)
    with torch.no_grad():
        assert float(signal(torch.zeros_like(exemplar), x_t, t, eps_uncond)) == pytest.approx(0.0, abs=1e-12)
        value = float(signal(exemplar, x_t, t, eps_uncond))
    assert value > 0
    attr, delta = IntegratedGradients(signal).attribute(
        exemplar, baselines=torch.zeros_like(exemplar), additional_forward_args=(x_t, t, eps_uncond),
        n_steps=64, return_convergence_delta=True)
    assert float(attr.sum()) == pytest.approx(value, rel=0.05)
    assert abs(float(delta)) < 0.05 * value


@pytest.mark.parametrize("method", CFGDM_METHODS)
def test_cfgdm_maps_are_finite_non_negative_and_deterministic(method: str) -> None:
    model = tiny_cfgdm()
    images = np.stack([drawing_everywhere(), drawing_everywhere().T])
    maps = cfgdm_maps(model, images, method, QUICK)
    assert maps.shape == (2, 28, 28) and np.isfinite(maps).all() and (maps >= 0).all()
    assert (maps.reshape(2, -1).sum(1) > 0).all()
    assert np.array_equal(maps, cfgdm_maps(model, images, method, QUICK))


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency", "occlusion"])
def test_batched_cfgdm_maps_equal_the_per_sample_loop(method: str) -> None:
    model = tiny_cfgdm()
    images = np.stack([drawing_everywhere(), drawing_everywhere().T, drawing_everywhere()[::-1]])
    settings = AttributionSettings(n_steps=4, timesteps=(0.2, 0.6), n_noise=2, occlusion_stride=4, batch_size=2)
    batched = cfgdm_maps(model, images, method, settings)
    looped = cfgdm_maps_per_sample(model, images, method, settings)
    # occlusion subtracts two nearly equal signals, so float rounding shows at ~1e-5 of the peak
    assert np.allclose(batched, looped, rtol=1e-3, atol=1e-4 * batched.max())


def test_cfgdm_accepts_larger_exemplars_by_area_resizing() -> None:
    model = tiny_cfgdm()
    big = np.kron(drawing_everywhere(), np.ones((4, 4), np.uint8))
    assert np.allclose(cfgdm_maps(model, big[None], "saliency", QUICK),
                       cfgdm_maps(model, drawing_everywhere()[None], "saliency", QUICK), atol=1e-7)
