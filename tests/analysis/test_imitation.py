"""The imitation audit (Casper et al. 2023): statistics with known answers, and the real loading and
generation code on tiny randomly initialised CLIP and Stable Diffusion models built offline.

Nothing here downloads weights: every model is built from a config, saved with save_pretrained
into a temporary folder and loaded back through from_pretrained.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from analysis.__main__ import main
from analysis.encoders import ClipEncoder, CriticEncoder
from analysis.studies.imitation import audit, baseline_sources, nearest, rank_sum_tests
from analysis.studies.imitators import ExistingImitator, TextToImageImitator, prompts_for
from analysis.studies.originality import load_heldout
from models.cfgdm import OneShotCFGDM, small_unet
from models.critic import ConvEncoder, save_encoder


REPO = Path(__file__).resolve().parents[2]
NAMES = ["ann", "bob", "cy"]


# --- constructed imitators and encoders with known answers -------------------------------------

class ValueImitator:
    """Imitations of identity s are 4x4 images filled with the value s."""

    def __init__(self, k: int) -> None:
        self.identities = [f"id{i}" for i in range(k)]

    def generate(self, sources, seed):
        return [np.full((4, 4), s, np.uint8) for s in sources]


class OracleEncoder:
    """Reads the identity off the image (its median value) and off the prompt: a perfect judge."""

    def __init__(self, k: int) -> None:
        self.k = k

    def embed_images(self, images):
        return np.eye(self.k)[[int(np.median(im)) for im in images]]

    def embed_texts(self, texts):
        return np.eye(self.k)[[int(t.rsplit("id", 1)[1]) for t in texts]]


class RandomEncoder:
    """Sees nothing: a fresh random unit vector for every image."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def embed_images(self, images):
        v = self.rng.normal(size=(len(images), 16))
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def value_exemplars(k: int) -> list[np.ndarray]:
    return [np.full((4, 4), i, np.uint8) for i in range(k)]


def test_a_perfect_encoder_identifies_every_imitation_and_every_test_is_significant() -> None:
    k, n = 10, 12
    real = [[np.full((4, 4), i, np.uint8)] * 3 for i in range(k)]
    for identify_by in ("text", "exemplar"):
        result = audit(ValueImitator(k), OracleEncoder(k), n, identify_by=identify_by,
                       exemplars=value_exemplars(k), real_works=real, n_boot=200)
        s = result.summary
        assert s["top1"]["mean"] == 1.0 and s["top1"]["lo"] == 1.0
        assert s["baseline_top1"]["mean"] == 0.0  # the baseline images come from other identities
        assert s["chance"] == pytest.approx(0.1)
        assert s["rank_sum"]["n_significant"] == k and s["rank_sum"]["fraction_significant"]["mean"] == 1.0
        assert (result.per_identity.auc == 1.0).all() and (result.per_identity.p_bonferroni < 0.05).all()
        assert len(result.predictions) == 2 * k * n
        baseline = result.predictions[result.predictions.set == "baseline"]
        assert (baseline.generated_from != baseline.identity).all()
        assert (baseline.predicted == baseline.generated_from).all()


def test_an_encoder_that_sees_nothing_is_at_chance_and_finds_no_imitation() -> None:
    k, n = 10, 40
    real = [[np.full((4, 4), i, np.uint8)] * 3 for i in range(k)]
    result = audit(ValueImitator(k), RandomEncoder(0), n, identify_by="exemplar", exemplars=value_exemplars(k),
                   real_works=real, n_boot=500)
    s = result.summary
    assert s["top1"]["lo"] <= 0.1 <= s["top1"]["hi"] and abs(s["top1"]["mean"] - 0.1) < 0.05
    assert s["baseline_top1"]["lo"] <= 0.1 <= s["baseline_top1"]["hi"]
    assert s["rank_sum"]["n_significant"] == 0
    assert 0.3 < s["rank_sum"]["median_auc"] < 0.7


def test_rank_sum_tests_count_untested_identities_and_correct_over_the_tested_ones() -> None:
    rng = np.random.default_rng(1)
    imitations = rng.normal(size=(4, 6, 5))
    imitations /= np.linalg.norm(imitations, axis=2, keepdims=True)
    real = [imitations[0, :2], None, imitations[2, :3], np.zeros((0, 5))]
    table = rank_sum_tests(real, imitations)
    assert table.n_real.tolist() == [2, 0, 3, 0]
    assert table.p.isna().tolist() == [False, True, False, True]
    tested = table.p.notna()
    assert np.allclose(table.p_bonferroni[tested], np.minimum(1, table.p[tested] * 2))
    assert not table.significant[~tested].any()


def test_identification_uses_the_encoders_distance_not_the_angle() -> None:
    """A prototypical network compares unnormalised embeddings by squared Euclidean distance;
    for this query the angle would pick the other reference."""
    references = np.array([[1.0, 0.0], [10.0, 1.0]])
    assert nearest(np.array([[8.0, 0.0], [1.5, 0.0]]), references).tolist() == [1, 0]


def test_baseline_sources_are_always_another_identity_and_cover_all_others() -> None:
    sources = baseline_sources(5, 400, np.random.default_rng(0))
    assert (sources != np.arange(5)[:, None]).all()
    assert all(set(row) == set(range(5)) - {i} for i, row in enumerate(sources))


def test_identification_by_name_needs_an_encoder_with_a_text_side() -> None:
    with pytest.raises(ValueError, match="no text side"):
        audit(ValueImitator(3), RandomEncoder(), 2, identify_by="text")
    with pytest.raises(ValueError, match="at least 2 identities"):
        audit(ValueImitator(1), OracleEncoder(1), 2, identify_by="text")
    with pytest.raises(ValueError, match="one list of real works per identity"):
        audit(ValueImitator(3), OracleEncoder(3), 2, real_works=[[]])

    class Short(ValueImitator):
        def generate(self, sources, seed):
            return super().generate(sources, seed)[:-1]

    with pytest.raises(ValueError, match="returned 5 and 5 images for 6 requests"):
        audit(Short(3), OracleEncoder(3), 2)
    with pytest.raises(ValueError, match="must contain"):
        prompts_for(NAMES, "Artwork from someone")


# --- tiny CLIP and Stable Diffusion, built from configs and loaded through from_pretrained ------

def write_tokenizer_files(folder: Path) -> tuple[Path, Path]:
    """A character-level CLIP BPE vocabulary (no merges): enough to tokenise any lowercase prompt."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder / "vocab.json", folder / "merges.txt"


def tiny_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    vocab, merges = write_tokenizer_files(folder)
    return CLIPTokenizer(str(vocab), str(merges), model_max_length=24)


TEXT = dict(vocab_size=54, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
            max_position_embeddings=24, bos_token_id=0, eos_token_id=1, pad_token_id=1)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("clip")
    config = CLIPConfig(text_config=TEXT, projection_dim=8,
                        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                           num_attention_heads=2, image_size=16, patch_size=8))
    CLIPModel(config).save_pretrained(folder)
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 16},
                                                                 crop_size={"height": 16, "width": 16}),
                              tokenizer=tiny_tokenizer(folder / "tokenizer_files"))
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_stable_diffusion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real diffusers StableDiffusionPipeline (UNet2DConditionModel, AutoencoderKL, CLIPTextModel,
    CLIPTokenizer, DDIMScheduler) with tiny random weights, saved to a folder."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("sd")
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(8, 16), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
                                norm_num_groups=4, attention_head_dim=2)
    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(8, 8), latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        norm_num_groups=4, sample_size=16)
    pipeline = StableDiffusionPipeline(vae=vae, text_encoder=CLIPTextModel(CLIPTextConfig(**TEXT)),
                                       tokenizer=tiny_tokenizer(folder / "tokenizer_files"), unet=unet,
                                       scheduler=DDIMScheduler(clip_sample=False, set_alpha_to_one=False,
                                                               steps_offset=1),
                                       safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipeline.save_pretrained(folder)
    return folder


def test_clip_encoder_loads_from_a_folder_and_embeds_texts_and_images(tiny_clip: Path) -> None:
    encoder = ClipEncoder(tiny_clip, device="cpu")
    texts = encoder.embed_texts(prompts_for(NAMES, "Artwork from {identity}"))
    assert texts.shape == (3, 8) and np.allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)
    assert not np.allclose(texts[0], texts[1])
    rng = np.random.default_rng(0)
    gray, rgb = rng.integers(0, 256, (28, 28), dtype=np.uint8), rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    images = encoder.embed_images([gray, rgb, gray])
    assert images.shape == (3, 8) and np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    assert np.allclose(images[0], images[2], atol=1e-5) and not np.allclose(images[0], images[1])


def test_a_diffusers_pipeline_is_prompted_with_the_template(tiny_stable_diffusion: Path) -> None:
    imitator = TextToImageImitator.from_pretrained(tiny_stable_diffusion, NAMES, device="cpu", steps=2,
                                                   height=16, width=16)
    assert type(imitator.pipeline).__name__ == "StableDiffusionPipeline"
    assert imitator.prompts == ["Artwork from ann", "Artwork from bob", "Artwork from cy"]
    images = imitator.generate([0, 1, 2], seed=0)
    assert [im.shape for im in images] == [(16, 16, 3)] * 3 and images[0].dtype == np.uint8
    again = imitator.generate([0, 1, 2], seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(images, again))
    # the same noise with another identity's prompt gives another image: the prompt reaches the UNet
    assert not np.array_equal(imitator.generate([0], seed=5)[0], imitator.generate([1], seed=5)[0])


def write_identity_folders(root: Path, images_by_identity: dict[str, list[np.ndarray]]) -> Path:
    for name, images in images_by_identity.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for j, im in enumerate(images):
            Image.fromarray(im).save(root / name / f"{j:03d}.png")
    return root


def test_cli_audits_a_text_to_image_pipeline_with_clip(tmp_path: Path, tiny_clip: Path, tiny_stable_diffusion: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(0)
    real = write_identity_folders(tmp_path / "real", {n: [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
                                                          for _ in range(2)] for n in NAMES[:2]})
    out = tmp_path / "out"
    code = main(["imitation", "--generator", "pipeline", "--pipeline", str(tiny_stable_diffusion),
                 "--identities", ",".join(NAMES), "--encoder", "clip", "--clip", str(tiny_clip), "--samples", "2",
                 "--steps", "2", "--height", "16", "--width", "16", "--real", str(real), "--quick",
                 "--device", "cpu", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_identities"] == 3 and summary["chance"] == pytest.approx(1 / 3)
    assert summary["identify_by"] == "text" and summary["template"] == "Artwork from {identity}"
    assert summary["rank_sum"]["n_tested"] == 2 and summary["rank_sum"]["n_untested_no_real_works"] == 1
    per_identity = pd.read_csv(out / "per_identity.csv")
    assert per_identity.identity.tolist() == NAMES and per_identity.n_real.tolist() == [2, 2, 0]
    assert len(pd.read_csv(out / "predictions.csv")) == 12
    assert (out / "imitation.png").stat().st_size > 1000
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["generator"] == "pipeline"


@pytest.fixture(scope="module")
def critic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained small critic saved like the real one (random features still tell drawings apart)."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("critic")
    for role in ("protonet", "simclr"):
        save_encoder(ConvEncoder(width=8).eval(), folder / role, {"dataset": "test"})
    return folder


def test_copies_of_the_exemplars_are_all_identified_by_the_critic(tmp_path: Path, critic_dir: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    drawings, categories = load_heldout(n_categories=5)
    names = [c.replace(" ", "_") for c in categories]
    # the "generator" copies each exemplar as dark-on-light RGB; the critic must undo both
    copies = {n: [np.repeat(255 - d[0][..., None], 3, axis=2)] * 3 for n, d in zip(names, drawings)}
    folder = write_identity_folders(tmp_path / "generated", copies)
    real = write_identity_folders(tmp_path / "real", {n: list(d[:4]) for n, d in zip(names, drawings)})
    out = tmp_path / "out"
    code = main(["imitation", "--generator", "folder", "--folder", str(folder), "--real", str(real),
                 "--encoder", "critic", "--critic-weights", str(critic_dir), "--samples", "3", "--quick",
                 "--device", "cpu", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["identify_by"] == "exemplar" and summary["top1"]["mean"] == 1.0
    assert summary["baseline_top1"]["mean"] == 0.0
    assert pd.read_csv(out / "per_identity.csv").n_real.tolist() == [3] * 5  # the exemplar is not tested


def test_cli_audits_the_cfgdm_with_the_critic(tmp_path: Path, critic_dir: Path, capsys: pytest.CaptureFixture) -> None:
    torch.manual_seed(0)
    cfgdm_dir = tmp_path / "cfgdm"
    OneShotCFGDM(small_unet((8, 16)), num_train_timesteps=50).save_pretrained(cfgdm_dir, meta={"steps": 0})
    out = tmp_path / "out"
    code = main(["imitation", "--categories", "4", "--samples", "2", "--steps", "2", "--cfgdm-weights", str(cfgdm_dir),
                 "--critic-weights", str(critic_dir), "--quick", "--device", "cpu", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["generator"] == "cfgdm" and summary["n_identities"] == 4 and summary["chance"] == 0.25
    assert (summary["sampler"], summary["steps"]) == ("ddpm", 2)
    assert summary["rank_sum"]["n_tested"] == 4 and summary["real_per_identity"] == 24
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 16 and set(predictions.set) == {"imitation", "baseline"}


def test_other_peoples_drawings_are_the_human_reference(tmp_path: Path, critic_dir: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    code = main(["imitation", "--generator", "people", "--categories", "5", "--samples", "10", "--critic-weights",
                 str(critic_dir), "--quick", "--device", "cpu", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["generator"] == "people" and summary["real_per_identity"] == 14  # 25 - exemplar - 10
    assert summary["rank_sum"]["n_tested"] == 5
    assert main(["imitation", "--generator", "people", "--categories", "2", "--samples", "24",
                 "--out", str(out)]) == 2
    assert "--samples <= 23" in capsys.readouterr().err


def test_existing_images_are_not_repeated_until_all_were_used() -> None:
    images = [np.full((2, 2), v, np.uint8) for v in range(3)]
    imitator = ExistingImitator(["a", "b"], [images, images[:1]])
    assert sorted(int(im[0, 0]) for im in imitator.generate([0, 0, 0], seed=4)) == [0, 1, 2]
    fourth = [int(im[0, 0]) for im in imitator.generate([0, 1, 0, 0, 0], seed=4)]
    assert sorted(fourth[0:1] + fourth[2:4]) == [0, 1, 2] and fourth[1] == 0 and fourth[4] == fourth[0]
    with pytest.raises(ValueError, match="at least one image"):
        ExistingImitator(["a", "b"], [images, []])


@pytest.mark.parametrize("args, message", [
    (["--generator", "pipeline", "--identities", "a,b"], "needs --pipeline"),
    (["--generator", "pipeline", "--pipeline", "/nonexistent/sd", "--identities", "a,b"], "cannot load a diffusers"),
    (["--generator", "folder"], "needs --folder"),
    (["--generator", "folder", "--folder", "/nonexistent"], "no such folder"),
    (["--encoder", "clip", "--categories", "2"], "needs --clip"),
    (["--encoder", "clip", "--clip", "/nonexistent/clip", "--categories", "2"], "cannot load CLIP"),
    (["--identify-by", "text", "--categories", "2", "--samples", "1", "--steps", "1"], "no text side"),
    (["--categories", "2", "--samples", "0"], "at least 1 sample"),
    (["--identities", "a,a", "--generator", "pipeline", "--pipeline", "x"], "repeat"),
])
def test_bad_input_gives_a_message_and_exit_code_2(args: list[str], message: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    assert main(["imitation", "--out", str(tmp_path / "o"), "--device", "cpu", *args]) == 2
    assert message in capsys.readouterr().err


def test_a_folder_with_too_few_images_or_an_unreadable_one_is_refused(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    folder = write_identity_folders(tmp_path / "g", {"a": [np.zeros((8, 8), np.uint8)] * 2,
                                                     "b": [np.zeros((8, 8), np.uint8)]})
    assert main(["imitation", "--generator", "folder", "--folder", str(folder), "--samples", "2",
                 "--out", str(tmp_path / "o")]) == 2
    assert "fewer than --samples 2 images for identities ['b']" in capsys.readouterr().err
    (folder / "b" / "broken.png").write_text("not an image")
    assert main(["imitation", "--generator", "folder", "--folder", str(folder), "--samples", "2",
                 "--real", str(folder), "--out", str(tmp_path / "o")]) == 2
    assert "not a readable image" in capsys.readouterr().err


def test_the_notebook_runs_on_small_settings(run_notebook) -> None:
    outputs, text = run_notebook("imitation_audit.ipynb")
    assert "6 identities" in text and "chance 0.167" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2
