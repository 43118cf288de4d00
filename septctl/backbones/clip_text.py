"""The CLIP text transformer, driven from token embeddings.

The module and its weights come from Hugging Face `transformers` (CLIPTextModel, built
from a config, no download). The forward pass is ours because prompt tuning feeds
token embeddings with learned vectors in them, and because the tower is causal and
only the end-of-text (EOT) row is pooled, which allows exact savings:
- tokens after a prompt's EOT never influence its feature, so they are never computed
  (each prompt's tokens are packed into one [tokens, width] matrix for the linear
  layers and padded only inside attention);
- a prefix shared by every prompt (`shared_prefix`: SOS + learned context) sees only
  itself, so it is computed once per layer and its keys/values are reused by all rows;
  `prefix_groups` does the same for several prefixes (CoCoOp: one per audio clip);
- the last layer only needs the EOT rows' queries, attention output and MLP.
What depends on the prompts' lengths is worked out first (`layout`, eager); the layer stack
(`encode_layout`) then has fixed shapes, so training steps can compile it (engine/compile.py).
`tests/test_clip_text.py` checks all of it against `CLIPTextModel.forward`, including
gradients; docs/speed.md has the timings.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# openai/clip-vit-base-patch16 text tower, as in Pengi.
PENGI_TEXT_CONFIG = dict(
    vocab_size=49408,
    hidden_size=512,
    intermediate_size=2048,
    num_hidden_layers=12,
    num_attention_heads=8,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
    bos_token_id=49406,
    eos_token_id=49407,
    pad_token_id=49407,
)


def build_clip_text_model(**overrides):
    """A randomly initialised CLIPTextModel of the given config (HF class, no download)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(**{**PENGI_TEXT_CONFIG, **overrides})
    model = CLIPTextModel(config)
    return getattr(model, "text_model", model)  # transformers 4.x nests the transformer


class _Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.num_heads = heads
        self.q_proj, self.k_proj = nn.Linear(width, width), nn.Linear(width, width)
        self.v_proj, self.out_proj = nn.Linear(width, width), nn.Linear(width, width)


class _Mlp(nn.Module):
    def __init__(self, width: int, hidden: int, act: str):
        super().__init__()
        if act not in ("quick_gelu", "gelu"):
            raise ValueError(f"hidden_act {act!r}: the light CLIP core has quick_gelu and gelu")
        self.act = act
        self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h) if self.act == "quick_gelu" else F.gelu(h))


class _Layer(nn.Module):
    def __init__(self, width: int, hidden: int, heads: int, act: str, eps: float):
        super().__init__()
        self.self_attn = _Attention(width, heads)
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(width, eps=eps), nn.LayerNorm(width, eps=eps)
        self.mlp = _Mlp(width, hidden, act)


class _Config:
    def __init__(self, **values):
        self.__dict__.update(values)


def build_clip_text_core(**overrides) -> nn.Module:
    """CLIPTextModel's text transformer as plain torch modules with the same parameter names, for weights that are
    loaded (Pengi, synth-clap): `ClipTextTower` needs only its layers, and importing transformers' modeling code
    costs a computing command more than importing torch does (docs/speed.md, "Start-up"). Its random initial
    values are torch's defaults, not CLIP's: random-weight models (tiny) keep `build_clip_text_model`."""
    cfg = {"hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, **PENGI_TEXT_CONFIG, **overrides}
    width, length = cfg["hidden_size"], cfg["max_position_embeddings"]
    core = nn.Module()
    core.config = _Config(**cfg)
    core.embeddings = nn.Module()
    core.embeddings.token_embedding = nn.Embedding(cfg["vocab_size"], width)
    core.embeddings.position_embedding = nn.Embedding(length, width)
    core.encoder = nn.Module()
    core.encoder.layers = nn.ModuleList(
        _Layer(width, cfg["intermediate_size"], cfg["num_attention_heads"], cfg["hidden_act"], cfg["layer_norm_eps"])
        for _ in range(cfg["num_hidden_layers"]))
    core.final_layer_norm = nn.LayerNorm(width, eps=cfg["layer_norm_eps"])
    return core


def reference_encode(core: nn.Module, x: torch.Tensor, eot_index: torch.Tensor) -> torch.Tensor:
    """The way PALM/CoOp run the tower: every row at full length through HF's own layers.

    The exactness reference for `ClipTextTower` (tests) and the slow path of the speed
    benchmark. An additive causal mask works with transformers 4.x and 5.x alike.
    """
    length = x.shape[1]
    h = x + core.embeddings.position_embedding.weight[:length]
    mask = torch.full((length, length), float("-inf"), device=x.device, dtype=x.dtype).triu(1)
    out = core.encoder(inputs_embeds=h, attention_mask=mask[None, None]).last_hidden_state
    out = core.final_layer_norm(out)
    return out[torch.arange(x.shape[0], device=x.device), eot_index]


class ClipTextTower(nn.Module):
    """Token embeddings -> pooled end-of-text feature ([B, width])."""

    def __init__(self, core: nn.Module):
        super().__init__()
        self.core = core  # CLIPTextTransformer (4.x) or flattened CLIPTextModel (5.x)
        layer = core.encoder.layers[0]
        self.heads = layer.self_attn.num_heads
        self.width = core.config.hidden_size
        self._compiled = None  # see compile_step

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.core.embeddings.token_embedding

    def forward(
        self,
        x: torch.Tensor,
        eot_index: torch.Tensor,
        shared_prefix: int = 0,
        prefix_groups: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Encode token embeddings `x` [B, L, W]; pool row `eot_index` [B].

        With `shared_prefix = P > 0` the caller promises that x[:, :P] is the same in
        every row (or, with `prefix_groups` [B] of group ids 0..G-1, in every row of a
        group); it is then computed once per group. Results equal the plain path.
        """
        lay = self.layout(eot_index, shared_prefix, prefix_groups)
        # Compiled (SEPTCTL_COMPILE, engine/compile.py) only while training: eval and no-grad calls vary in shape.
        encode = self._compiled if self._compiled is not None and torch.is_grad_enabled() else self.encode_layout
        return encode(x, lay)

    def compile_step(self, mode: str | None, backend: str = "inductor") -> None:
        """Compile `encode_layout` (the layer stack at fixed shapes) for training steps; None: back to eager.

        Everything data-dependent (lengths, packed-token indices, prefix groups) is in
        `layout`, which stays eager, so the compiled part sees static shapes and never syncs.
        """
        self._compiled = None if mode is None else torch.compile(self.encode_layout, mode=mode, backend=backend,
                                                                  dynamic=False)

    def layout(self, eot_index: torch.Tensor, shared_prefix: int = 0,
               prefix_groups: torch.Tensor | None = None) -> _Layout:
        """Where each prompt's real tokens sit, from the end-of-text indices and prefix groups alone."""
        p = int(shared_prefix)
        if p > 0 and bool((eot_index < p).any()):
            raise ValueError("shared_prefix must end before every end-of-text token")
        length = int(eot_index.max()) + 1
        b, dev = len(eot_index), eot_index.device
        n = length - p  # suffix width: the positions each prompt computes on its own
        lens = eot_index - p + 1
        valid = torch.arange(n, device=dev) < lens[:, None]  # [B, n]
        rows = valid.flatten().nonzero().squeeze(1)  # packed token -> padded [B*n] slot
        eot_rows = torch.cumsum(lens, 0) - 1  # packed index of each prompt's EOT
        groups = first = None
        if p > 0 and prefix_groups is not None:
            groups = prefix_groups.to(device=dev, dtype=torch.long)
            g = int(groups.max()) + 1
            first = torch.full((g,), b, device=dev).scatter_reduce(0, groups, torch.arange(b, device=dev), "amin")
        return _Layout(b, n, p, valid, rows, groups, length, eot_rows, first)

    def encode_layout(self, x: torch.Tensor, lay: _Layout) -> torch.Tensor:
        """The tensor program of `forward` for a given layout: no host syncs, shapes fixed by `lay`."""
        x = x[:, : lay.length] + self.core.embeddings.position_embedding.weight[: lay.length]
        tokens = x[:, lay.p :].reshape(lay.b * lay.n, self.width).index_select(0, lay.rows)
        if lay.p == 0:
            prefix = None
        elif lay.first is None:
            prefix = x[:1, : lay.p]
        else:
            prefix = x.index_select(0, lay.first)[:, : lay.p]
        layers = list(self.core.encoder.layers)
        for layer in layers[:-1]:
            prefix, tokens = self._layer(layer, prefix, tokens, lay)
        pooled = self._last_layer(layers[-1], prefix, tokens, lay.eot_rows, lay)
        return self.core.final_layer_norm(pooled)

    # -- internals ------------------------------------------------------------------

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, w = t.shape
        return t.view(b, n, self.heads, w // self.heads).transpose(1, 2)

    def _split(self, t: torch.Tensor, parts: int) -> tuple[torch.Tensor, ...]:
        """[B, n, parts*W] (q|k|v side by side) -> `parts` tensors [B, H, n, d]."""
        b, n, _ = t.shape
        return t.view(b, n, parts, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)

    def _merge(self, t: torch.Tensor) -> torch.Tensor:
        b, h, n, d = t.shape
        return t.transpose(1, 2).reshape(b, n, h * d)

    def _qkv(self, attn: nn.Module, h: torch.Tensor) -> torch.Tensor:
        """q, k and v in one matmul: [..., 3W]."""
        weight = torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])
        bias = torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias])
        return F.linear(h, weight, bias)

    def _pad(self, packed: torch.Tensor, lay: _Layout) -> torch.Tensor:
        """Packed [T, C] -> padded [B, n, C] (zeros after each EOT; masked in attention)."""
        out = packed.new_zeros(lay.b * lay.n, packed.shape[1]).index_copy(0, lay.rows, packed)
        return out.view(lay.b, lay.n, -1)

    def _prefix_kv(self, kp: torch.Tensor, lay: _Layout) -> torch.Tensor:
        """Prefix keys/values [G, H, P, d] for every row [B, H, P, d]."""
        if lay.groups is None:
            return kp.expand(lay.b, -1, -1, -1)
        return kp.index_select(0, lay.groups)

    def _layer(self, layer: nn.Module, prefix: torch.Tensor | None, tokens: torch.Tensor,
               lay: _Layout) -> tuple[torch.Tensor | None, torch.Tensor]:
        attn, w = layer.self_attn, self.width
        q, k, v = self._split(self._pad(self._qkv(attn, layer.layer_norm1(tokens)), lay), 3)
        if prefix is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            pq, pk, pv = self._split(self._qkv(attn, layer.layer_norm1(prefix)), 3)
            yp = F.scaled_dot_product_attention(pq, pk, pv, is_causal=True)
            prefix = prefix + attn.out_proj(self._merge(yp))
            prefix = prefix + layer.mlp(layer.layer_norm2(prefix))
            k = torch.cat([self._prefix_kv(pk, lay), k], dim=2)
            v = torch.cat([self._prefix_kv(pv, lay), v], dim=2)
            # Suffix token i sees every prefix token and suffix tokens <= i.
            mask = torch.ones(lay.n, lay.p + lay.n, dtype=torch.bool, device=q.device).tril(diagonal=lay.p)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = self._merge(y).reshape(lay.b * lay.n, w).index_select(0, lay.rows)
        tokens = tokens + attn.out_proj(y)
        tokens = tokens + layer.mlp(layer.layer_norm2(tokens))
        return prefix, tokens

    def _last_layer(self, layer: nn.Module, prefix: torch.Tensor | None, tokens: torch.Tensor, eot_rows: torch.Tensor,
                    lay: _Layout) -> torch.Tensor:
        """Only the EOT rows leave the tower, so only they get a query, attention output and MLP."""
        attn, w = layer.self_attn, self.width
        h = layer.layer_norm1(tokens)
        kv_w = torch.cat([attn.k_proj.weight, attn.v_proj.weight])
        kv_b = torch.cat([attn.k_proj.bias, attn.v_proj.bias])
        k, v = self._split(self._pad(F.linear(h, kv_w, kv_b), lay), 2)
        q = self._heads(attn.q_proj(h.index_select(0, eot_rows))[:, None])  # [B, H, 1, d]
        mask = lay.valid[:, None, None, :]  # the EOT row sees its whole prompt
        if prefix is not None:
            pk, pv = self._split(F.linear(layer.layer_norm1(prefix), kv_w, kv_b), 2)
            k = torch.cat([self._prefix_kv(pk, lay), k], dim=2)
            v = torch.cat([self._prefix_kv(pv, lay), v], dim=2)
            mask = F.pad(mask, (lay.p, 0), value=True)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).reshape(lay.b, w)
        out = tokens.index_select(0, eot_rows) + attn.out_proj(y)
        return out + layer.mlp(layer.layer_norm2(out))


@dataclass(frozen=True)
class _Layout:
    """Where each packed token sits in the padded [B, n] suffix grid, and the prefix's shape."""

    b: int  # prompts
    n: int  # suffix positions per prompt (after the shared prefix, up to the longest EOT)
    p: int  # shared prefix length (0: none)
    valid: torch.Tensor  # [B, n] bool: position holds a real token (at or before the EOT)
    rows: torch.Tensor  # [T] packed token -> index in the flattened [B*n] grid
    groups: torch.Tensor | None  # [B] prefix group of each prompt; None: one prefix for all
    length: int  # positions kept per prompt (up to the longest EOT)
    eot_rows: torch.Tensor  # [B] packed index of each prompt's EOT token
    first: torch.Tensor | None  # [G] a row of each prefix group (its prefix is read from there)
