"""The critics: data readers, losses and validation with known answers, training end to end on the
shipped Omniglot slice, and the shipped weights reproducing the numbers on their cards."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.critic import ConvEncoder, Encoder, load_critic, load_encoder, save_encoder
from models.critic_data import load_heldout_quickdraw, shared_data, training_classes
from models.critic_validation import heldout_episodes, omniglot_runs
from models.omniglot import Runs, load_runs, load_shipped_background
from models.sketch_augment import Augment, augment, jitter_generator
from models.train_protonet import prototypical_loss, with_rotations
from models.train_simclr import nt_xent

REPO = Path(__file__).resolve().parents[2]
CRITICS = REPO / "models" / "weights" / "critic"


def test_the_benchmark_runs_are_parsed_with_their_answers() -> None:
    runs = load_runs()
    assert runs.training.shape == runs.test.shape == (20, 20, 28, 28) and runs.training.dtype == np.uint8
    for answers in runs.answers:  # each test image belongs to exactly one training class
        assert sorted(answers) == list(range(20))
    assert runs.test.mean() < 60  # white strokes on black: mostly dark


def test_validation_has_known_answers() -> None:
    runs = load_runs(size=28)
    copies = Runs(runs.training, np.stack([t[a] for t, a in zip(runs.training, runs.answers)]), runs.answers)
    pixels = lambda images: images.reshape(len(images), -1).astype(np.float32)  # noqa: E731
    perfect = omniglot_runs(pixels, copies, n_boot=100)
    assert perfect["error"] == 0.0 and perfect["trials"] == 400
    blind = omniglot_runs(lambda images: np.zeros((len(images), 3), np.float32), runs, n_boot=100)
    # all distances tie, so every test image goes to training image 0: right once per run
    assert blind["error"] == pytest.approx(19 / 20) and blind["lo"] <= blind["error"] <= blind["hi"]
    images, _ = load_heldout_quickdraw()
    identical = np.repeat(images[:, :1], 6, axis=1)
    result = heldout_episodes(pixels, identical, way=20, episodes=50, n_boot=100)
    assert result["accuracy"] == 1.0 and result["chance"] == 0.05
    with pytest.raises(ValueError, match="need 41 classes"):
        heldout_episodes(pixels, images, way=41, episodes=5)


def test_prototypical_loss_and_nt_xent_match_their_definitions() -> None:
    torch.manual_seed(0)
    module = ConvEncoder(8).eval()
    batch = torch.rand(3, 4, 1, 28, 28)
    loss, _ = prototypical_loss(module, batch)
    emb = module(batch.flatten(0, 1)).view(3, 4, -1)
    logits = torch.stack([-((emb[c, q] - emb[:, 0]) ** 2).sum(1) for c in range(3) for q in range(1, 4)])
    expected = torch.nn.functional.cross_entropy(logits, torch.arange(3).repeat_interleave(3))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)
    # orthogonal one-hot pairs: each view's twin has similarity 1, the 2N-2 others 0
    n, tau = 4, 0.5
    z = torch.eye(n)
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + (2 * n - 2)))
    assert float(nt_xent(z, z.clone(), tau)) == pytest.approx(expected, rel=1e-5)


def test_rotations_make_new_classes() -> None:
    classes = load_shipped_background().images[:3]
    rotated = with_rotations(classes)
    assert rotated.shape == (12, *classes.shape[1:])
    assert np.array_equal(rotated[3 + 1, 5], np.rot90(classes[1, 5], 1))


def test_augmentations_with_zero_ranges_are_the_identity_and_jitter_is_seeded() -> None:
    x = torch.from_numpy(load_shipped_background().images[:4, 0].astype(np.float32) / 255)[:, None]
    none = Augment(rotate_deg=0, scale=(1, 1), shear=0, translate=0, thickness=(0, 0), elastic=0)
    assert torch.allclose(augment(x, torch.Generator().manual_seed(0), none), x, atol=1e-5)
    exemplars = (x[:, 0].numpy() * 255).astype(np.uint8)
    generate = jitter_generator()
    a, b, c = generate(exemplars, 0.0, 1), generate(exemplars, 0.0, 1), generate(exemplars, 0.0, 2)
    assert np.array_equal(a, b) and not np.array_equal(a, c) and a.dtype == np.uint8


def test_saved_encoders_load_identically_and_refuse_tampered_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = ConvEncoder(8, 4).eval()
    save_encoder(module, tmp_path / "net", {"dataset": "omniglot"})
    loaded = load_encoder(tmp_path / "net", device="cpu")
    images = load_shipped_background().images[:2, :3].reshape(6, 28, 28)
    assert np.allclose(loaded.embed(images), Encoder(module).embed(images), atol=1e-6)
    with open(tmp_path / "net.safetensors", "r+b") as fh:
        fh.seek(-4, 2)
        fh.write(b"\x00\x00\x00\x01")
    with pytest.raises(ValueError, match="do not match"):
        load_encoder(tmp_path / "net")
    with pytest.raises(FileNotFoundError, match="no critic"):
        load_critic(tmp_path / "nowhere")


def test_training_runs_end_to_end_on_the_shipped_slice(tmp_path: Path) -> None:
    slice_ = str(REPO / "data" / "omniglot" / "background_slice.npz")
    for args in (["models.train_protonet", "--episodes", "20", "--way", "5", "--queries", "2", "--width", "8"],
                 ["models.train_simclr", "--steps", "3", "--batch", "16", "--width", "8", "--projection", "4"]):
        done = subprocess.run([sys.executable, "-m", *args, "--dataset", "omniglot", "--data", slice_,
                               "--out", str(tmp_path), "--quick-validation"],
                              cwd=REPO, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    critic = load_critic(tmp_path, device="cpu")
    meta = critic.recognizer.meta
    assert meta["training_classes"] == 12 and meta["rotations"] == 4 and meta["way"] == 5
    assert "--episodes 20" in meta["command"]
    runs = meta["validation"]["omniglot_20_runs_20way_1shot"]
    assert runs["trials"] == 400 and runs["lo"] <= runs["error"] <= runs["hi"]
    assert critic.extractor.meta["labels_used"] is False
    assert critic.features(load_runs().test[0]).shape == (20, 8)


@pytest.mark.parametrize("name", ["omniglot", "quickdraw"])
def test_the_shipped_critics_reproduce_their_validation_numbers(name: str) -> None:
    critic = load_critic(name, device="cpu")
    for encoder, key, metric in ((critic.recognizer, "validation", "euclidean"),
                                 (critic.extractor, "validation_nearest_exemplar_cosine", "cosine")):
        recorded = encoder.meta[key]
        assert encoder.meta["dataset"] == name
        if name == "omniglot":
            again = omniglot_runs(encoder.embed, load_runs(), metric)
            assert again["error"] == pytest.approx(recorded["omniglot_20_runs_20way_1shot"]["error"], abs=1e-9)
        else:
            images, _ = load_heldout_quickdraw()
            again = heldout_episodes(encoder.embed, images, 20, 1000, metric=metric)
            assert again["accuracy"] == pytest.approx(recorded["quickdraw_heldout40_20way_1shot"]["accuracy"],
                                                      abs=1e-6)
    assert (CRITICS / name / "CARD.md").exists()


def test_the_shipped_quickdraw_critic_never_saw_the_held_out_categories() -> None:
    meta = load_critic("quickdraw", device="cpu").recognizer.meta
    assert meta["training_classes"] == 263
    folder = shared_data() / "quickdraw" / "simplified_strokes"
    if not folder.exists():
        pytest.skip(f"needs the original strokes in {folder}")
    _, train = training_classes("quickdraw", folder)
    _, held_out = load_heldout_quickdraw()
    assert len(train) == 263 and not set(train) & set(held_out)
    cfgdm = json.loads((REPO / "models" / "weights" / "cfgdm" / "cfgdm.json").read_text())
    assert sorted(held_out) == sorted(cfgdm["test_categories"])
