"""A full disk and a read-only file system, for real: a 1 MiB tmpfs mounted by the test.

Each command that writes (embed, train, eval, report) must end with one line naming the
path, the cause and its errno, exit 2, and leave no temporary file; a read-only cache
still serves hits. Skipped with the reason where this process may not mount (not root,
no CAP_SYS_ADMIN, no tmpfs).
"""

from __future__ import annotations

import errno
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.faults.conftest import Result, assert_refused

SIZE = "1m"


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0777", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt: Path) -> None:
    """Write until the file system says ENOSPC."""
    with open(mnt / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def _remount_read_only(mnt: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)


def _ends_in_one_error(result: Result, *names: str) -> str:
    """Exit 2 and a last stderr line `error: ...` naming `names`; lines before it are progress (train's summary)."""
    errors = [ln for ln in result.err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and result.err.strip().splitlines()[-1] == errors[0], result.err
    return assert_refused(Result(result.code, result.out, errors[0]), *names)


def _no_temporaries(mnt: Path) -> None:
    left = [str(p) for p in mnt.rglob("*.tmp")]
    assert not left, f"temporary files left behind: {left}"


def _prepare(world, mnt: Path, cli, monkeypatch) -> Path:
    """Fill the tmpfs's cache with the world's embeddings and hold an evaluated copy of its run there."""
    monkeypatch.setenv("SEPTCTL_CACHE", str(mnt / "cache"))
    assert cli("embed", world.data, "--backbone", "tiny", "-q").code == 0
    run = world.copy_run(mnt / "run")
    assert cli("eval", run, "--classes", "base").code == 0
    return run


def _commands(world, mnt: Path, run: Path, outside: Path) -> dict[str, list]:
    return {
        "embed": ["embed", world.data, "--backbone", "tiny", "--crop", "center", "-q"],  # a miss: must write
        "train": ["train", world.data, "--backbone", "tiny", "--epochs", "1", "--shots", "1", "--out", mnt / "new-run",
                  "-q"],
        "eval": ["eval", run, "--classes", "new"],
        "report": ["report", outside, "--out", mnt / "tables"],
    }


@pytest.mark.parametrize("command", ["embed", "train", "eval", "report"])
def test_full_disk_is_one_line(world, small_fs, tmp_path, cli, monkeypatch, command):
    run = _prepare(world, small_fs, cli, monkeypatch)
    outside = world.copy_run(tmp_path / "evaluated")
    assert cli("eval", outside, "--classes", "base").code == 0
    _fill(small_fs)
    line = _ends_in_one_error(cli(*_commands(world, small_fs, run, outside)[command]), str(small_fs), "ENOSPC")
    assert "free space" in line
    _no_temporaries(small_fs)


@pytest.mark.parametrize("command", ["embed", "train", "eval", "report"])
def test_read_only_is_one_line(world, small_fs, tmp_path, cli, monkeypatch, command):
    run = _prepare(world, small_fs, cli, monkeypatch)
    outside = world.copy_run(tmp_path / "evaluated")
    assert cli("eval", outside, "--classes", "base").code == 0
    _remount_read_only(small_fs)
    line = _ends_in_one_error(cli(*_commands(world, small_fs, run, outside)[command]), str(small_fs), "EROFS")
    assert "read-only" in line
    _no_temporaries(small_fs)


def test_read_only_cache_serves_hits(world, small_fs, cli, monkeypatch):
    _prepare(world, small_fs, cli, monkeypatch)
    for lock in (small_fs / "cache").rglob("*.lock"):
        lock.unlink()  # a hit must not need its lock file, which a read-only cache cannot create
    _remount_read_only(small_fs)
    result = cli("embed", world.data, "--backbone", "tiny", "-q")
    assert result.code == 0 and result.err.startswith("cache hit"), result.err
    trained = cli("train", world.data, "--backbone", "tiny", "--epochs", "1", "--shots", "1",
                  "--out", Path(str(small_fs)).parent / "elsewhere", "-q")
    assert trained.code == 0, trained.err  # training reads the read-only cache and writes elsewhere


def test_cache_that_is_a_file_is_refused(world, tmp_path, cli, monkeypatch):
    (tmp_path / "cache-file").write_text("not a folder\n")
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache-file"))
    line = assert_refused(cli("embed", world.data, "--backbone", "tiny"), str(tmp_path / "cache-file"))
    assert "SEPTCTL_CACHE" in line
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache-file" / "below"))
    assert_refused(cli("embed", world.data, "--backbone", "tiny"), str(tmp_path / "cache-file"))
