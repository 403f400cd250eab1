"""The one-shot CFGDM: guidance formula, training signal, saving/loading, one-shot episodes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models.cfgdm import OneShotCFGDM, P_UNCOND, small_unet, to_images, to_model_space, training_loss
from models.oneshot_data import DrawingSet, EpisodeSampler, load_strokes_folder, split_categories

REPO = Path(__file__).resolve().parents[2]


def tiny_model(seed: int = 0) -> OneShotCFGDM:
    torch.manual_seed(seed)
    return OneShotCFGDM(small_unet((8, 16), layers_per_block=1), num_train_timesteps=100)


def drawings(n: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    for k in range(n):
        r, c = rng.integers(4, 20, size=2)
        images[k, r:r + 6, c:c + 2] = 255
    return images


def test_model_space_round_trip_keeps_pixels() -> None:
    images = drawings()
    x = to_model_space(images)
    assert x.shape == (4, 1, 32, 32)
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert np.array_equal(to_images(x), images)


def test_guided_eps_mixes_conditional_and_unconditional_predictions() -> None:
    model = tiny_model()
    x = torch.randn(3, 1, 32, 32)
    t = torch.tensor([5, 50, 90])
    exemplar = to_model_space(drawings(3))
    with torch.no_grad():
        cond = model.eps(x, t, exemplar)
        uncond = model.eps(x, t, torch.zeros_like(exemplar))
        for gamma in (0.0, 1.0, 3.5):
            expected = (1 + gamma) * cond - gamma * uncond
            assert torch.allclose(model.guided_eps(x, t, exemplar, gamma), expected, atol=1e-5)
    assert not torch.allclose(cond, uncond), "the exemplar channel must change the prediction"


def test_training_drops_the_exemplar_about_one_time_in_ten(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_model()
    seen: list[torch.Tensor] = []
    original = model.eps

    def spy(x_t, t, exemplar):
        seen.append(exemplar.flatten(1).abs().sum(1) == 0)
        return original(x_t, t, exemplar)

    monkeypatch.setattr(model, "eps", spy)
    batch = to_model_space(np.repeat(drawings(1), 2000, axis=0))
    training_loss(model, batch[:, :, :, :], batch, torch.Generator().manual_seed(0))
    dropped = float(torch.cat(seen).float().mean())
    assert abs(dropped - P_UNCOND) < 0.03


def test_a_few_training_steps_lower_the_loss_on_a_fixed_batch() -> None:
    model = tiny_model()
    images = to_model_space(drawings(8))
    optimizer = torch.optim.Adam(model.unet.parameters(), lr=3e-3)

    def loss_at(seed: int) -> torch.Tensor:
        return training_loss(model, images, images.flip(0), torch.Generator().manual_seed(seed))

    with torch.no_grad():
        before = float(np.mean([loss_at(s).item() for s in range(5)]))
    for step in range(40):
        optimizer.zero_grad()
        loss_at(100 + step).backward()
        optimizer.step()
    with torch.no_grad():
        after = float(np.mean([loss_at(s).item() for s in range(5)]))
    assert after < 0.8 * before


def test_save_and_from_pretrained_round_trip(tmp_path: Path) -> None:
    model = tiny_model()
    model.save_pretrained(tmp_path, meta={"test_categories": ["cat"]})
    meta = json.loads((tmp_path / "cfgdm.json").read_text())
    assert meta["test_categories"] == ["cat"] and meta["p_uncond"] == P_UNCOND
    loaded = OneShotCFGDM.from_pretrained(tmp_path, device="cpu")
    x = torch.randn(2, 1, 32, 32)
    t = torch.tensor([3, 70])
    ex = to_model_space(drawings(2))
    with torch.no_grad():
        assert torch.allclose(model.unet.eval()(torch.cat([x, ex], 1), t).sample,
                              loaded.eps(x, t, ex), atol=1e-6)
    assert loaded.scheduler.config.num_train_timesteps == 100


def test_from_pretrained_names_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="cfgdm.json"):
        OneShotCFGDM.from_pretrained(tmp_path)


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_sampling_is_seeded_and_returns_drawings(sampler: str) -> None:
    model = tiny_model()
    a = model.sample(drawings(2), gamma=2.0, steps=4, sampler=sampler, seed=1)
    b = model.sample(drawings(2), gamma=2.0, steps=4, sampler=sampler, seed=1)
    assert a.shape == (2, 28, 28) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    with pytest.raises(ValueError):
        model.sample(drawings(1), sampler="euler")


@pytest.mark.parametrize("sampler, steps", [("ddpm", 250), ("ddim", 25)])
def test_each_sampler_runs_its_own_default_number_of_steps(sampler: str, steps: int) -> None:
    """DDPM is the default sampler (250 steps: with the shipped model, DDIM's 25 deterministic steps
    draw tangled strokes, README); DDIM keeps its fast 25."""
    from models.cfgdm import DEFAULT_SAMPLER, SAMPLER_STEPS

    assert DEFAULT_SAMPLER == "ddpm" and SAMPLER_STEPS[sampler] == steps
    model = OneShotCFGDM(small_unet((8, 16)), num_train_timesteps=1000)
    calls: list[int] = []
    model.unet.register_forward_hook(lambda _m, args, _out: calls.append(args[0].shape[0]))
    model.sample(drawings(1), gamma=1.0, **({} if sampler == DEFAULT_SAMPLER else {"sampler": sampler}))
    assert len(calls) == steps  # one batched (conditional + unconditional) forward per step


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_sampling_many_exemplars_runs_the_unet_in_bounded_chunks(sampler: str) -> None:
    """Sampling 1,000 exemplars in one UNet batch took 3.6 GB with the shipped UNet; chunks bound
    the memory and change nothing: the noise is drawn for the whole batch and each drawing's
    denoising is independent of the others (GroupNorm, no batch statistics)."""
    model = tiny_model()
    seen: list[int] = []
    model.unet.register_forward_hook(lambda _m, args, _out: seen.append(args[0].shape[0]))
    chunked = model.sample(drawings(5), gamma=2.0, steps=3, sampler=sampler, seed=1, max_batch=2)
    assert seen and max(seen) <= 2 * 2  # conditional and unconditional halves of 2 exemplars
    whole = model.sample(drawings(5), gamma=2.0, steps=3, sampler=sampler, seed=1, max_batch=64)
    assert np.array_equal(chunked, whole)


def test_episodes_pair_different_drawings_of_one_training_category() -> None:
    images = np.arange(30, dtype=np.uint8)[:, None, None] * np.ones((1, 28, 28), np.uint8)
    data = DrawingSet(images, np.repeat(np.arange(6), 5), [f"c{i}" for i in range(6)])
    train, test = split_categories(data.categories, n_test=2, seed=0)
    assert not set(train) & set(test) and len(test) == 2
    sampler = EpisodeSampler(data, train, seed=0)
    targets, exemplars, labels = sampler.batch(500)
    assert (targets[:, 0, 0] != exemplars[:, 0, 0]).all()
    assert (targets[:, 0, 0] // 5 == labels).all() and (exemplars[:, 0, 0] // 5 == labels).all()
    test_labels = {data.categories.index(c) for c in test}
    assert not set(labels.tolist()) & test_labels


def test_loads_a_strokes_folder_by_category(tmp_path: Path) -> None:
    sample = (REPO / "tests" / "data" / "strokes_sample.ndjson").read_text().splitlines()
    (tmp_path / "a.ndjson").write_text("\n".join(sample[:3]) + "\n")
    (tmp_path / "b.ndjson").write_text("\n".join(sample[3:5]) + "\n")
    data = load_strokes_folder(tmp_path)
    assert data.categories == ["a", "b"]
    assert data.images.shape == (5, 28, 28) and data.labels.tolist() == [0, 0, 0, 1, 1]
    assert data.images.max() == 255


def test_shipped_weights_load_and_hold_out_their_test_categories() -> None:
    folder = REPO / "models" / "weights" / "cfgdm"
    model = OneShotCFGDM.from_pretrained(folder, device="cpu")
    meta = model.meta
    assert len(meta["test_categories"]) == 40
    assert not set(meta["test_categories"]) & set(meta["train_categories"])
    out = model.sample(drawings(1), gamma=1.0, steps=3)
    assert out.shape == (1, 28, 28)


def test_evaluation_compares_samples_with_own_and_other_exemplars() -> None:
    from models.evaluate_cfgdm import evaluate

    result = evaluate(tiny_model(), drawings(3), gammas=[0.0, 2.0], samples_per=1, steps=2)
    assert set(result) == {"0", "2"}
    for row in result.values():
        assert 0 <= row["closer_to_own"] <= 1
        assert -1 <= row["other_exemplars"] <= 1 and -1 <= row["own_exemplar"] <= 1


def test_evaluation_cli_reports_its_sampler(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`python -m models.evaluate_cfgdm` on a saved model and a strokes folder: the held-out
    categories' first drawings are the exemplars, and the output names the sampler and steps."""
    from models.evaluate_cfgdm import main

    lines = [line for line in (REPO / "tests" / "data" / "strokes_sample.ndjson").read_text().splitlines() if line]
    strokes = tmp_path / "strokes"
    strokes.mkdir()
    for k in range(3):
        (strokes / f"cat{k}.ndjson").write_text("\n".join(lines[2 * k:2 * k + 2]) + "\n")
    tiny_model().save_pretrained(tmp_path / "cfgdm", meta={"test_categories": ["cat0", "cat1", "cat2"]})
    main(["--weights", str(tmp_path / "cfgdm"), "--data", str(strokes), "--gammas", "0,1", "--sampler", "ddim",
          "--steps", "2"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["held_out_categories"] == 3 and (printed["sampler"], printed["steps"]) == ("ddim", 2)
    assert set(printed["result"]) == {"0", "1"}
