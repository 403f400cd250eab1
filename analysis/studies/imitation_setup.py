"""From `python -m analysis imitation` options to the audit's parts: imitator, encoder, references.

Kept apart from the protocol (`imitation.py`) so the protocol stays a pure function of its
parts; everything here is loading and checking input, with a clear `ValueError` for bad input.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..encoders import ClipEncoder, Encoder, load_drawing_critic
from .imitators import (CFGDMImitator, ExistingImitator, FolderImitator, Imitator, TextToImageImitator,
                        read_identity_folders, read_rgb)


@dataclass
class AuditSetup:
    imitator: Imitator
    encoder: Encoder
    identify_by: str
    exemplars: list[np.ndarray] | None
    real_works: list[list[np.ndarray]] | None
    description: dict


def parse_identities(value: str | None) -> list[str] | None:
    """Comma-separated names, or a text file with one name per line (blank lines skipped)."""
    if value is None:
        return None
    path = Path(value)
    names = path.read_text(encoding="utf-8").splitlines() if path.is_file() else value.split(",")
    names = [n.strip() for n in names if n.strip()]
    if len(set(names)) != len(names):
        raise ValueError("identities repeat")
    return names


def load_real_works(folder: str, identities: list[str], take_exemplar: bool
                    ) -> tuple[list[np.ndarray] | None, list[list[np.ndarray]]]:
    """Real works per identity from one subfolder each; with ``take_exemplar`` the first (sorted)
    image of each becomes the identity's exemplar and leaves the works. An identity without a
    subfolder has no works (its rank-sum test is skipped and counted)."""
    found = read_identity_folders(folder)
    works = [[read_rgb(p) for p in found.get(name, [])] for name in identities]
    if not take_exemplar:
        return None, works
    missing = [name for name, w in zip(identities, works) if not w]
    if missing:
        raise ValueError(f"{folder}: identification by exemplar needs an image for identities {missing}")
    return [w[0] for w in works], [w[1:] for w in works]


def _encoder(args: argparse.Namespace) -> Encoder:
    if args.encoder == "critic":
        return load_drawing_critic(args.critic_weights, args.device)
    if args.clip is None:
        raise ValueError("--encoder clip needs --clip (a local folder or a hub id such as "
                         "openai/clip-vit-base-patch32)")
    try:
        return ClipEncoder(args.clip, args.device)
    except (OSError, ValueError) as exc:  # missing folder, bad repo id, no network
        raise ValueError(f"cannot load CLIP from {args.clip!r}: {exc}") from None


def build_audit(args: argparse.Namespace) -> AuditSetup:
    """The imitator, encoder, exemplars and real works the options describe."""
    identify_by = args.identify_by or ("text" if args.encoder == "clip" else "exemplar")
    identities = parse_identities(args.identities)
    exemplars = real_works = None
    description: dict = {"generator": args.generator, "encoder": args.encoder}
    if args.generator in ("cfgdm", "people"):
        from .originality import load_heldout

        drawings, categories = load_heldout(args.heldout, args.categories)
        # identity = a held-out category's exemplar (drawing 0); its real works = the category's other drawings
        exemplars, real_works = list(drawings[:, 0]), [list(d[1:]) for d in drawings]
        if args.generator == "cfgdm":
            from models.cfgdm import SAMPLER_STEPS, OneShotCFGDM

            model = OneShotCFGDM.from_pretrained(args.cfgdm_weights, args.device)
            imitator: Imitator = CFGDMImitator(model, drawings[:, 0], categories, gamma=args.gamma, steps=args.steps,
                                               sampler=args.sampler)
            description.update(gamma=args.gamma, sampler=args.sampler,
                               steps=args.steps or SAMPLER_STEPS[args.sampler])
        else:  # the human reference: drawings 1..N of the category "imitate" it, the rest are its real works
            if not 1 <= args.samples <= drawings.shape[1] - 2:
                raise ValueError(f"--generator people needs 1 <= --samples <= {drawings.shape[1] - 2} "
                                 "(the remaining drawings are the real works)")
            imitator = ExistingImitator(categories, [list(d[1:1 + args.samples]) for d in drawings])
            real_works = [list(d[1 + args.samples:]) for d in drawings]
        description.update(real_per_identity=len(real_works[0]))
    else:
        if args.generator == "pipeline":
            if args.pipeline is None or not identities:
                raise ValueError("--generator pipeline needs --pipeline (folder or hub id) and --identities")
            try:
                imitator = TextToImageImitator.from_pretrained(
                    args.pipeline, identities, args.device, template=args.template, steps=args.steps or 25,
                    guidance_scale=args.guidance_scale, height=args.height, width=args.width,
                    batch_size=args.batch_size)
            except (OSError, ValueError) as exc:  # missing folder, bad repo id, no network
                raise ValueError(f"cannot load a diffusers pipeline from {args.pipeline!r}: {exc}") from None
            description.update(pipeline=str(args.pipeline), steps=args.steps or 25, template=args.template)
        else:
            if args.folder is None:
                raise ValueError("--generator folder needs --folder (one subfolder of images per identity)")
            imitator = FolderImitator(args.folder, identities)
            short = [name for s, name in enumerate(imitator.identities) if imitator.count(s) < args.samples]
            if short:
                raise ValueError(f"{args.folder}: fewer than --samples {args.samples} images for identities {short}")
            description.update(folder=str(args.folder))
        if args.real is not None:
            exemplars, real_works = load_real_works(args.real, imitator.identities, identify_by == "exemplar")
        elif identify_by == "exemplar":
            raise ValueError("--identify-by exemplar needs --real (its first image per identity is the exemplar)")
    return AuditSetup(imitator, _encoder(args), identify_by, exemplars, real_works, description)
