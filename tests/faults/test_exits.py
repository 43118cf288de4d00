"""Tracebacks and wrong exit codes (issue 28, item 11): one line and the right status for each case.

Each case runs septctl as a real process where the fault needs one (a signal, a closed or full
stdout, a console encoding), else in-process through `cli`. Every case checks the exit status,
that stderr holds no traceback and ends in one `error:` (or `interrupted`) line, and that no file
changed that should not have.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults.conftest import Result, assert_refused, snapshot

ROOT = Path(__file__).parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "SEPTCTL_THREADS": "1", **extra}
    env.pop("PYTHONUTF8", None)
    env.pop("PYTHONIOENCODING", None)
    return env | extra


def _septctl(*args, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "septctl", *map(str, args)], capture_output=True, env=env or _env(),
                          timeout=300, **kwargs)


def _one_line(err: bytes | str, start: str) -> str:
    text = err.decode("utf-8", "replace") if isinstance(err, bytes) else err
    assert "Traceback" not in text, text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith(start), text
    assert sum(ln.startswith(("error:", "interrupted")) for ln in lines) == 1, text
    return lines[-1]


# --- signals --------------------------------------------------------------------------------------

def test_ctrl_c_while_septctl_starts_is_130_and_one_line(tmp_path):
    """SIGINT at moments spread over start-up (imports) and the command: 130 and one line, never a traceback.

    Before, 4 of 6 tries printed a KeyboardInterrupt traceback from the imports. The first moment is
    after Python's own start-up (site), which septctl cannot guard; the shell reports a process
    killed by SIGINT (during interpreter shutdown) as 130 too.
    """
    cmd = [sys.executable, "-m", "septctl", "data", "list"]
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], env=_env(), check=True)
    python = time.monotonic() - t0
    t0 = time.monotonic()
    subprocess.run(cmd, env=_env(), capture_output=True, check=True)
    full = time.monotonic() - t0
    outcomes = []
    for i in range(6):
        delay = 2 * python + (full - 2 * python) * i / 6
        proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        outcomes.append(proc.returncode)
        assert b"Traceback" not in err, (delay, err.decode())
        if proc.returncode == 130:
            _one_line(err, "interrupted")
        else:
            assert proc.returncode in (0, -signal.SIGINT), (delay, proc.returncode, err.decode())
    assert outcomes.count(130) >= 3, outcomes  # most moments land while septctl runs


def test_interrupted_grid_exits_130(world, tmp_path):
    """Before: exit 2, `error: ... exited with 130`."""
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "septctl", "grid", "base2new", str(world.data), "--backbone", "tiny",
                             "--epochs", "100000", "--seeds", "0", "--methods", "coop", "--runs", str(runs),
                             "--sept-dir", str(tmp_path / "sept")],
                            env=_env(SEPTCTL_CACHE=str(tmp_path / "cache")), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not list(runs.rglob("state.safetensors")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert list(runs.rglob("state.safetensors")), "the grid's training never started"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    text = err.decode()
    assert "exited with" not in text and "Traceback" not in text, text
    assert text.strip().splitlines()[-1].startswith("interrupted"), text


# --- values out of range --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", ["4294967296", "18446744073709551616"])
def test_seed_out_of_range_is_refused_without_a_lock(world, tmp_path, refused, seed):
    run = tmp_path / "run"
    refused(["train", world.data, "--backbone", "tiny", "--epochs", "1", "--shots", "1", "--seed", seed, "--out", run],
            "--seed", seed, "4294967295")
    assert not run.exists()  # no run.lock (nor folder) left


def test_n_ctx_too_long_is_one_short_line(world, tmp_path, refused):
    line = refused(["train", world.data, "--backbone", "tiny", "--epochs", "1", "--shots", "1", "--n-ctx", "100000",
                    "--out", tmp_path / "run"], "--n-ctx 100000", fix="lower --n-ctx")
    assert len(line) < 300, len(line)  # was 200,000 characters: the whole prompt


def test_a_prompt_too_long_for_the_tower_is_shown_shortened():
    from septctl.backbones.tiny import load_tiny
    from septctl.errors import SeptctlError

    with pytest.raises(SeptctlError) as exc:
        load_tiny().tokenizer(["word " * 5000])
    assert len(str(exc.value)) < 300 and "25,000 characters" in str(exc.value), str(exc.value)


# --- folders and names ----------------------------------------------------------------------------

def test_report_over_a_1200_deep_folder(world, tmp_path, cli):
    """Before: RecursionError. The run at the bottom is found and reported."""
    folder = tmp_path / "deep"
    folder.mkdir()
    bottom = folder
    for _ in range(1200):
        bottom = bottom / "d"
        bottom.mkdir()  # one at a time: os.makedirs itself recurses
    world.copy_run(bottom / "run")
    try:
        result = cli("report", folder)
        assert result.code == 0, result.err[-2000:]
        assert "Traceback" not in result.err and "Method" in result.out
    finally:  # pytest's own clean-up (shutil.rmtree) recurses, and would fail on this folder later
        subprocess.run(["rm", "-rf", str(folder)], check=True)


def _latin1_names(world, tmp_path: Path, where: str) -> Path:
    """A folder of sounds (ROOT/<class>/<file>) with one Latin-1 name: a class folder or a file."""
    root = tmp_path / "sounds"
    wavs = sorted((world.data / "audios").glob("*.wav"))
    for i, cls in enumerate((b"dog", b"cat", b"caf\xe9" if where == "folder" else b"cow")):
        d = os.path.join(os.fsencode(root), cls)
        os.makedirs(d)
        for j, wav in enumerate(wavs[3 * i: 3 * i + 3]):
            name = b"b\xffd.wav" if (where == "file" and i == 0 and j == 0) else f"{j}.wav".encode()
            shutil.copyfile(wav, os.path.join(d, name))
    return root


@pytest.mark.parametrize("where", ["folder", "file"])
@pytest.mark.parametrize("command", ["check", "embed"])
def test_a_name_that_is_not_utf8_is_refused_by_name(world, tmp_path, refused, where, command):
    """Before: UnicodeEncodeError, and a 0-byte *.tmp left in the splits cache (refused checks for *.tmp)."""
    root = _latin1_names(world, tmp_path, where)
    args = {"check": ["data", "check", root], "embed": ["embed", root, "--backbone", "tiny"]}[command]
    shown = "caf\\xe9" if where == "folder" else "b\\xffd.wav"
    refused(args, shown, "not UTF-8", fix="rename")


# --- consoles that cannot print everything ---------------------------------------------------------

@pytest.mark.parametrize("env", [{"LC_ALL": "POSIX", "PYTHONUTF8": "0"}, {"PYTHONIOENCODING": "ascii"}],
                         ids=["posix-locale", "ascii-io"])
@pytest.mark.parametrize("args", [["data", "list"], ["train", "--help"], ["data", "check", "NAME"]],
                         ids=["data-list", "train-help", "check-unicode-folder"])
def test_a_console_that_cannot_encode_does_not_crash(world, tmp_path, env, args):
    """Before: UnicodeEncodeError (`data list` prints an ellipsis, help a <=, names are the user's)."""
    data = world.copy_data(tmp_path / "s\u00e9ries \u266a")
    args = [str(data) if a == "NAME" else a for a in args]
    proc = _septctl(*args, env=_env(**env))
    err = proc.stderr.decode("ascii", "replace")
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "UnicodeEncodeError" not in err


# --- stdout that cannot be written ----------------------------------------------------------------

def test_report_to_a_closed_stdout_fails(world, tmp_path):
    """`report RUN >&-` exited 0 having written nothing."""
    proc = subprocess.run(f'"{sys.executable}" -m septctl report "{world.run}" >&-', shell=True, capture_output=True,
                          env=_env(), timeout=300)
    assert proc.returncode == 2
    line = _one_line(proc.stderr, "error:")
    assert "standard output" in line and "EBADF" in line and "closed" in line, line


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_report_to_a_full_stdout_names_it(world, tmp_path):
    """`report RUN > /dev/full` said `error: : No space left on device`."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "septctl", "report", str(world.run)], stdout=full,
                              stderr=subprocess.PIPE, env=_env(), timeout=300)
    assert proc.returncode == 2
    line = _one_line(proc.stderr, "error:")
    assert line.startswith("error: standard output: writing: No space left on device (ENOSPC)"), line


# --- grid --status ----------------------------------------------------------------------------------

def test_status_counts_the_latest_attempt_not_the_newest_write(tmp_path):
    """A rerun still running (quiet since it started) is running, though an earlier attempt that
    failed wrote its log later; before, `--status` called it failed."""
    from septctl.grid import files as gf
    from septctl.grid.plan import Job

    folder = tmp_path / "grid"
    (folder / "logs").mkdir(parents=True)
    job = Job("runs", [["train", "a"]], tmp_path / "a")
    now = time.time()
    old = folder / "logs" / "runs-9_1.out"
    old.write_text(f"{gf.JOB_MARK}{job.line()}\n{gf.START_MARK}{int(now) - 600}\nerror: out of memory\n"
                   f"{gf.EXIT_MARK}137\n")
    new = folder / "logs" / "runs-12_1.out"
    new.write_text(f"{gf.JOB_MARK}{job.line()}\n{gf.START_MARK}{int(now) - 60}\nnode n1, task 1\n")
    os.utime(new, (now - 60, now - 60))
    os.utime(old, (now - 30, now - 30))  # the failed attempt's last line came after the rerun started
    [state] = gf.job_status([job], folder)
    assert (state.state, state.log) == ("running", new)


def test_batch_scripts_record_when_a_task_starts(world, tmp_path, cli, monkeypatch):
    from septctl.grid import files as gf

    monkeypatch.chdir(tmp_path)
    result = cli("grid", "base2new", world.data, "--backbone", "tiny", "--slurm", "--dry-run", "--runs", tmp_path)
    assert result.code == 0, result.err
    script = (tmp_path / "grid-base2new" / "runs.sbatch").read_text()
    assert f'echo "{gf.START_MARK}$(date +%s)"' in script


# --- plot onto a full disk --------------------------------------------------------------------------

def test_plot_heatmap_onto_a_full_disk_writes_both_files_or_neither(world, tmp_path, cli):
    """Before: AttributeError from the PDF writer and heat.png left behind. Real ENOSPC on a tmpfs
    (as test_os_limits.py mounts one; skipped where mounting is not allowed)."""
    first = cli("plot", "heatmap", world.run, "--neighbors", world.neighbors, "--out", tmp_path / "ok" / "heat")
    assert first.code == 0, first.err
    png, pdf = ((tmp_path / "ok" / f"heat.{e}").stat().st_size for e in ("png", "pdf"))
    mnt = tmp_path / "fs"
    mnt.mkdir()
    size = 1 << 20
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        # Leave room for the PNG (written first) but not for both.
        free = png + min(pdf, png) // 2 + 8192
        with open(mnt / "filler", "wb") as fh:
            fh.write(b"\0" * (shutil.disk_usage(mnt).free - free))
        before = snapshot(world.root, mnt)
        result = cli("plot", "heatmap", world.run, "--neighbors", world.neighbors, "--out", mnt / "heat")
        line = assert_refused(Result(result.code, result.out, result.err), str(mnt / "heat"), "ENOSPC")
        assert "free space" in line and "heat.pdf" in line, line  # the PNG fitted: the second file is the one refused
        assert snapshot(world.root, mnt) == before  # neither heat.png nor heat.pdf
        assert not list(mnt.glob("*.tmp")) and not list(mnt.glob(".*.tmp"))
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
