"""SEPT in your own CoOp loop, with septctl's public API only (docs/python.md).

Yours: a Hugging Face CLIP text model (Pengi's text tower is one) and a CoOp prompt learner
over it. septctl's: the neighbors (a neighbors.yaml, or any OpenAI-compatible LLM), the
built-in templates, margins measured with *your* frozen text encoder, and the
semantic-expansion loss, added beside your cross-entropy.

    python examples/own_loop.py                         # neighbors from examples/own_loop_neighbors.yaml
    python examples/own_loop.py --llm gpt-4o            # from OpenAI (OPENAI_API_KEY)
    python examples/own_loop.py --llm llama3 --base-url http://localhost:11434/v1   # any compatible server

The text model has random weights from a small CLIPTextConfig and the "audio features" are
random class-conditioned vectors, so it runs offline in seconds: it shows the wiring, not a
result. Put your pretrained text model, its tokenizer and your audio encoder in their place.
"""

from __future__ import annotations

import argparse
import re
import zlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPTextConfig, CLIPTextModel

import septctl

CLASSES = ["dog barking", "rain", "church bells", "vacuum cleaner"]


class TextTower(nn.Module):
    """A frozen CLIP text transformer run on token embeddings, pooled at the end-of-text token as CLIP pools."""

    def __init__(self, config: CLIPTextConfig):
        super().__init__()
        model = CLIPTextModel(config)
        self.core = getattr(model, "text_model", model)  # transformers 4.x nests the layers, 5.x does not
        self.vocab = config.vocab_size
        self.requires_grad_(False).eval()

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids [B, L] (start, words, end, padding) and each end position. Stands in for CLIPTokenizer,
        which needs a download: one id per word or mark, hashed."""
        words = [re.findall(r"[a-z0-9']+|[^\sa-z0-9']", t.lower()) for t in texts]
        rows = [[self.vocab - 2, *(1 + zlib.crc32(w.encode()) % (self.vocab - 3) for w in ws), self.vocab - 1]
                for ws in words]
        ids = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        return ids, torch.tensor([len(row) - 1 for row in rows])

    def forward(self, embeds: torch.Tensor, eot: torch.Tensor) -> torch.Tensor:
        length = embeds.shape[1]
        h = embeds + self.core.embeddings.position_embedding.weight[:length]
        causal = torch.full((length, length), float("-inf")).triu(1)[None, None]
        out = self.core.final_layer_norm(self.core.encoder(inputs_embeds=h, attention_mask=causal).last_hidden_state)
        return out[torch.arange(len(eot)), eot]

    def encode(self, texts: list[str]) -> torch.Tensor:
        """Plain sentences -> features: what septctl.compute_margins needs of a model."""
        ids, eot = self.tokenize(texts)
        return self(self.core.embeddings.token_embedding(ids), eot)


class PromptLearner(nn.Module):
    """CoOp: M context vectors shared by all classes, learned in front of each name ("X X X X dog barking.")."""

    def __init__(self, tower: TextTower, n_ctx: int = 4):
        super().__init__()
        self.tower, self.n_ctx = tower, n_ctx
        self.ctx = nn.Parameter(0.02 * torch.randn(n_ctx, tower.core.config.hidden_size))

    def forward(self, names: list[str]) -> torch.Tensor:
        ids, eot = self.tower.tokenize([" ".join(["X"] * self.n_ctx) + f" {name}." for name in names])
        emb = self.tower.core.embeddings.token_embedding(ids)
        ctx = self.ctx.expand(len(names), -1, -1)
        return self.tower(torch.cat([emb[:, :1], ctx, emb[:, 1 + self.n_ctx :]], dim=1), eot)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neighbors", type=Path, default=Path(__file__).with_name("own_loop_neighbors.yaml"))
    parser.add_argument("--llm", help="ask this model for the neighbors instead of reading --neighbors")
    parser.add_argument("--base-url", help="an OpenAI-compatible server (default: OpenAI)")
    parser.add_argument("--n", type=int, default=3, help="neighbors per class")
    parser.add_argument("--templates", type=int, default=8, help="built-in templates the margins average over")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--lam", type=float, default=3.0, help="weight of the SEPT loss (septctl's default)")
    args = parser.parse_args()
    torch.manual_seed(0)
    tower = TextTower(CLIPTextConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                     num_attention_heads=4, max_position_embeddings=40, pad_token_id=0,
                                     bos_token_id=998, eos_token_id=999))

    # 1. Neighbors: N related names per training class.
    if args.llm:
        client = septctl.ChatClient(args.llm, base_url=args.base_url)
        neighbors = septctl.generate_neighbors(client, CLASSES, n=args.n).names
    else:
        table = septctl.load_neighbors(args.neighbors).names
        neighbors = {c: table[c][: args.n] for c in CLASSES}

    # 2. Margins from your own frozen encoder, averaged over templates; the loss holds them.
    margins = septctl.compute_margins(tower.encode, CLASSES, neighbors, septctl.template_bank(args.templates))
    sept = septctl.SemanticExpansionLoss(margins)
    print(f"margins {list(margins.shape)}: own class {margins.diagonal().mean():.4f}, mean {margins.mean():.4f}")

    # 3. Your loop: cross-entropy on the audio, plus lambda * L_se on the class and neighbor prompts.
    learner = PromptLearner(tower)
    optimizer = torch.optim.SGD([learner.ctx], lr=0.05, momentum=0.9)
    k, width = len(CLASSES), tower.core.config.hidden_size
    labels = torch.arange(k).repeat_interleave(4)
    audio = torch.randn(k, width)[labels] + 0.5 * torch.randn(len(labels), width)  # your audio encoder's output
    flat = [name for c in CLASSES for name in neighbors[c]]
    for step in range(args.steps):
        z = learner(CLASSES)  # [K, D]
        p = learner(flat).view(k, args.n, -1)  # [K, N, D]
        ce = F.cross_entropy(100.0 * F.normalize(audio, dim=-1) @ F.normalize(z, dim=-1).T, labels)
        se = sept(z, p)
        loss = ce + args.lam * se
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        print(f"step {step}: loss {loss.item():.4f} (ce {ce.item():.4f}, se {se.item():.4f})")


if __name__ == "__main__":
    main()
