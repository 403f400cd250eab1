"""What the CFGDM's training adds to the model: stroke augmentation, augmented one-shot episodes,
attention, Min-SNR weighting, EMA weights, checkpoints that resume, and the time budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models.cfgdm import OneShotCFGDM, small_unet, to_model_space, training_loss
from models.oneshot_data import DrawingSet, EpisodeSampler
from models.render import strokes_to_bitmap
from models.stroke_augment import StrokeAugment, augment_strokes, render_views

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "data" / "strokes_sample.ndjson"


def sample_drawings() -> list:
    return [json.loads(line)["drawing"] for line in SAMPLE.read_text().splitlines() if line.strip()]


def test_an_identity_augmentation_renders_the_drawing_unchanged() -> None:
    identity = StrokeAugment(rotate_deg=0.0, scale=(1.0, 1.0), shear=0.0, point_noise=0.0, drop_stroke=0.0)
    for drawing in sample_drawings():
        again = augment_strokes(drawing, np.random.default_rng(0), identity)
        assert np.array_equal(strokes_to_bitmap(again), strokes_to_bitmap(drawing))


def test_augmented_drawings_stay_in_the_simplified_frame_and_are_seeded() -> None:
    for drawing in sample_drawings():
        a = augment_strokes(drawing, np.random.default_rng(3))
        b = augment_strokes(drawing, np.random.default_rng(3))
        assert a == b
        points = np.concatenate([np.asarray(s, float) for s in a], axis=1)
        assert points.min() >= 0 and points.max() <= 255
        original = np.concatenate([np.asarray(s, float) for s in drawing], axis=1)
        assert points.max(axis=1).max() == original.max(axis=1).max()  # the longer side keeps its length
        assert 1 <= len(a) <= len(drawing)
        assert a[0][0][0] != drawing[0][0][0] or a[0][1][0] != drawing[0][1][0] or len(a[0][0]) != len(drawing[0][0])


def test_dropping_keeps_the_first_stroke() -> None:
    drawing = next(d for d in sample_drawings() if len(d) >= 3)
    always = StrokeAugment(rotate_deg=0.0, scale=(1.0, 1.0), shear=0.0, point_noise=0.0, drop_stroke=1.0)
    kept = augment_strokes(drawing, np.random.default_rng(0), always)
    assert len(kept) == 1 and len(kept[0][0]) == len(drawing[0][0])


def test_render_views_puts_the_drawing_first_and_varies_the_others() -> None:
    drawings = sample_drawings()[:3]
    views = render_views(drawings, 4, seed=1, progress=False)
    assert views.shape == (3, 4, 28, 28) and views.dtype == np.uint8
    for n, drawing in enumerate(drawings):
        assert np.array_equal(views[n, 0], strokes_to_bitmap(drawing))
        assert all(not np.array_equal(views[n, 0], views[n, v]) for v in range(1, 4))
    assert np.array_equal(render_views(drawings[1:2], 4, seed=1, progress=False)[0, 1:],
                          render_views(drawings[1:2], 4, seed=1, progress=False)[0, 1:])
    with pytest.raises(ValueError):
        render_views(drawings, 0)


def _coded_views(n_drawings: int = 12, n_views: int = 3) -> tuple[DrawingSet, np.ndarray]:
    """Every pixel of view v of drawing i holds 10 * i + v, so a batch says where it came from."""
    images = np.zeros((n_drawings, 28, 28), np.uint8)
    data = DrawingSet(images, np.repeat(np.arange(n_drawings // 4), 4), [f"c{k}" for k in range(n_drawings // 4)])
    code = (10 * np.arange(n_drawings)[:, None] + np.arange(n_views)[None]).astype(np.uint8)
    return data, code[:, :, None, None] * np.ones((1, 1, 28, 28), np.uint8)


def test_episodes_with_p_same_pair_two_views_of_one_drawing() -> None:
    data, views = _coded_views()
    targets, exemplars, labels = EpisodeSampler(data, data.categories, 0, views, p_same=1.0).batch(400)
    t, e = targets[:, 0, 0].astype(int), exemplars[:, 0, 0].astype(int)
    assert (t // 10 == e // 10).all() and (t % 10 != e % 10).all()
    assert (t // 10 // 4 == labels).all()
    targets, exemplars, _ = EpisodeSampler(data, data.categories, 0, views, p_same=0.0).batch(400)
    t, e = targets[:, 0, 0].astype(int), exemplars[:, 0, 0].astype(int)
    assert (t // 10 != e // 10).all() and (t // 40 == e // 40).all()
    assert len(set((t % 10).tolist())) == 3  # every view is used
    targets, exemplars, _ = EpisodeSampler(data, data.categories, 0, views, p_same=0.3).batch(2000)
    same = float(np.mean(targets[:, 0, 0] // 10 == exemplars[:, 0, 0] // 10))
    assert abs(same - 0.3) < 0.05


def test_p_same_needs_views_and_a_probability() -> None:
    data, views = _coded_views()
    with pytest.raises(ValueError, match="two views"):
        EpisodeSampler(data, data.categories, p_same=0.5)
    with pytest.raises(ValueError, match="p_same"):
        EpisodeSampler(data, data.categories, 0, views, p_same=1.5)
    with pytest.raises(ValueError, match="views"):
        EpisodeSampler(data, data.categories, 0, views[:3], p_same=0.5)


def test_attention_levels_put_self_attention_in_the_lowest_resolutions() -> None:
    unet = small_unet((8, 16, 32), attention_levels=1)
    assert unet.config.down_block_types == ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D")
    assert unet.config.up_block_types == ("AttnUpBlock2D", "UpBlock2D", "UpBlock2D")
    assert small_unet((8, 16)).config.down_block_types == ("DownBlock2D", "DownBlock2D")
    with pytest.raises(ValueError):
        small_unet((8, 16), attention_levels=3)


def test_min_snr_weighting_down_weights_nearly_clean_timesteps() -> None:
    torch.manual_seed(0)
    model = OneShotCFGDM(small_unet((8, 16)), num_train_timesteps=100, beta_schedule="squaredcos_cap_v2")
    x = to_model_space(np.full((16, 28, 28), 255, np.uint8))
    with torch.no_grad():
        plain = training_loss(model, x, x, torch.Generator().manual_seed(1))
        huge_gamma = training_loss(model, x, x, torch.Generator().manual_seed(1), snr_gamma=1e12)
        weighted = training_loss(model, x, x, torch.Generator().manual_seed(1), snr_gamma=5.0)
    assert torch.allclose(plain, huge_gamma, rtol=1e-5)  # min(SNR, ∞) / SNR = 1: no weighting
    assert weighted < plain  # every weight is ≤ 1 and the clean timesteps' are < 1


def test_the_noise_schedule_survives_saving(tmp_path: Path) -> None:
    OneShotCFGDM(small_unet((8, 16)), 50, beta_schedule="squaredcos_cap_v2").save_pretrained(tmp_path)
    loaded = OneShotCFGDM.from_pretrained(tmp_path, device="cpu")
    assert loaded.scheduler.config.beta_schedule == "squaredcos_cap_v2"
    assert json.loads((tmp_path / "cfgdm.json").read_text())["beta_schedule"] == "squaredcos_cap_v2"


def _strokes_folder(tmp_path: Path) -> Path:
    lines = [line for line in SAMPLE.read_text().splitlines() if line.strip()]
    folder = tmp_path / "strokes"
    folder.mkdir()
    for k in range(3):
        (folder / f"cat{k}.ndjson").write_text("\n".join(lines[3 * k:3 * k + 3]) + "\n")
    return folder


def _args(folder: Path, out: Path, *extra: str):
    from models.train_cfgdm import parse_args

    return parse_args(["--data", str(folder), "--out", str(out), "--steps", "4", "--batch-size", "4",
                       "--channels", "8,16", "--attention-levels", "1", "--test-categories", "1",
                       "--views", "2", "--p-same", "0.5", "--snr-gamma", "5", "--ema-decay", "0.5",
                       "--beta-schedule", "squaredcos_cap_v2", "--checkpoint-every", "2", *extra])


def test_training_stops_at_its_time_budget_and_resumes_to_the_end(tmp_path: Path) -> None:
    from models.train_cfgdm import train

    folder, out = _strokes_folder(tmp_path), tmp_path / "cfgdm"
    train(_args(folder, out, "--max-minutes", "0"))
    checkpoint = out / "checkpoints" / "step-1"
    assert (checkpoint / "progress.json").exists()
    early = json.loads((checkpoint / "ema" / "cfgdm.json").read_text())
    assert early["steps_done"] == 1 and early["ema"] is True
    OneShotCFGDM.from_pretrained(checkpoint / "ema", device="cpu")  # a run can be evaluated mid-way
    assert json.loads((out / "cfgdm.json").read_text())["steps_done"] == 1

    train(_args(folder, out))  # resumes from step 1, finishes, removes the checkpoints
    meta = json.loads((out / "cfgdm.json").read_text())
    assert meta["steps_done"] == 4 and meta["ema"] is True and meta["views"] == 2 and meta["p_same"] == 0.5
    assert not list((out / "checkpoints").glob("step-*"))
    steps = np.loadtxt(out / "loss.csv", delimiter=",", skiprows=1, ndmin=2)[:, 0]
    assert steps.tolist() == [1, 2, 3, 4]
    assert (out / "samples_grid.png").exists()


def test_the_saved_weights_are_the_moving_average_not_the_last_step(tmp_path: Path) -> None:
    from models.train_cfgdm import train

    folder = _strokes_folder(tmp_path)
    train(_args(folder, tmp_path / "ema", "--lr", "0.05"))
    train(_args(folder, tmp_path / "raw", "--lr", "0.05", "--ema-decay", "0.0"))
    ema = OneShotCFGDM.from_pretrained(tmp_path / "ema", device="cpu").unet.state_dict()
    raw = OneShotCFGDM.from_pretrained(tmp_path / "raw", device="cpu").unet.state_dict()
    fresh = small_unet((8, 16), attention_levels=1).state_dict()
    # same seed, same data: the runs differ only in what is saved. With decay 0 the "average" is
    # the last step; with decay 0.5 it lags behind, between the initial and the final weights.
    key = "conv_in.weight"
    assert not torch.allclose(ema[key], raw[key])
    assert (ema[key] - fresh[key]).norm() < (raw[key] - fresh[key]).norm() + 1e-9


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_under_accelerate_train_on_different_episodes_with_one_schedule(tmp_path: Path) -> None:
    """`accelerate launch` is how the training scales to GPUs; two CPU processes (gloo) run the same
    code paths. Each process must draw its own episodes (the same seed everywhere would make the
    second process repeat the first, so two processes would train exactly like one), the learning
    rate must follow the schedule once per step (accelerate otherwise steps it once per process),
    one process writes the loss log, and a time-budget stop is one decision shared by both."""
    import os
    import subprocess
    import sys

    from models.train_cfgdm import train

    folder = _strokes_folder(tmp_path)
    one, two = tmp_path / "one", tmp_path / "two"
    train(_args(folder, one, "--lr", "0.05"))
    # The multi-GPU launch, with ACCELERATE_USE_CPU so accelerate runs it as two gloo processes
    # on the CPU (`--cpu --num_processes 2` would quietly start a single process).
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()), "-m", "models.train_cfgdm"]
    cli = ["--data", str(folder), "--steps", "4", "--batch-size", "4", "--channels", "8,16",
           "--attention-levels", "1", "--test-categories", "1", "--views", "2", "--p-same", "0.5",
           "--snr-gamma", "5", "--ema-decay", "0.5", "--beta-schedule", "squaredcos_cap_v2",
           "--checkpoint-every", "2", "--lr", "0.05"]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command + cli + ["--out", str(two)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    meta = json.loads((two / "cfgdm.json").read_text())
    assert meta["num_processes"] == 2 and meta["episodes_per_step"] == 8 and meta["steps_done"] == 4
    log_one = np.loadtxt(one / "loss.csv", delimiter=",", skiprows=1, ndmin=2)
    log_two = np.loadtxt(two / "loss.csv", delimiter=",", skiprows=1, ndmin=2)
    assert log_two[:, 0].tolist() == [1, 2, 3, 4]  # one writer, one row per step
    np.testing.assert_allclose(log_two[:, 2], log_one[:, 2], rtol=1e-6)  # the same learning-rate schedule
    # Same seed, same schedule: had process 1 repeated process 0's episodes, the averaged gradient
    # would equal process 0's exactly and the weights would match the one-process run bit for bit.
    w_one = OneShotCFGDM.from_pretrained(one, device="cpu").unet.state_dict()["conv_in.weight"]
    w_two = OneShotCFGDM.from_pretrained(two, device="cpu").unet.state_dict()["conv_in.weight"]
    assert not torch.equal(w_one, w_two)

    stopped = tmp_path / "stopped"  # a time budget of 0: both processes stop at step 1 and save
    done = subprocess.run(command + cli + ["--out", str(stopped), "--max-minutes", "0"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((stopped / "cfgdm.json").read_text())["steps_done"] == 1
    assert (stopped / "checkpoints" / "step-1" / "progress.json").exists()
