"""Bad SLURM profiles and batch options of `septctl grid`: refused before any plan or script is written."""

from __future__ import annotations

from tests.faults.table import Case

GRID = ["grid", "base2new", "sesa", "--backbone", "tiny"]


def _profile(text: str, *names: str):
    def make(world, tmp_path):
        path = tmp_path / "profile.yaml"
        path.write_text(text)
        return [*GRID, "--slurm", "--dry-run", "--profile", path], (str(path), *names)

    return make


def _options(*args: str, names: tuple[str, ...]):
    return lambda world, tmp_path: ([*GRID, *args], names)


CASES = [
    Case("slurm-profile-not-mapping", _profile("- gpus: 1\n", "mapping")),
    Case("slurm-profile-unknown-key", _profile("gpu: 1\n", "'gpu'"), fix="gpus"),
    Case("slurm-profile-negative-gpus", _profile("gpus: -1\n", "gpus")),
    Case("slurm-profile-cpus-text", _profile("cpus: many\n", "cpus")),
    Case("slurm-profile-time-list", _profile("time: [1, 2]\n", "time")),
    Case("slurm-profile-sbatch-args-text", _profile("sbatch_args: --qos=long\n", "sbatch_args"), fix="list"),
    Case("slurm-profile-bad-yaml", _profile("partition: [gpu\n")),
    Case("slurm-profile-absent", lambda world, tmp_path: (
        [*GRID, "--slurm", "--profile", tmp_path / "nope.yaml"], (str(tmp_path / "nope.yaml"),))),
    Case("slurm-sbatch-arg-not-option", _options("--slurm", "--dry-run", "--sbatch-arg", "qos=long",
                                                 names=("--sbatch-arg", "'qos=long'"))),
    Case("slurm-resources-without-slurm", _options("--partition", "gpu", names=("--slurm",))),
    Case("slurm-status-with-submit", _options("--status", "--slurm", names=("--status",))),
]
