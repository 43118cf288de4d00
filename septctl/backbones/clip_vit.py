"""CLIP ViT-B/16 (the paper's Table 11 backbone) and clip-tiny, through Hugging Face's `CLIPModel`.

Image side as CLIP computes it (`CLIPModel.get_image_features`): the vision transformer's pooled
class token -> `visual_projection`. Images are read as CoOp reads them (`data.image.read_image`:
PIL, converted to RGB) and preprocessed as OpenAI CLIP's transform does, with the weights' own
preprocessor_config.json: shortest side resized to 224 (PIL bicubic), centre crop 224 (offset
rounded as torchvision rounds it), /255, OpenAI's mean and std. transformers' PIL image processor
does all but the crop (`ClipVitBackbone.pixels` says why). transformers 5's `CLIPImageProcessor`
is the torchvision one (not a septctl dependency, and its resize is not PIL's, which OpenAI CLIP
and CoOp use), so 5.x gets `CLIPImageProcessorPil`; 4.x's `CLIPImageProcessor` is PIL-based already.
Text side: the CLIP text transformer through septctl's own `ClipTextTower` (the exact fast path
that prompt tuning and SEPT use with every backbone), pooled at the first end-of-text token,
then `text_projection`; learned context goes right after the start token (`ctx_start = 1`).
Weights: `CLIPModel.from_pretrained` of openai/clip-vit-base-patch16 (HF cache) or a local folder.
clip-tiny is a random CLIP of the same architecture, small, from a fixed seed (tests, offline demo).
tests/test_clip_vit.py checks both sides against `CLIPModel` itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from septctl.backbones.base import Backbone
from septctl.backbones.clip_text import ClipTextTower
from septctl.backbones.registry import SPECS
from septctl.backbones.tokenizer import ClipTokenizer
from septctl.backbones.weights import load_preprocessing, load_pretrained
from septctl.data.image import read_image
from septctl.errors import SeptctlError

REPO = SPECS["clip-vit-b16"].source.location
TEXT_LEN = SPECS["clip-vit-b16"].text_len  # CLIP's 77 positions, clip-tiny's too
# openai/clip-vit-base-patch16's preprocessor_config.json (OpenAI CLIP's own transform), for a weights
# folder that has none.
OPENAI_PREPROCESSING: dict[str, Any] = dict(
    do_resize=True, size={"shortest_edge": 224}, resample=3,  # PIL bicubic
    do_center_crop=True, crop_size={"height": 224, "width": 224},
    do_rescale=True, rescale_factor=1 / 255,
    do_normalize=True, image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
)
# What of a processor decides the pixels (and so enters the embedding cache key).
_POLICY_KEYS = ("do_convert_rgb", "do_resize", "size", "resample", "do_center_crop", "crop_size", "do_rescale",
                "rescale_factor", "do_normalize", "image_mean", "image_std")

TINY_SEED = 0
TINY_IMAGE_SIZE = 64
# Small widths, the real structure: CLIP's vocabulary and 77 positions, quick_gelu, patch 16.
TINY_CONFIG: dict[str, Any] = dict(
    projection_dim=64,
    text_config=dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2),
    vision_config=dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                       image_size=TINY_IMAGE_SIZE, patch_size=16),
)
# openai/clip-vit-base-patch16's config.json (sizes only): tests build random full-size weights from it.
B16_CONFIG: dict[str, Any] = dict(
    projection_dim=512,
    text_config=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8),
    vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                       image_size=224, patch_size=16),
)
_TEXT_COMMON = dict(vocab_size=49408, max_position_embeddings=TEXT_LEN, hidden_act="quick_gelu",
                    bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)


def clip_config(sizes: dict[str, Any]) -> Any:
    """A `CLIPConfig` of the given sizes (TINY_CONFIG, B16_CONFIG) with CLIP's vocabulary and activation."""
    from transformers import CLIPConfig

    return CLIPConfig(projection_dim=sizes["projection_dim"],
                      text_config={**_TEXT_COMMON, **sizes["text_config"]},
                      vision_config={"hidden_act": "quick_gelu", **sizes["vision_config"]})


def image_processor(**settings: Any) -> Any:
    """transformers' PIL-based CLIP image processor with `settings` (OpenAI's where not given)."""
    return _processor_class()(**{**OPENAI_PREPROCESSING, **settings})


def _processor_class() -> type:
    try:
        from transformers import CLIPImageProcessorPil  # transformers >= 5: the PIL backend
    except ImportError:
        from transformers import CLIPImageProcessor as CLIPImageProcessorPil  # 4.x: PIL-based
    return CLIPImageProcessorPil


def _plain(value: Any) -> Any:
    """A processor setting as JSON data (sizes are dicts, resample an enum in 5.x, an int in 4.x)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, str, float)):
        return value
    return int(value)


class ClipVitBackbone(Backbone):
    """A `CLIPModel`'s image encoder and text tower with their projections, behind septctl's Backbone."""

    modality = "image"
    ctx_start = 1

    def __init__(self, model: nn.Module, processor: Any, name: str = "clip-vit-b16"):
        super().__init__()
        self.name = name
        self.vision = model.vision_model  # CLIPVisionTransformer (4.x) or flattened CLIPVisionModel (5.x)
        self.visual_projection = model.visual_projection
        self.text = ClipTextTower(model.text_model)
        self.text_projection = model.text_projection
        self.processor = processor
        self.embed_dim = model.config.projection_dim
        self.token_dim = model.config.text_config.hidden_size
        settings = processor.to_dict()
        crop = settings["crop_size"]
        self.image_size = int(crop["height"])
        self._crop = (int(crop["height"]), int(crop["width"])) if settings.get("do_center_crop") else None
        self.tokenizer = ClipTokenizer(context_length=TEXT_LEN)
        self.freeze()

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] preprocessed pixels -> [B, embed_dim], unnormalised (`get_image_features`)."""
        return self.visual_projection(self.vision(pixel_values=pixel_values).pooler_output)

    def load_input(self, path: str | Path, crop: str = "seeded", key: str = "") -> torch.Tensor:
        """An image file -> pixels [3, H, W], read and preprocessed as `septctl embed` does (an unreadable file
        raises SeptctlError naming it). `crop` and `key` are for audio: CLIP's centre crop is its preprocessing."""
        return self.pixels([read_image(path)])[0]

    def encode_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.encode_images(inputs)

    def pixels(self, images: list[Any]) -> torch.Tensor:
        """RGB PIL images -> [B, 3, H, W] model input, as OpenAI CLIP's transform (and CoOp's) computes it.

        The processor resizes, rescales and normalises; the centre crop is torchvision's
        `CenterCrop` (offset rounded to nearest), which OpenAI CLIP and CoOp use: transformers'
        crop rounds the offset down, one pixel off for about a quarter of image sizes.
        """
        if self._crop is None:
            return self.processor(images, return_tensors="pt")["pixel_values"]
        arrays = self.processor(images, do_center_crop=False)["pixel_values"]
        return torch.stack([_center_crop(torch.from_numpy(a), *self._crop) for a in arrays])

    def encode_audio(self, waveforms: torch.Tensor) -> torch.Tensor:
        raise SeptctlError(f"{self.name} reads images, not audio; choose an audio backbone (see `septctl backbones`)")

    def token_embedding(self) -> nn.Embedding:
        return self.text.token_embedding

    def encode_text(self, token_embeds: torch.Tensor, eot_index: torch.Tensor, shared_prefix: int = 0,
                    prefix_groups: torch.Tensor | None = None) -> torch.Tensor:
        return self.text_projection(self.text(token_embeds, eot_index, shared_prefix, prefix_groups))

    def input_policy(self) -> dict[str, Any]:
        """How a file becomes pixels: CoOp's reader and the processor settings (part of the embedding cache key)."""
        settings = self.processor.to_dict()
        return {"image": {"reader": "PIL convert RGB", "crop_offset": "rounded (torchvision)",
                          **{k: _plain(settings[k]) for k in _POLICY_KEYS if k in settings}}}


def _center_crop(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[C, H, W] -> [C, height, width] around the centre, offsets as torchvision's `center_crop` rounds them."""
    h, w = image.shape[-2:]
    if h < height or w < width:
        raise SeptctlError(f"CLIP preprocessing: an image resized to {w} x {h} is smaller than the {width} x "
                           f"{height} crop; fix size/crop_size in the weights' preprocessor_config.json")
    top, left = int(round((h - height) / 2.0)), int(round((w - width) / 2.0))
    return image[:, top : top + height, left : left + width]


def _processor_from(source: str) -> Any:
    """The weights' own preprocessing settings; OpenAI's where a local folder has none."""
    return load_preprocessing(_processor_class(), source, image_processor, "CLIP", "OpenAI CLIP")


def load_clip_vit(weights: str | os.PathLike | None = None) -> ClipVitBackbone:
    """CLIP ViT-B/16 from a local `from_pretrained` folder, else the HF hub (cached after the first time)."""
    from transformers import CLIPModel

    if weights is not None and not os.path.isdir(weights):  # transformers 4.x would take the path for a hub repo id
        raise SeptctlError(f"{weights}: not a folder; pass --weights DIR holding config.json + model.safetensors "
                           "(a save_pretrained folder), or leave it out to use the HF hub's")
    source = str(weights) if weights is not None else REPO
    return ClipVitBackbone(load_pretrained(CLIPModel, source, "CLIP"), _processor_from(source))


def build_clip_tiny_model() -> nn.Module:
    """clip-tiny's `CLIPModel`: random, the same on every machine (TINY_SEED)."""
    from transformers import CLIPModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        return CLIPModel(clip_config(TINY_CONFIG)).eval()


def tiny_processor() -> Any:
    side = TINY_IMAGE_SIZE
    return image_processor(size={"shortest_edge": side}, crop_size={"height": side, "width": side})


def load_clip_tiny(weights: object = None) -> ClipVitBackbone:
    """clip-tiny; it has no weights file, so `weights` must be None."""
    if weights is not None:
        raise SeptctlError(f"{weights}: the clip-tiny backbone has built-in random weights; drop --weights")
    return ClipVitBackbone(build_clip_tiny_model(), tiny_processor(), name="clip-tiny")
