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


def _dataset_named(name: str):
    """A copy of the world's dataset in a folder whose name holds `name` (its plan lines would break)."""

    def make(world, tmp_path):
        data = world.copy_data(tmp_path / name)
        return [*GRID[:2], data, "--backbone", "tiny", "--slurm", "--dry-run", "--runs", tmp_path / "runs"], (
            "septctl", "control character")

    return make


# Shell injection (issue 28): a newline in a value ends an #SBATCH line or splits a plan line, and the
# next line would run as shell. Each is refused by name before a script is written; test_slurm_scripts.py
# runs bash on the scripts that values which can be quoted give.
INJECT = "gpu\\ntouch INJECTED"  # a YAML escape: the profile's value holds a newline
CASES = [
    Case("slurm-profile-partition-newline", _profile(f'partition: "{INJECT}"\n', "partition", "control character")),
    Case("slurm-profile-account-newline", _profile(f'account: "{INJECT}"\n', "account", "control character")),
    Case("slurm-profile-time-carriage-return", _profile('time: "1:00\\rtouch INJECTED"\n', "time")),
    Case("slurm-profile-sbatch-arg-newline", _profile(f'sbatch_args: ["--qos={INJECT}"]\n', "sbatch_args")),
    Case("slurm-partition-newline", _options("--slurm", "--dry-run", "--partition", "gpu\ntouch INJECTED",
                                             names=("--partition", "control character"))),
    Case("slurm-mem-newline", _options("--slurm", "--dry-run", "--mem", "16G\ntouch INJECTED",
                                       names=("--mem", "control character"))),
    Case("slurm-sbatch-arg-newline", _options("--slurm", "--dry-run", "--sbatch-arg", "--qos=x\ntouch INJECTED",
                                              names=("--sbatch-arg", "control character"))),
    Case("slurm-runs-newline", lambda world, tmp_path: (
        [*GRID, "--slurm", "--dry-run", "--runs", tmp_path / "runs\ntouch INJECTED"], ("--runs", "control character"))),
    Case("slurm-sept-dir-newline", lambda world, tmp_path: (
        [*GRID, "--slurm", "--dry-run", "--sept-dir", tmp_path / "sept\ntouch INJECTED"], ("--sept-dir",))),
    Case("grid-plan-runs-newline", lambda world, tmp_path: (
        [*GRID, "--plan", "--runs", tmp_path / "runs\ntouch INJECTED"], ("--runs", "control character"))),
    Case("slurm-dataset-folder-newline", _dataset_named("ds\ntouch INJECTED")),
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
