"""The paper's figures from runs and neighbor files, as PNG and PDF (matplotlib, Agg backend).

- Figure 1 (`heatmap_figure`): cosine similarity of each class prompt to the neighbor
  prompts of every class, for zero-shot and each given run; neighbors of the class itself
  sit on the block diagonal.
- Figure 4 (`tsne_figure`): exact t-SNE of new-class prompts (diamonds) and their neighbors
  (circles), one panel per prompt (zero-shot, then the runs).
- Figure 8 (`similarity_figure`): histogram of class-to-own-neighbor similarities under the
  hand-written template, other classes' neighbors shown for contrast.
- Results (`results_figure`): Base, New and H per method, one panel per dataset, with the spread
  over seeds, from Table 1's cells (the runs `report` reads).

Every file is marked as septctl's (PNG Software, PDF Creator), so a later plot replaces an earlier one
without --force; a file without the mark is refused unless --force.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from septctl.defaults import DEFAULT_TEMPLATE
from septctl.errors import SeptctlError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from septctl.backbones.base import Backbone

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


FIGURES_WRITTEN = "figures.sha256"
"""In septctl's cache: `sha256  real path` of every figure file septctl wrote, so a plot replaces its own
earlier figure without --force but never one that was edited or made by anything else."""


def _written() -> Path:
    from septctl.paths import cache_dir

    return cache_dir() / FIGURES_WRITTEN


def _ours(path: Path) -> bool:
    """Whether `path` is, byte for byte, a figure septctl wrote there."""
    from septctl.artifacts import sha256_file

    try:
        return path.is_file() and f"{sha256_file(path)}  {path.resolve()}" in _written().read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return False


def _remember(paths: list[Path]) -> None:
    """Record what `_save` wrote (appended: one short line per figure file; a lost line only means --force)."""
    from septctl.artifacts import sha256_file

    try:
        with _written().open("a", encoding="utf-8") as record:
            record.write("".join(f"{sha256_file(p)}  {p.resolve()}\n" for p in paths))
    except OSError:
        pass


def _save(fig: Figure, out: Path, force: bool = True) -> list[Path]:
    """OUT.png and OUT.pdf, byte-identical for the same figure (no creation date), so a rerun is not a change.

    Both or neither: each is rendered in memory, both are written to temporary files, and only then are
    both renamed into place (a full disk failed the PDF writer after the PNG was in place).
    """
    import io

    from septctl.artifacts import atomic_path, refuse_to_replace

    out = Path(out)
    if out.suffix in (".png", ".pdf"):
        out = out.with_suffix("")
    out.parent.mkdir(parents=True, exist_ok=True)
    _fit_fonts(fig)
    rendered = {}
    for ext in ("png", "pdf"):
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")  # said once by _fit_fonts
            fig.savefig(buf, format=ext, dpi=150, bbox_inches="tight",
                        metadata={"CreationDate": None} if ext == "pdf" else None)
        rendered[out.parent / f"{out.name}.{ext}"] = buf.getvalue()
    _pyplot().close(fig)
    (png, png_bytes), (pdf, pdf_bytes) = rendered.items()
    force_png, force_pdf = force or _ours(png), force or _ours(pdf)  # septctl's own earlier figure is replaced
    with atomic_path(png, force=force_png) as png_tmp, atomic_path(pdf, force=force_pdf) as pdf_tmp:
        png_tmp.write_bytes(png_bytes)
        pdf_tmp.write_bytes(pdf_bytes)
        refuse_to_replace(png, force_png, png_tmp)  # before the PDF is renamed (atomic_path checks each on its way out)
    _remember([png, pdf])
    return [png, pdf]


def _charmap(path: str) -> frozenset[int]:
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(path).get_charmap())


def _fit_fonts(fig: Figure) -> None:
    """Class names in any script: each text falls back, glyph by glyph, to installed fonts that have its characters.

    Matplotlib's default (DejaVu Sans) has no CJK, so such names became boxes with a warning per glyph.
    Characters no installed font has are named once on stderr, with the package that adds them.
    """
    from matplotlib import font_manager
    from matplotlib.text import Text

    texts = [t for t in fig.findobj(Text) if t.get_text()]
    default = font_manager.findfont("DejaVu Sans")
    needed = {ord(c) for t in texts for c in t.get_text() if not c.isspace()} - _charmap(default)
    if not needed:
        return
    family, left = ["DejaVu Sans"], set(needed)
    for path in sorted(font_manager.findSystemFonts()):  # scanned now: matplotlib's cache misses fonts added later
        if not left:
            break
        try:
            covered = left & _charmap(path)
        except (OSError, RuntimeError):
            continue
        if covered:
            font_manager.fontManager.addfont(path)
            family.append(font_manager.FontProperties(fname=path).get_name())
            left -= covered
    for t in texts:
        t.set_fontfamily(family)
    if left:
        from septctl.console import err

        shown = "".join(sorted(chr(c) for c in left))[:20]
        err.print(f"figure: no installed font has {shown!r}; they show as boxes (Debian: apt install fonts-noto-cjk)",
                  highlight=False)


class PromptEncoder:
    """Names -> unit-norm text features under a run's learned prompt, or the zero-shot template."""

    def __init__(self, run_dir: Path | None, backbone: Backbone | None = None, template: str = DEFAULT_TEMPLATE):
        import torch

        from septctl.methods.zeroshot import ZeroShot

        self.torch = torch
        if run_dir is None:
            self.label, self.method = "zero-shot", ZeroShot(backbone, [], template)
            self.run = {}
            return
        from septctl.backbones import load_backbone
        from septctl.methods import build_method
        from septctl.runs import load_prompt, read_run, run_config

        run_dir = Path(run_dir)
        self.run = read_run(run_dir)
        cfg = run_config(run_dir, self.run)
        model = backbone or load_backbone(cfg.backbone, cfg.weights, "cpu")  # figures are light: any run plots on the CPU
        tensors, meta = load_prompt(run_dir, self.run)
        self.method = build_method(cfg.method, model, json.loads(meta["classes"]), {"n_ctx": cfg.n_ctx,
                                                                                     **cfg.method_options})
        self.method.load_prompt_state(tensors)
        self.method.eval()
        self.label = self.run.get("label", cfg.method)

    def __call__(self, names: list[str]) -> np.ndarray:
        import torch.nn.functional as F

        with self.torch.no_grad():
            try:
                feats = self.method.encode_names(names)
            except TypeError as exc:
                raise SeptctlError(f"{self.label}: its prompts depend on the audio, so they cannot be drawn "
                                   f"without it ({exc}); plot a text-only method such as coop") from None
        if feats.dim() == 3:  # instance-conditioned methods return [B, K, D]
            feats = feats.mean(0)
        return F.normalize(feats.float(), dim=-1).cpu().numpy()


def _encoders(runs: list[Path]) -> list[PromptEncoder]:
    if not runs:
        raise SeptctlError("give at least one run folder to compare with zero-shot")
    trained = [PromptEncoder(r) for r in runs]
    return [PromptEncoder(None, trained[0].method.backbone)] + trained


def heatmap_figure(runs: list[Path], neighbors_file: Path, out: Path, per_class: int = 3, *,
                   force: bool = True) -> list[Path]:
    """Figure 1: one panel per prompt (zero-shot first); rows classes, columns their neighbors."""
    from septctl.sept.neighbors import load_neighbors

    ns = load_neighbors(neighbors_file)
    shown = [ns.names[c][:per_class] for c in ns.classes]
    columns = [p for row in shown for p in row]
    encoders = _encoders(runs)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(encoders), figsize=(1.2 + 0.28 * len(columns) * len(encoders),
                                                       1.5 + 0.35 * len(ns.classes)), squeeze=False)
    sims = [enc(ns.classes) @ enc(columns).T for enc in encoders]
    low, high = min(float(s.min()) for s in sims), max(float(s.max()) for s in sims)  # one scale for all panels
    for ax, enc, sim in zip(axes[0], encoders, sims):
        im = ax.imshow(sim, cmap="viridis", vmin=low, vmax=high, aspect="auto")
        ax.set_title(enc.label, fontsize=9)
        ax.set_yticks(range(len(ns.classes)), ns.classes if ax is axes[0][0] else [], fontsize=7)
        ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=6)
        for k in range(1, len(ns.classes)):
            ax.axvline(k * per_class - 0.5, color="white", lw=0.5)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="cosine similarity")
    fig.suptitle("Class prompts vs semantic-neighbor prompts (own neighbors on the block diagonal)", y=1.04,
                 fontsize=10)
    return _save(fig, out, force)


def tsne_figure(runs: list[Path], neighbors_file: Path, out: Path, classes: str = "new",
                perplexity: float = 10.0, *, force: bool = True) -> list[Path]:
    """Figure 4: t-SNE of class prompts (diamonds) and their neighbors (circles), one colour per class."""
    from septctl.data.schema import select_classes
    from septctl.report.tsne import tsne
    from septctl.sept.neighbors import load_neighbors

    ns = load_neighbors(neighbors_file)
    encoders = _encoders(runs)
    every = encoders[1].run.get("all_classes") or ns.classes
    chosen = select_classes(every, classes, encoders[1].run.get("class_order"))
    absent = [c for c in chosen if c not in ns.names]
    if absent:
        raise SeptctlError(f"{neighbors_file}: no neighbors for {absent[0]!r}; make the file with "
                           "`septctl neighbors DATASET --split all`")
    names = [n for c in chosen for n in [c, *ns.names[c]]]
    owner = np.array([i for i, c in enumerate(chosen) for _ in range(1 + len(ns.names[c]))])
    is_class = np.array([k == 0 for c in chosen for k in range(1 + len(ns.names[c]))])
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(encoders), figsize=(4.2 * len(encoders), 4.4), squeeze=False)
    colours = plt.get_cmap("tab10" if len(chosen) <= 10 else "tab20")
    for ax, enc in zip(axes[0], encoders):
        y = tsne(enc(names), perplexity=perplexity)
        for i, c in enumerate(chosen):
            own = owner == i
            ax.scatter(*y[own & ~is_class].T, s=18, marker="o", color=colours(i % colours.N), alpha=0.6)
            ax.scatter(*y[own & is_class].T, s=110, marker="D", color=colours(i % colours.N), edgecolor="black",
                       label=c)
        ax.set_title(enc.label)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"t-SNE of {classes}-class prompts (◆) and their semantic neighbors (●)")
    return _save(fig, out, force)


def similarity_values(neighbors_files: list[Path], backbone: Backbone) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of each class to its own neighbors and to other classes' neighbors."""
    from septctl.sept.margins import encode_normalized
    from septctl.sept.neighbors import load_neighbors
    from septctl.sept.prefixes import fill

    own, other = [], []
    for path in neighbors_files:
        ns = load_neighbors(path)
        k, n = len(ns.classes), ns.n
        feats = encode_normalized(backbone, [fill(DEFAULT_TEMPLATE, c) for c in ns.classes] +
                                  [fill(DEFAULT_TEMPLATE, p) for row in ns.rows() for p in row]).numpy()
        sim = np.einsum("id,jnd->ijn", feats[:k], feats[k:].reshape(k, n, -1))
        mask = np.eye(k, dtype=bool)
        own.append(sim[mask].ravel())
        other.append(sim[~mask].ravel())
    return np.concatenate(own), np.concatenate(other)


def similarity_figure(neighbors_files: list[Path], backbone_name: str, weights: str | None, out: Path, *,
                      force: bool = True) -> list[Path]:
    """Figure 8: histogram of similarities between classes and their semantic neighbors."""
    from septctl.backbones import load_backbone

    if not neighbors_files:
        raise SeptctlError("give at least one neighbors.yaml")
    own, other = similarity_values(neighbors_files, load_backbone(backbone_name, weights))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    bins = np.linspace(min(own.min(), other.min()), max(own.max(), other.max()), 40)
    ax.hist(other, bins=bins, color="lightgray", label=f"other classes' neighbors (mean {other.mean():.2f})",
            density=True)
    ax.hist(own, bins=bins, color="tab:blue", alpha=0.8, label=f"own neighbors (mean {own.mean():.2f})",
            density=True)
    ax.set_xlabel(f"cosine similarity ({backbone_name}, '{DEFAULT_TEMPLATE}')")
    ax.set_ylabel("density")
    ax.set_title(f"Class vs semantic-neighbor similarity ({len(neighbors_files)} neighbor files, {len(own)} pairs)")
    ax.legend(fontsize=8)
    return _save(fig, out, force)


def results_figure(table, out: Path, *, force: bool = False) -> list[Path]:
    """Base, New and H of each method (bars, in the table's row order), one panel per dataset; the error bars
    are the standard deviation over seeds (of the per-seed fold means, and of the per-seed H)."""
    plt = _pyplot()
    cells = [c for c in table.cells if "per_seed" in c]  # per-dataset cells; averages have no seeds of their own
    datasets = list(dict.fromkeys(c["group"] for c in cells))
    if not datasets:
        raise SeptctlError("no method has both base and new results; evaluate the runs (septctl eval RUN) first")
    methods = list(dict.fromkeys(c["row"][0] for c in cells))
    fig, axes = plt.subplots(1, len(datasets), figsize=(1.2 + 1.3 * len(methods) * len(datasets), 3.6),
                             squeeze=False, sharey=True)
    width = 0.27
    for ax, dataset in zip(axes[0], datasets):
        by_method = {c["row"][0]: c for c in cells if c["group"] == dataset}
        x = np.arange(len(methods))
        for k, (metric, colour) in enumerate((("base", "#4c72b0"), ("new", "#dd8452"), ("h", "#55a868"))):
            values = [by_method[m][metric] if m in by_method else np.nan for m in methods]
            spread = [_spread(by_method[m], metric) if m in by_method else 0.0 for m in methods]
            ax.bar(x + (k - 1) * width, values, width, yerr=spread, capsize=2, color=colour,
                   label={"base": "Base", "new": "New", "h": "H"}[metric])
        seeds = sorted({c.get("seeds", 0) for c in by_method.values()})
        ax.set_title(f"{dataset} ({'/'.join(map(str, seeds))} seed{'s' if seeds != [1] else ''})", fontsize=9)
        ax.set_xticks(x, methods, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 114)  # room for the legend above 100 %
        ax.set_yticks(range(0, 101, 20))
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("accuracy (%)")
    axes[0][0].legend(fontsize=8, loc="upper left", ncol=3, frameon=False)
    fig.suptitle(table.title, fontsize=10)
    return _save(fig, out, force)


def _spread(cell: dict, metric: str) -> float:
    """Standard deviation over seeds of one metric of a cell (0 with one seed)."""
    if metric == "h":
        return cell.get("sd") or 0.0
    values = [pair[0 if metric == "base" else 1] for pair in cell["per_seed"].values()]
    return float(np.std(values)) if len(values) > 1 else 0.0
