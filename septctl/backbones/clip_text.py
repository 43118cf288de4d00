"""The CLIP text transformer, driven from token embeddings.

The module and its weights come from Hugging Face `transformers` (CLIPTextModel, built
from a config, no download). The forward pass is ours because prompt tuning feeds
token embeddings with learned vectors in them, and because it lets us
- trim every batch to its longest prompt (the tower is causal: tokens after
  end-of-text never influence the pooled feature), and
- encode a prefix shared by every prompt once per layer (`shared_prefix`), letting
  each prompt's own tokens attend to it.
`tests/test_clip_text.py` checks this path against `CLIPTextModel.forward`.
"""

from __future__ import annotations

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


class ClipTextTower(nn.Module):
    """Token embeddings -> pooled end-of-text feature ([B, width])."""

    def __init__(self, core: nn.Module):
        super().__init__()
        self.core = core  # CLIPTextTransformer (4.x) or flattened CLIPTextModel (5.x)
        layer = core.encoder.layers[0]
        self.heads = layer.self_attn.num_heads
        self.width = core.config.hidden_size

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.core.embeddings.token_embedding

    def forward(self, x: torch.Tensor, eot_index: torch.Tensor, shared_prefix: int = 0) -> torch.Tensor:
        """Encode token embeddings `x` [B, L, W]; pool row `eot_index` [B].

        With `shared_prefix = P > 0` the caller promises that x[:, :P] is the same in
        every row; it is then computed once. Results equal the plain path.
        """
        length = int(eot_index.max()) + 1
        x = x[:, :length]
        pos = self.core.embeddings.position_embedding.weight[:length]
        x = x + pos
        if shared_prefix > 0 and x.shape[0] > 1:
            return self._forward_shared(x, eot_index, shared_prefix)
        for layer in self.core.encoder.layers:
            x = self._block(layer, x)
        x = self.core.final_layer_norm(x)
        return x[torch.arange(x.shape[0], device=x.device), eot_index]

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, w = t.shape
        return t.view(b, n, self.heads, w // self.heads).transpose(1, 2)

    def _merge(self, t: torch.Tensor) -> torch.Tensor:
        b, h, n, d = t.shape
        return t.transpose(1, 2).reshape(b, n, h * d)

    def _block(self, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        attn = layer.self_attn
        h = layer.layer_norm1(x)
        q, k, v = (self._heads(p(h)) for p in (attn.q_proj, attn.k_proj, attn.v_proj))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + attn.out_proj(self._merge(y))
        return x + layer.mlp(layer.layer_norm2(x))

    def _forward_shared(self, x: torch.Tensor, eot_index: torch.Tensor, p: int) -> torch.Tensor:
        """The plain forward, with the first `p` positions computed on one row only."""
        if bool((eot_index < p).any()):
            raise ValueError("shared_prefix must end before every end-of-text token")
        b = x.shape[0]
        prefix, suffix = x[:1, :p], x[:, p:]
        n = suffix.shape[1]
        # Suffix token i may see every prefix token and suffix tokens <= i.
        mask = torch.ones(n, p + n, dtype=torch.bool, device=x.device).tril(diagonal=p)
        for layer in self.core.encoder.layers:
            attn = layer.self_attn
            hp, hs = layer.layer_norm1(prefix), layer.layer_norm1(suffix)
            qp, kp, vp = (self._heads(f(hp)) for f in (attn.q_proj, attn.k_proj, attn.v_proj))
            qs, ks, vs = (self._heads(f(hs)) for f in (attn.q_proj, attn.k_proj, attn.v_proj))
            yp = F.scaled_dot_product_attention(qp, kp, vp, is_causal=True)
            k_all = torch.cat([kp.expand(b, -1, -1, -1), ks], dim=2)
            v_all = torch.cat([vp.expand(b, -1, -1, -1), vs], dim=2)
            ys = F.scaled_dot_product_attention(qs, k_all, v_all, attn_mask=mask)
            prefix = prefix + attn.out_proj(self._merge(yp))
            suffix = suffix + attn.out_proj(self._merge(ys))
            prefix = prefix + layer.mlp(layer.layer_norm2(prefix))
            suffix = suffix + layer.mlp(layer.layer_norm2(suffix))
        suffix = self.core.final_layer_norm(suffix)
        return suffix[torch.arange(b, device=x.device), eot_index - p]
