"""Sanity checks with a known answer: tiny models built here that truly use one planted patch of
the drawing. Every attribution method must find the patch, and it must vanish when the same
architecture is re-initialised (the random-weights control)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from analysis.attribution import CFGDM_METHODS, AttributionSettings, cfgdm_maps, classifier_maps
from analysis.controls import machine_controls, random_weights, randomized, summarise_controls
from models.cfgdm import PAD, OneShotCFGDM
from models.classifier import SketchClassifier

SETTINGS = AttributionSettings(n_steps=8, nt_samples=4, timesteps=(0.7, 0.3), n_noise=1, sampling_steps=6)


def drawing() -> np.ndarray:
    """Ink all over the canvas; about a fifth of it inside the planted patches."""
    image = np.zeros((28, 28), np.uint8)
    image[2:26, 6] = 255
    image[6, 2:26] = 255
    image[20, 8:26] = 255
    image[10:24, 22] = 255
    return image


def planted_linear(side: int, rows: slice, cols: slice, hidden: int = 8) -> nn.Linear:
    """A linear read-out of a ``side x side`` image whose weights are non-zero only in the patch."""
    torch.manual_seed(0)
    layer = nn.Linear(side * side, hidden)
    mask = torch.zeros(side, side)
    mask[rows, cols] = 1
    with torch.no_grad():
        layer.weight.mul_(mask.reshape(1, -1)).mul_(8)
        layer.bias.zero_()
    return layer


class PlantedUNet(nn.Module):
    """A noise predictor whose exemplar pathway reads only model-space rows/cols 4..12."""

    def __init__(self) -> None:
        super().__init__()
        self.read = planted_linear(32, slice(4, 12), slice(4, 12))
        self.write = nn.Linear(8, 32 * 32)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> SimpleNamespace:
        guided = self.write(torch.tanh(self.read(x[:, 1].flatten(1)))).view(-1, 1, 32, 32)
        return SimpleNamespace(sample=0.5 * x[:, :1] + guided)


class PlantedClassifier(nn.Module):
    """Logit 0 reads only rows/cols 4..12 of the 28x28 input."""

    def __init__(self) -> None:
        super().__init__()
        self.read = planted_linear(28, slice(4, 12), slice(4, 12))
        self.out = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.read(x.flatten(1))))


def patch_share(maps: np.ndarray, rows: slice, cols: slice) -> float:
    magnitude = np.abs(maps[0])
    return float(magnitude[rows, cols].sum() / magnitude.sum())


CFGDM_PATCH = (slice(4 - PAD, 12 - PAD), slice(4 - PAD, 12 - PAD))  # the patch in 28x28 map coordinates
CLASSIFIER_PATCH = (slice(4, 12), slice(4, 12))


def ink_share_in(patch: tuple[slice, slice]) -> float:
    ink = drawing() > 0
    return float(ink[patch].sum() / ink.sum())


@pytest.mark.parametrize("method", CFGDM_METHODS)
def test_every_method_finds_the_cfgdm_feature_and_random_weights_lose_it(method: str) -> None:
    model = OneShotCFGDM(PlantedUNet(), num_train_timesteps=100)
    trained = cfgdm_maps(model, drawing()[None], method, SETTINGS)
    shuffled = cfgdm_maps(random_weights("cfgdm", model), drawing()[None], method, SETTINGS)
    assert patch_share(trained, *CFGDM_PATCH) > 0.95
    assert patch_share(shuffled, *CFGDM_PATCH) < 0.5
    assert ink_share_in(CFGDM_PATCH) < 0.3


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency", "smoothgrad", "occlusion"])
def test_every_method_finds_the_classifier_feature_and_random_weights_lose_it(method: str) -> None:
    classifier = SketchClassifier(PlantedClassifier().eval(), ["planted", "other"], "planted", torch.device("cpu"), {})
    trained = classifier_maps(classifier, drawing()[None], [0], method, SETTINGS)
    shuffled = classifier_maps(random_weights("classifier", classifier), drawing()[None], [0], method, SETTINGS)
    assert patch_share(trained, *CLASSIFIER_PATCH) > 0.95
    assert patch_share(shuffled, *CLASSIFIER_PATCH) < 0.5


def test_randomized_resets_every_weight_and_leaves_the_model_alone() -> None:
    model = PlantedUNet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    clone = randomized(model, seed=3)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    changed = [k for k, v in clone.state_dict().items() if not torch.equal(before[k], v)]
    assert set(changed) == set(before)
    again = randomized(model, seed=3)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in clone.state_dict().items())


def test_controls_report_the_planted_model_as_learned_and_method_consistent() -> None:
    """On the planted CFGDM: trained vs random maps disagree, methods agree, seeds agree."""
    model = OneShotCFGDM(PlantedUNet(), num_train_timesteps=100)
    images = np.stack([drawing(), drawing()[:, ::-1].copy()])

    def attribute(m, method: str, seed: int, rows: np.ndarray) -> np.ndarray:
        return cfgdm_maps(m, images[rows], method, AttributionSettings(**{**vars(SETTINGS), "seed": seed}))

    rows = np.arange(2)
    raw = attribute(model, "integrated_gradients", 0, rows)
    ink = images > 0
    human = [np.abs(r) + 1e-3 for r in raw]  # "humans" who look where the model looks
    values = machine_controls("cfgdm", model, "integrated_gradients", 0, rows, raw, ink, attribute,
                              np.abs, human)
    assert np.nanmean(values["random_weights.alignment"]) < 0.6
    assert np.nanmean(values["random_weights.similarity"]) < 0.3
    assert np.nanmean(values["seed.agreement"]) > 0.9
    assert np.nanmean(values["methods.integrated_gradients~saliency"]) > 0.5
    summary = summarise_controls(values, n_boot=50, seed=0)
    assert set(summary) == {"random_weights", "seed", "methods"}
    seed = summary["seed"]["agreement"]
    assert seed["lo"] <= seed["mean"] <= seed["hi"]


def test_deterministic_methods_are_not_reported_as_perfectly_seed_reliable() -> None:
    classifier = SketchClassifier(PlantedClassifier().eval(), ["planted", "other"], "planted", torch.device("cpu"), {})
    images = drawing()[None]

    def attribute(m, method: str, seed: int, rows: np.ndarray) -> np.ndarray:
        return classifier_maps(m, images[rows], [0], method, AttributionSettings(**{**vars(SETTINGS), "seed": seed}))

    rows = np.arange(1)
    raw = attribute(classifier, "integrated_gradients", 0, rows)
    values = machine_controls("classifier", classifier, "integrated_gradients", 0, rows, raw, images > 0,
                              attribute, np.abs, [np.abs(raw[0]) + 1e-3])
    assert values["seed.agreement"] == "deterministic"
