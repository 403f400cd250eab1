"""Human maps for exports and the dashboard: fetch one stimulus' rounds, let `analysis` do the math.

The map itself (`analysis.maps`) and its split-half reliability (`analysis.reliability`) belong
to the analysis package, so the dashboard, the exports and the notebooks show the very same
numbers. This module only fetches points - per stimulus, or for one dashboard page of stimuli,
never the whole table - and turns maps into npz members and PNG heatmaps.
"""

from __future__ import annotations

import io
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from PIL import Image
from sqlalchemy import select

from ..extensions import db
from ..models import BrushPoint, Round, Stimulus, StimulusSet
from .exports import Counter, ExportOptions
from .filters import Scope
from .zipstream import Pipe, member_info


@dataclass
class StimulusRounds:
    """The brush points of every round of one stimulus, with each round's brush radius."""

    stimulus: Stimulus
    points: list[np.ndarray]  # per round: [N, 2] float64 (x, y) in the stimulus' frame
    radii: list[float]


def _radius(settings: dict[str, Any], stimulus: Stimulus) -> float:
    from models.render import DEFAULT_BRUSH_FRACTION, brush_radius_px

    if settings.get("brush_radius_px"):
        return float(settings["brush_radius_px"])
    fraction = float(settings.get("brush_fraction") or DEFAULT_BRUSH_FRACTION)
    return brush_radius_px(stimulus.width, stimulus.height, fraction)


def load_rounds(scope: Scope, stimuli: Sequence[Stimulus]) -> dict[int, StimulusRounds]:
    """Points of the rounds in scope for these stimuli (two queries, rounds with points only)."""
    by_id = {s.id: StimulusRounds(s, [], []) for s in stimuli}
    if not by_id:
        return by_id
    in_scope = [Round.id.in_(scope.rounds()), Round.stimulus_id.in_(list(by_id)), Round.n_points > 0]
    rounds = db.session.execute(select(Round.id, Round.stimulus_id, Round.settings).where(*in_scope)
                                .order_by(Round.stimulus_id, Round.id)).all()
    coords: dict[str, list[tuple[float, float]]] = defaultdict(list)
    rows = db.session.execute(select(BrushPoint.round_id, BrushPoint.x, BrushPoint.y)
                              .join(Round, Round.id == BrushPoint.round_id).where(*in_scope)
                              .order_by(BrushPoint.round_id, BrushPoint.idx)
                              .execution_options(yield_per=5000))
    for round_id, x, y in rows:
        coords[round_id].append((x, y))
    for round_id, stimulus_id, settings in rounds:
        if coords.get(round_id):
            entry = by_id[stimulus_id]
            entry.points.append(np.asarray(coords.pop(round_id), dtype=np.float64))
            entry.radii.append(_radius(settings or {}, entry.stimulus))
    return by_id


def human_map(data: StimulusRounds) -> np.ndarray:
    """float32 [H, W] importance map (analysis.maps)."""
    from analysis.maps import human_map as compute

    return compute(data.points, data.stimulus.width, data.stimulus.height, data.radii)


def reliability(data: StimulusRounds) -> float | None:
    """Split-half reliability of the stimulus' map (analysis.reliability), None if too few rounds."""
    from analysis.reliability import split_half

    return split_half(data.points, data.stimulus.width, data.stimulus.height, data.radii)


def reliability_for(scope: Scope, stimulus_ids: Sequence[int]) -> dict[int, float | None]:
    stimuli = db.session.scalars(select(Stimulus).where(Stimulus.id.in_(list(stimulus_ids)))).all()
    return {sid: reliability(data) if data.points else None
            for sid, data in load_rounds(scope, stimuli).items()}


def heatmap_png(scope: Scope, stimulus: Stimulus) -> bytes:
    """The stimulus with its current human map in scope (just the stimulus if no data yet)."""
    data = load_rounds(scope, [stimulus])[stimulus.id]
    return overlay_png(stimulus, human_map(data) if data.points else None)


def overlay_png(stimulus: Stimulus, importance: np.ndarray | None) -> bytes:
    """The stimulus in grey with the map over it in colour, enlarged to about 256 px."""
    import matplotlib

    gray = np.asarray(Image.open(io.BytesIO(stimulus.image_png)).convert("L"), dtype=np.float32) / 255
    rgb = np.repeat(gray[..., None] * 0.6, 3, axis=2)
    if importance is not None:
        importance = importance.astype(np.float32)
        peak = float(importance.max())
        if peak > 0:
            heat = importance / peak
            colour = matplotlib.colormaps["inferno"](heat)[..., :3]
            alpha = heat[..., None] * 0.85
            rgb = rgb * (1 - alpha) + colour * alpha
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")
    factor = max(1, 256 // max(stimulus.width, stimulus.height))
    if factor > 1:
        image = image.resize((stimulus.width * factor, stimulus.height * factor), Image.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _stimuli_with_rounds(scope: Scope) -> Iterator[tuple[Stimulus, str]]:
    """Stimuli that have at least one round with points in scope, with their set's name."""
    ids = select(Round.stimulus_id).where(Round.id.in_(scope.rounds()), Round.n_points > 0).distinct()
    query = (select(Stimulus, StimulusSet.name).join(StimulusSet, StimulusSet.id == Stimulus.set_id)
             .where(Stimulus.id.in_(ids)).order_by(StimulusSet.name, Stimulus.key))
    for stimulus, set_name in db.session.execute(query):
        yield stimulus, set_name


def maps_npz(options: ExportOptions, counter: Counter, heatmap_dir: Path | None = None) -> Iterator[bytes]:
    """maps.npz as a stream: ``<set>/<key>`` float32 [H, W] and ``<set>/<key>.n_rounds``, one
    stimulus in memory at a time. With ``heatmap_dir``, PNGs are written there as well."""
    pipe = Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for stimulus, set_name in _stimuli_with_rounds(options.scope):
            data = load_rounds(options.scope, [stimulus])[stimulus.id]
            if not data.points:
                continue
            importance = human_map(data).astype(np.float32)
            arrays = {f"{set_name}/{stimulus.key}": importance,
                      f"{set_name}/{stimulus.key}.n_rounds": np.asarray(len(data.points), dtype=np.int64)}
            for name, array in arrays.items():
                with archive.open(member_info(f"{name}.npy"), "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
            counter.rows += 1
            if heatmap_dir is not None:
                target = heatmap_dir / set_name / f"{stimulus.key}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(overlay_png(stimulus, importance))
            yield pipe.drain()
    yield pipe.drain()


def heatmap_files(folder: Path) -> Iterator[tuple[Path, str]]:
    """(path, name in the bundle) of the PNGs `maps_npz` left in ``folder``."""
    for path in sorted(folder.rglob("*.png")):
        yield path, "heatmaps/" + path.relative_to(folder).as_posix()
