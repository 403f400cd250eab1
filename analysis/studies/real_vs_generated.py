"""Can a classifier tell real drawings from generated ones, and in which spatial frequencies?

Real drawings (other people's, of categories the generator never trained on) and one-shot
samples from the CFGDM are split **by category** (a category's real and generated drawings are
all on the same side), a small CNN is trained to tell them apart, and its held-out accuracy is
the distinguishability of the two distributions (0.5 = indistinguishable). Frequency ablations
repeat the whole train/test with every image band-filtered in the Fourier domain — low-pass
(keep radial frequencies ≤ r cycles per image) or high-pass (remove them) — to show which
frequencies carry the difference. Accuracies come with bootstrap 95% CIs over test images.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from models.classifier import SketchCNN

from ..stats import bootstrap_ci

#: ``(name, kind, radius)``: kind "full", "lowpass" or "highpass"; radius in cycles per image
DEFAULT_BANDS: tuple[tuple[str, str, float], ...] = (
    ("full", "full", 0.0), ("lowpass 3", "lowpass", 3.0), ("lowpass 6", "lowpass", 6.0),
    ("highpass 3", "highpass", 3.0), ("highpass 6", "highpass", 6.0))


def band_filter(images: np.ndarray, kind: str, radius: float) -> np.ndarray:
    """float32 ``[N, H, W]`` images in 0..1 keeping (lowpass) or removing (highpass) radial
    frequencies up to ``radius`` cycles per image; "full" returns them unchanged."""
    x = np.asarray(images, dtype=np.float32) / 255.0
    if kind == "full":
        return x
    if kind not in ("lowpass", "highpass"):
        raise ValueError(f"unknown band kind {kind!r}")
    h, w = x.shape[1:]
    fy, fx = np.meshgrid(np.fft.fftfreq(h) * h, np.fft.fftfreq(w) * w, indexing="ij")
    keep = np.hypot(fy, fx) <= radius
    if kind == "highpass":
        keep = ~keep
    return np.real(np.fft.ifft2(np.fft.fft2(x) * keep)).astype(np.float32)


def _train(x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    module = SketchCNN(2, channels=(16, 32, 64), dropout=0.1)
    optimizer = torch.optim.AdamW(module.parameters(), lr=2e-3, weight_decay=1e-4)
    xt, yt = torch.from_numpy(x)[:, None], torch.from_numpy(y).long()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        module.train()
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(order), 64):
            batch = order[start:start + 64]
            loss = F.cross_entropy(module(xt[batch]), yt[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return module.eval()


def distinguishability(real: np.ndarray, generated: np.ndarray, test_categories: Sequence[int],
                       bands: Sequence[tuple[str, str, float]] = DEFAULT_BANDS, epochs: int = 8,
                       seed: int = 0, n_boot: int = 2000) -> pd.DataFrame:
    """Held-out real-vs-generated accuracy per frequency band.

    ``real`` and ``generated`` are uint8 ``[C, K, H, W]`` (K drawings of each of C categories);
    categories in ``test_categories`` are held out from training.
    """
    if real.shape[:2] != generated.shape[:2]:
        raise ValueError("real and generated need the same [categories, drawings] layout")
    c, k = real.shape[:2]
    test = np.isin(np.arange(c), list(test_categories))
    if test.all() or not test.any():
        raise ValueError("some categories must be held out for testing and some kept for training")
    images = np.concatenate([real, generated], axis=1)  # [C, 2K, H, W]
    labels = np.concatenate([np.zeros((c, k)), np.ones((c, k))], axis=1)
    rows = []
    for name, kind, radius in bands:
        filtered = band_filter(images.reshape(-1, *images.shape[2:]), kind, radius).reshape(images.shape)
        module = _train(filtered[~test].reshape(-1, *images.shape[2:]), labels[~test].ravel(), epochs, seed)
        with torch.no_grad():
            logits = module(torch.from_numpy(filtered[test].reshape(-1, *images.shape[2:]))[:, None])
        correct = (logits.argmax(1).numpy() == labels[test].ravel()).astype(float)
        ci = bootstrap_ci(correct, n_boot=n_boot, seed=seed)
        rows.append({"band": name, "kind": kind, "radius": radius, "accuracy": ci["mean"], "lo": ci["lo"],
                     "hi": ci["hi"], "n_test": int(correct.size)})
    return pd.DataFrame(rows)


def generate_set(generate: Callable[[np.ndarray, float, int], np.ndarray], real: np.ndarray, gamma: float,
                 seed: int = 0) -> np.ndarray:
    """One sample per real drawing, with that drawing as the exemplar: ``[C, K, H, W]``."""
    c, k = real.shape[:2]
    flat = generate(real.reshape(c * k, *real.shape[2:]), gamma, seed)
    return flat.reshape(real.shape)


def plot(table: pd.DataFrame, path) -> None:
    """Accuracy per band with 95% CIs and the 0.5 chance line."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    x = np.arange(len(table))
    ax.bar(x, table.accuracy, color="#7570b3", yerr=[table.accuracy - table.lo, table.hi - table.accuracy], capsize=3)
    ax.axhline(0.5, color="0.5", ls=":", label="chance")
    ax.set_xticks(x, table.band, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("real vs generated accuracy")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
