"""CLIP ViT-B/16 and clip-tiny compute what Hugging Face's `CLIPModel` computes (issue 29).

Images: our `encode_files` (CoOp's reader, then CLIP's preprocessing, then the vision tower) against
`CLIPModel.get_image_features` on the same files read by PIL and converted to RGB (as CoOp reads
them) and preprocessed by OpenAI CLIP's transform, written out here. Text: our
`encode_sentences` (septctl's ClipTextTower fast path) against `get_text_features` on token ids
with their attention mask. The full-size check uses random weights saved and loaded by
`load_clip_vit`, the real loading code; the released weights are not downloadable here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from septctl.backbones import load_backbone
from septctl.backbones.clip_vit import (B16_CONFIG, build_clip_tiny_model, clip_config, load_clip_vit,
                                        tiny_processor)
from septctl.errors import SeptctlError

MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)  # OpenAI CLIP's
SENTENCES = ["a photo of a car side.", "A photo of a Dalmatian, a type of dog!", "inline skate", "x"]
# openai/clip-vit-base-patch16's preprocessor_config.json as released (the old feature-extractor format).
RELEASED_PREPROCESSOR = {"crop_size": 224, "do_center_crop": True, "do_normalize": True, "do_resize": True,
                         "feature_extractor_type": "CLIPFeatureExtractor",
                         "image_mean": [0.48145466, 0.4578275, 0.40821073],
                         "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224}


def _images(folder: Path) -> list[Path]:
    """Drawn shapes in sizes that are not the model's (resize and crop matter), in RGB, greyscale, RGBA and
    palette modes, as PNG, JPEG and GIF. The last two are resized to 3 pixels more than the crop on their long
    side (clip-tiny's 64, ViT-B/16's 224), where OpenAI's and transformers' crop offsets differ."""
    from PIL import Image, ImageDraw

    specs = [("RGB", (300, 200), "red", "circle.png"), ("RGB", (97, 150), "blue", "rect.jpg"),
             ("L", (120, 90), 200, "grey.png"), ("RGBA", (250, 251), (0, 180, 0, 128), "alpha.png"),
             ("P", (45, 80), 3, "palette.gif"), ("RGB", (67, 64), "orange", "odd64.png"),
             ("RGB", (227, 224), "purple", "odd224.png")]
    paths = []
    for i, (mode, size, colour, name) in enumerate(specs):
        im = Image.new(mode, size, 0 if mode in ("L", "P") else (255, 255, 255, 0)[: len(mode)])
        draw = ImageDraw.Draw(im)
        w, h = size
        draw.ellipse((w // 5, h // 6, w - w // 4, h - h // 5), fill=colour)
        draw.rectangle((i, i, w // 3, h // 4), fill=colour)
        if mode == "P":
            im.putpalette([(7 * k) % 256 for k in range(768)])
        paths.append(folder / name)
        im.save(paths[-1])
    return paths


def _openai_pixels(paths: list[Path], n: int) -> torch.Tensor:
    """OpenAI CLIP's `_transform(n_px)` (clip/clip.py: Resize(n_px, BICUBIC), CenterCrop(n_px), ToTensor,
    Normalize) as torchvision computes it on PIL images, written with PIL and numpy (torchvision is no
    septctl dependency); each file read as CoOp reads it."""
    from PIL import Image

    out = []
    for path in paths:
        im = Image.open(path).convert("RGB")
        w, h = im.size
        im = im.resize((n, int(n * h / w)) if w <= h else (int(n * w / h), n), Image.BICUBIC)
        left, top = int(round((im.width - n) / 2.0)), int(round((im.height - n) / 2.0))
        x = torch.from_numpy(np.array(im.crop((left, top, left + n, top + n)))).permute(2, 0, 1).float().div(255)
        out.append((x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None])
    return torch.stack(out)


def _image_features(model, pixels: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model.get_image_features(pixel_values=pixels)
    return getattr(out, "pooler_output", out)  # transformers 5 returns an output object, 4.x the tensor


def _hf_processor_pixels(processor, paths: list[Path]) -> torch.Tensor:
    from PIL import Image

    return processor([Image.open(p).convert("RGB") for p in paths], return_tensors="pt")["pixel_values"]


def _reference_text(model, backbone, texts: list[str]) -> torch.Tensor:
    ids, eot = backbone.tokenizer(texts)
    mask = (torch.arange(ids.shape[1])[None] <= eot[:, None]).long()
    with torch.no_grad():
        out = model.get_text_features(input_ids=ids, attention_mask=mask)
    return getattr(out, "pooler_output", out)


def _hf_tokenizer_ids(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """HF's CLIPTokenizer from septctl's shipped BPE (OpenAI's bpe_simple_vocab_16e6), padded as CLIP pads."""
    from transformers import CLIPTokenizer

    from septctl.backbones.tokenizer import _hf_files

    tok = CLIPTokenizer.from_pretrained(str(_hf_files()))
    enc = tok(texts, padding="max_length", max_length=77, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("clip-tiny")


def test_clip_tiny_images_equal_get_image_features(tiny, tmp_path):
    paths = _images(tmp_path)
    ours = tiny.encode_files(paths, batch_size=2)
    ref = _image_features(build_clip_tiny_model(), _openai_pixels(paths, 64))
    assert ours.shape == (7, 64) and ours.dtype == torch.float32
    assert _max_diff(ours, ref) <= 1e-5
    assert F.cosine_similarity(ref[0], ref[1], dim=0) < 0.999  # the images are told apart


def test_the_crop_is_openais_where_transformers_rounds_otherwise(tiny, tmp_path):
    """transformers' processor crops at (h - 64) // 2, torchvision at round((h - 64) / 2): one pixel apart
    for the 67-pixel side, the same elsewhere."""
    paths = _images(tmp_path)
    hf = _hf_processor_pixels(tiny_processor(), paths)
    openai = _openai_pixels(paths, 64)
    same = [i for i, p in enumerate(paths) if p.name != "odd64.png"]
    assert _max_diff(hf[same], openai[same]) <= 1e-6
    assert _max_diff(hf[5], openai[5]) > 0.1 and _max_diff(hf[5][:, :, 1:], openai[5][:, :, :-1]) <= 1e-6


def test_transparent_images_are_read_as_coop_and_openai_read_them(tiny, tmp_path):
    """PIL's convert("RGB") drops the alpha channel (CoOp's reader, OpenAI CLIP's `_convert_image_to_rgb`,
    transformers 4.x's processor); transformers 5's processor composites a raw RGBA image on white instead."""
    from PIL import Image

    rgba = Image.open(_images(tmp_path)[3])
    assert rgba.mode == "RGBA"
    rgba.convert("RGB").save(tmp_path / "dropped.png")
    Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB").save(tmp_path / "white.png")
    ours = tiny.encode_files([tmp_path / "alpha.png"])
    assert _max_diff(ours, tiny.encode_files([tmp_path / "dropped.png"])) == 0
    assert _max_diff(ours, tiny.encode_files([tmp_path / "white.png"])) > 0.01


def test_clip_tiny_text_equals_get_text_features(tiny):
    assert _max_diff(tiny.encode_sentences(SENTENCES), _reference_text(build_clip_tiny_model(), tiny, SENTENCES)) <= 1e-5


def test_tokenizer_pads_as_clip_and_gives_clips_ids(tiny):
    ids, eot = tiny.tokenizer(SENTENCES)
    hf_ids, hf_mask = _hf_tokenizer_ids(SENTENCES)
    assert torch.equal(ids, hf_ids)  # padded with end-of-text, as OpenAI's `clip.tokenize` pads with 0 after it
    assert torch.equal(eot, hf_mask.sum(1) - 1)
    # OpenAI CLIP's ids for this sentence, as independent CLIP tokenizers' own tests pin them (e.g. Bumblebee's).
    assert tiny.tokenizer.ids("a photo of a cat") == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_prompt_with_context_set_to_a_template_equals_the_plain_sentence(tiny):
    """CoOp's learned context set to the token embeddings of "a photo of a", through the shared-prefix fast path."""
    from septctl.methods.coop import CoOp

    names = ["car side", "Dalmatian", "inline skate", "water lilly"]
    words = tiny.tokenizer.ids("a photo of a")[1:-1]
    coop = CoOp(tiny, names, n_ctx=len(words))
    with torch.no_grad():
        coop.ctx.copy_(tiny.token_embedding()(torch.tensor(words)))
        got = coop.encode_names(names)
    assert coop.prompts.shared_prefix == 1 + len(words)
    assert _max_diff(got, tiny.encode_sentences([f"a photo of a {n}." for n in names])) <= 1e-5


def test_a_sept_training_step_runs_on_clip_tiny(tiny, tmp_path):
    from septctl.methods.coop import CoOp
    from septctl.sept.loss import SemanticExpansionLoss
    from septctl.sept.margins import compute_margins

    classes = ["red circle", "blue square", "green triangle"]
    neighbors = [["scarlet disc", "red ring"], ["navy box", "blue tile"], ["lime wedge", "green cone"]]
    margins = compute_margins(tiny, classes, neighbors, ["a photo of a {}.", "a drawing of a {}."])
    sept = SemanticExpansionLoss(margins)
    torch.manual_seed(0)
    coop = CoOp(tiny, classes, n_ctx=4)
    images = tiny.encode_files(_images(tmp_path)[:3])
    opt = torch.optim.SGD(coop.trainable_parameters(), lr=0.002)
    before = coop.ctx.detach().clone()
    feats = coop.encode_names(classes + [n for row in neighbors for n in row])
    z, p = coop.sept_embeddings(feats[:3], feats[3:], 2)
    ce, _ = coop.loss(images, torch.tensor([0, 1, 2]), z)
    loss = ce + sept(z, p)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and sept(z, p) > 0
    assert coop.ctx.grad.abs().sum() > 0 and not torch.equal(coop.ctx.detach(), before)
    assert all(p.grad is None for p in tiny.parameters())  # the backbone stays frozen


def test_unreadable_image_is_refused_by_name(tiny, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(SeptctlError, match="broken.jpg: not a readable image"):
        tiny.encode_files([*_images(tmp_path)[:1], bad])


def test_clip_reads_no_audio_and_tiny_takes_no_weights(tiny, tmp_path):
    with pytest.raises(SeptctlError, match="clip-tiny reads images, not audio"):
        tiny.encode_audio(torch.zeros(1, 16000))
    with pytest.raises(SeptctlError, match="drop --weights"):
        load_backbone("clip-tiny", weights=tmp_path)


def test_input_policy_names_the_preprocessing(tiny):
    policy = tiny.input_policy()
    assert json.loads(json.dumps(policy)) == policy  # enters a JSON cache key
    image = policy["image"]
    assert image["size"] == {"shortest_edge": 64} and image["crop_size"] == {"height": 64, "width": 64}
    assert image["resample"] == 3 and image["reader"] == "PIL convert RGB"
    assert image["image_mean"] == [0.48145466, 0.4578275, 0.40821073]


def test_missing_weights_are_one_line_with_the_fix(tmp_path):
    with pytest.raises(SeptctlError, match="nothing-here: not a folder; pass --weights DIR holding config.json"):
        load_clip_vit(tmp_path / "nothing-here")
    with pytest.raises(SeptctlError, match="connect once so the HF hub can cache them, or pass --weights DIR"):
        load_clip_vit(tmp_path)  # a folder without the weights


@pytest.mark.slow
def test_full_size_clip_vit_b16_equals_hf_clip_model(tmp_path):
    """Random full-size ViT-B/16 weights (perturbed: default inits leave biases at zero), saved as a release
    folder and loaded by `load_clip_vit`."""
    from transformers import CLIPModel

    from septctl.backbones.clip_vit import _processor_class

    torch.manual_seed(0)
    model = CLIPModel(clip_config(B16_CONFIG)).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=g))
    weights = tmp_path / "clip-vit-b16"
    model.save_pretrained(weights)
    (weights / "preprocessor_config.json").write_text(json.dumps(RELEASED_PREPROCESSOR))
    assert (weights / "model.safetensors").is_file()
    ours = load_clip_vit(weights)
    assert (ours.embed_dim, ours.token_dim, ours.image_size) == (512, 512, 224)
    paths = _images(tmp_path)
    got = ours.encode_files(paths, batch_size=3)
    assert _max_diff(got, _image_features(model, _openai_pixels(paths, 224))) <= 1e-5
    # transformers' own processor, loaded from the same folder, agrees but for the 227-pixel image's crop
    hf = _image_features(model, _hf_processor_pixels(_processor_class().from_pretrained(weights), paths))
    assert _max_diff(got[:-1], hf[:-1]) <= 1e-5 and _max_diff(got[-1:], hf[-1:]) > 1e-3
    assert _max_diff(ours.encode_sentences(SENTENCES), _reference_text(model, ours, SENTENCES)) <= 1e-5
