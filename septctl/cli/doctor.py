"""`septctl doctor` (what a bug report needs) and `septctl verify RUN` (recompute a run's claims).

`doctor` reads versions from package metadata, cache paths, devices and cached weights,
and says what is missing. Secrets never appear: any environment variable whose name
contains KEY, TOKEN, SECRET or PASSWORD shows only as set/unset, and credentials in
URLs are masked, so the output can be pasted into an issue as is.
"""

import json
import os
import platform
import re
from pathlib import Path
from typing import Annotated

import typer

from septctl.cli import panels
from septctl.cli.common import err, out
from septctl.console import styled
from septctl.cli.options import AsJson, DataRoot, Device

PACKAGES = ("septctl", "torch", "torchaudio", "transformers", "numpy", "soundfile", "safetensors", "huggingface_hub",
            "openai", "typer", "rich", "pyyaml")
REQUIRED = ("torch", "torchaudio", "transformers", "numpy", "soundfile", "safetensors")
_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)
_ENV_PREFIXES = ("SEPTCTL_", "HF_", "HUGGINGFACE_", "OPENAI_", "TRANSFORMERS_", "TORCH_", "CUDA_", "PYTORCH_")
_ENV_NAMES = ("XDG_CACHE_HOME", "NO_COLOR", "OMP_NUM_THREADS")
_ALWAYS_SHOWN = ("OPENAI_API_KEY", "HF_TOKEN")


def _release(version: str | None) -> tuple[str, ...]:
    """The release a version belongs to: major.minor (torch and torchaudio ship in lockstep)."""
    return tuple(re.split(r"[.+]", version or "")[:2])


def redacted_env(environ: dict[str, str]) -> dict[str, str]:
    """The variables that shape septctl's behaviour; secrets as set/unset, URL credentials masked."""
    names = {n for n in environ if n.startswith(_ENV_PREFIXES) or n in _ENV_NAMES or _SECRET.search(n)}
    shown = {}
    for name in sorted(names | set(_ALWAYS_SHOWN)):
        value = environ.get(name)
        if _SECRET.search(name):
            shown[name] = "set" if value else "unset"
        elif value is not None:
            shown[name] = re.sub(r"//[^/@\s]+@", "//***@", value)
    return shown


def _folder_summary(path: Path) -> str:
    if not path.is_dir():
        return "absent"
    files = [p for p in path.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    return f"{len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.1f} MB"


def collect_report() -> dict:
    """Everything `doctor` shows, as plain data."""
    from septctl.artifacts import package_version
    from septctl.backbones.registry import SPECS
    from septctl.backbones.weights import cached_weights
    from septctl.cli.options import default_backbone
    from septctl.defaults import BACKBONE_ENV
    from septctl.errors import SeptctlError
    from septctl.paths import cache_dir

    versions = {"python": platform.python_version(), **{p: package_version(p) for p in PACKAGES}}
    problems = [f"{p} is not installed; pip install {p}" for p in REQUIRED if versions[p] is None]
    if versions["torch"] and versions["torchaudio"] and _release(versions["torch"]) != _release(versions["torchaudio"]):
        problems.append(f"torch {versions['torch']} and torchaudio {versions['torchaudio']} are different releases; "
                        "install the torchaudio that matches torch")
    root = cache_dir()
    caches = {"septctl": str(root), **{sub: f"{root / sub} ({_folder_summary(root / sub)})"
                                        for sub in ("embeddings", "weights", "llm", "clip-tokenizer")}}
    try:
        from huggingface_hub import constants

        caches["huggingface hub"] = f"{constants.HF_HUB_CACHE} (offline: {'yes' if constants.HF_HUB_OFFLINE else 'no'})"
    except ImportError:
        problems.append("huggingface_hub is not installed; laion-clap, ms-clap and clip-vit-b16 cannot fetch weights")
    devices = {"cpu": f"{os.cpu_count()} cores"}
    if versions["torch"]:
        import torch

        devices["torch threads"] = str(torch.get_num_threads())
        if torch.cuda.is_available():
            names = (torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
            devices["cuda"] = ", ".join(f"{i}: {name}" for i, name in enumerate(names))
        else:
            devices["cuda"] = "not available"
        mps = getattr(torch.backends, "mps", None)
        devices["mps"] = "available" if mps is not None and mps.is_available() else "not available"
    weights = {}
    for name, spec in SPECS.items():
        try:
            weights[name] = cached_weights(name) or f"not cached ({spec.source.describe()})"
        except Exception as exc:  # a broken card or hub cache must not stop the report
            weights[name] = f"unknown ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    try:
        default = default_backbone()
    except SeptctlError as exc:
        problems.append(str(exc))
        default = None
    if default and SPECS[default].source.kind == "url" and not str(weights[default]).startswith("/"):
        problems.append(f"{default.capitalize()} weights are not cached (the default backbone); run `septctl download "
                        f"{default}` (or pass --weights PATH, or set {BACKBONE_ENV}=synth-clap to work offline)")
    return {"versions": versions, "platform": platform.platform(), "caches": caches, "devices": devices,
            "weights": weights, "environment": redacted_env(dict(os.environ)), "problems": problems}


def doctor(as_json: AsJson = False) -> None:
    """Versions, cache paths, devices, cached weights and what is missing (secrets shown as set/unset only)."""
    report = collect_report()
    if as_json:
        out.print_json(json.dumps(report))
        return
    from rich.table import Table

    for title in ("versions", "caches", "devices", "weights", "environment"):
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for k, v in report[title].items():
            table.add_row(k, styled("missing", "red") if v is None else str(v))
        out.print(table)
    out.print(f"platform: {report['platform']}", highlight=False)
    for problem in report["problems"]:
        err.print(styled("warning:", "yellow"), problem, highlight=False)
    if not report["problems"]:
        err.print("nothing missing")


def verify(
    runs: Annotated[list[Path], typer.Argument(help="Run folders (trained or zero-shot) with a metrics.yaml.")],
    tolerance: Annotated[float, typer.Option(
        "--tolerance", min=0.0, help="Allowed difference in accuracy points (0: exact, as on the same CPU).")] = 0.0,
    retrain: Annotated[bool, typer.Option(
        "--retrain", help="Also retrain into a scratch folder; the prompt must match bit for bit.")] = False,
    data_root: DataRoot = None,
    as_json: AsJson = False,
    device: Device = "cpu",
) -> None:
    """Recompute each run's config hash, few-shot rows, weights id and metrics.yaml entries; exit 1 on a mismatch."""
    from septctl.cli.common import set_threads
    from septctl.verify import verify_run

    set_threads()
    results = {str(r): verify_run(r, tolerance=tolerance, retrain=retrain,
                                  data_root=str(data_root) if data_root else None, device=device) for r in runs}
    if as_json:
        out.print_json(json.dumps({r: [c.as_dict() for c in checks] for r, checks in results.items()}))
    else:
        from rich.table import Table

        for run, checks in results.items():
            table = Table(title=f"verify {run}", title_justify="left")
            for col in ("check", "recorded", "now", ""):
                table.add_column(col, overflow="fold")
            for c in checks:
                table.add_row(c.what, c.recorded, c.now, "ok" if c.ok else styled("MISMATCH", "red"))
            out.print(table)
    bad = {run: [c for c in checks if not c.ok] for run, checks in results.items()}
    for run, failed in bad.items():
        if failed:
            err.print(styled(f"{run}: {len(failed)} of {len(results[run])} checks differ", "red"),
                      f"(first: {failed[0].what})", highlight=False)
    if any(bad.values()):
        raise typer.Exit(1)
    err.print(f"all checks match ({sum(len(c) for c in results.values())} in {len(results)} run(s))")


def register(app: typer.Typer) -> None:
    app.command("doctor", rich_help_panel=panels.MAINTENANCE)(doctor)
    app.command("verify", rich_help_panel=panels.MAINTENANCE)(verify)
