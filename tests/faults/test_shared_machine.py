"""Shared machines: the files and folders septctl writes honour the umask, as open() and mkdir() do,
so two users of one group share a cache and a results folder."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest


def _modes(root: Path) -> dict[str, int]:
    """The permission bits of everything under `root` septctl wrote (lock files included)."""
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*")}


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o002, 0o664, 0o775), (0o022, 0o644, 0o755)])
def test_embed_train_eval_files_follow_the_umask(world, tmp_path, monkeypatch, cli, umask, file_mode, dir_mode):
    cache, runs = tmp_path / "cache", tmp_path / "runs"
    monkeypatch.setenv("SEPTCTL_CACHE", str(cache))
    old = os.umask(umask)
    try:
        assert cli("embed", "--backbone", "tiny", world.data, "-q").code == 0
        assert cli("train", "--backbone", "tiny", world.data, "--epochs", "1", "--shots", "1", "--seed", "0",
                   "--out", runs / "r", "-q").code == 0
        assert cli("eval", runs / "r", "--classes", "base").code == 0
    finally:
        os.umask(old)
    written = {**_modes(cache), **{f"runs/{k}": v for k, v in _modes(runs).items()}}
    assert any(k.startswith("runs/r/") for k in written) and any(k.startswith("embeddings") for k in written)
    wrong = {k: oct(v) for k, v in written.items()
             if v != (dir_mode if (tmp_path / ("" if k.startswith("runs/") else "cache") / k).is_dir() else file_mode)}
    assert not wrong, f"modes other than {oct(file_mode)}/{oct(dir_mode)}: {wrong}"


# ---- two users, one group: a shared cache and results folder, for real --------------------------------

GROUP, USERS = "septctl-share", ("septctl-a", "septctl-b")


def _python_for_others() -> tuple[str, str]:
    """An interpreter other users may run, and the PYTHONPATH that gives it septctl and its packages.

    A venv under /root (0700) is not theirs to run; a system python of the same minor version is,
    with this checkout and the venv's site-packages on its path.
    """
    import septctl

    repo = str(Path(septctl.__file__).resolve().parents[1])
    sites = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [sys.executable, shutil.which(version, path="/usr/local/bin:/usr/bin:/bin") or ""]
    pythonpath = os.pathsep.join([repo, *sites])
    return next((c for c in candidates if c and _others_can_run(c, pythonpath)), ""), pythonpath


def _others_can_run(path: str, pythonpath: str) -> bool:
    """Through a shell, as the test's users run it (setpriv's own exec may still pass as root): the interpreter,
    and septctl's CLI from this checkout (a checkout or venv under a 0700 folder is not theirs to read)."""
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", "-c",
                           'exec "$0" -c "import septctl.cli.main"', path], capture_output=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": pythonpath}).returncode == 0


@pytest.fixture
def two_users():
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("useradd", "groupadd", "userdel", "setpriv")):
        pytest.skip("needs root with useradd/groupadd/setpriv to make two users")
    made = []
    if subprocess.run(["getent", "group", GROUP], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", GROUP], check=True)
        made.append(("groupdel", GROUP))
    for user in USERS:
        if subprocess.run(["id", user], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-M", "-N", "-g", GROUP, "-s", "/usr/sbin/nologin", user], check=True)
            made.insert(0, ("userdel", user))
    yield USERS
    for command, name in made:
        subprocess.run([command, name], check=False)


@pytest.mark.parametrize("umask", [0o002])
def test_two_users_share_a_cache_and_a_results_folder(world, two_users, umask):
    python, pythonpath = _python_for_others()
    if not python:
        pytest.skip("other users cannot run septctl from this checkout (a 0700 folder above it or its venv?)")
    # pytest's base temp is private (0700), so the shared place is a fresh world-traversable folder under /tmp.
    base = Path(tempfile.mkdtemp(prefix="septctl-two-users-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        data = Path(shutil.copytree(world.data, base / "data"))
        for p in [data, *data.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        shared = base / "shared"
        shared.mkdir()
        shutil.chown(shared, group=GROUP)
        os.chmod(shared, 0o2775)  # group-writable, and new entries inherit the group
        cache, results = shared / "cache", shared / "results"

        def as_user(user: str, *args, mask: int = umask, code: int = 0) -> subprocess.CompletedProcess:
            env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": pythonpath, "HOME": str(base), "HF_HUB_OFFLINE": "1",
                   "SEPTCTL_CACHE": str(cache), "OMP_NUM_THREADS": "1", "SEPTCTL_THREADS": "1"}
            command = f"umask {mask:03o}; exec {python} -m septctl " + " ".join(map(str, args))
            done = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={GROUP}", "--init-groups",
                                   "bash", "-c", command], env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == code, f"{user}: septctl {' '.join(map(str, args))}\n{done.stderr}"
            return done

        a, b = two_users
        train = ["--backbone", "tiny", "--epochs", "1", "--shots", "1", "-q"]
        assert as_user(a, "embed", data, "--backbone", "tiny", "-q").stderr.startswith("computed")
        assert as_user(b, "embed", data, "--backbone", "tiny", "-q").stderr.startswith("cache hit")  # a's entry
        as_user(a, "train", data, *train, "--seed", "0", "--out", results / "run-a")
        as_user(b, "train", data, *train, "--seed", "1", "--out", results / "run-b")  # reads a's cache
        as_user(b, "eval", results / "run-a", "--classes", "base")  # writes into a's run folder
        as_user(a, "eval", results / "run-a", "--classes", "new")  # and a adds to the file b rewrote
        as_user(a, "eval", results / "run-b", "--classes", "base")
        as_user(b, "eval", results / "run-b", "--classes", "new")
        report = as_user(b, "report", results, "--format", "csv")
        assert "missing" not in report.stderr, report.stderr  # every evaluation of both runs was read
        # tiny's 1-epoch runs learn nothing, and report says so; it says nothing else about them
        unread = [line for line in report.stderr.splitlines() if "run-a" in line and "learned nothing" not in line]
        assert report.stdout.count("\n") >= 2 and not unread, report.stdout + report.stderr
        owners = {p.stat().st_uid for p in results.rglob("*.safetensors")}
        assert len(owners) == 2, "each user wrote one of the runs"

        # Under umask 022 b's run folder is b's alone: a's eval is refused in one line naming the errno.
        as_user(b, "train", data, *train, "--seed", "2", "--out", results / "run-private", mask=0o022)
        refused = as_user(a, "eval", results / "run-private", "--classes", "base", code=2).stderr
        assert refused.count("\n") == 1 and refused.startswith("error: ") and "(EACCES)" in refused, refused
        assert str(results / "run-private") in refused and "write access" in refused, refused
    finally:
        shutil.rmtree(base, ignore_errors=True)
