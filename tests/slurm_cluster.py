"""A real single-node SLURM cluster for tests: munged, slurmctld and slurmd on this machine, in a tmp folder.

Debian's slurm-wlm (slurmctld, slurmd, slurm-client) and munge must be installed (.ci/run installs them
as root); daemons run as root with their own sockets, ports and state, and are stopped afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

NEEDED = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")


def missing() -> str | None:
    """Why a cluster cannot start here, or None."""
    absent = [c for c in NEEDED if shutil.which(c) is None and not Path("/usr/sbin", c).exists()]
    if absent:
        return (f"SLURM is not installed ({', '.join(absent)} missing): "
                "apt-get install slurmctld slurmd slurm-client munge")
    if os.geteuid() != 0:
        return "starting slurmd needs root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _which(cmd: str) -> str:
    return shutil.which(cmd) or f"/usr/sbin/{cmd}"


class Cluster:
    """Start with `start()`, stop with `stop()`; `env` carries SLURM_CONF for the client commands."""

    def __init__(self, root: Path):
        self.root = root
        self.procs: list[subprocess.Popen] = []
        self.env = {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}

    def _conf(self, cpus: int) -> str:
        r, host = self.root, socket.gethostname().split(".")[0]
        return f"""ClusterName=septtest
SlurmctldHost={host}(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket={r}/munge.socket
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/slurmctld.log
SlurmdLogFile={r}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MaxArraySize=4
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""

    def start(self) -> None:
        r = self.root
        for d in ("state", "spool"):
            (r / d).mkdir(parents=True, exist_ok=True)
        r.chmod(0o700)
        (r / "slurm.conf").write_text(self._conf(os.cpu_count() or 1))
        subprocess.run([_which("mungekey"), "--create", f"--keyfile={r}/munge.key"], check=True, capture_output=True)
        (r / "munge.key").chmod(0o600)
        self._spawn([_which("munged"), "-F", "-f", f"--socket={r}/munge.socket", f"--key-file={r}/munge.key",
                     f"--pid-file={r}/munged.pid", f"--log-file={r}/munged.log", f"--seed-file={r}/munged.seed"])
        self._wait(lambda: (r / "munge.socket").exists(), "munged")
        self._spawn([_which("slurmctld"), "-D", "-i", "-f", str(r / "slurm.conf")])
        self._wait(lambda: self.run("scontrol", "ping").returncode == 0 and "UP" in self.run("scontrol", "ping").stdout,
                   "slurmctld")
        self._spawn([_which("slurmd"), "-D", "-f", str(r / "slurm.conf")])
        self._wait(lambda: "idle" in self.run("sinfo", "-h", "-o", "%t").stdout, "slurmd")

    def _spawn(self, cmd: list[str]) -> None:
        log = open(self.root / f"{Path(cmd[0]).name}.out", "w")
        self.procs.append(subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT))

    def _wait(self, ready, what: str, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if ready():
                return
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.3)
        logs = "".join(p.read_text()[-1500:] for p in sorted(self.root.glob("*.log")) + sorted(self.root.glob("*.out")))
        raise RuntimeError(f"{what} did not start:\n{logs}")

    def run(self, *cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)

    def queue(self) -> list[str]:
        """Jobs still queued or running, as 'JOBID STATE' lines."""
        return self.run("squeue", "-h", "-o", "%i %T").stdout.split("\n")[:-1]

    def wait_idle(self, timeout: float = 240) -> None:
        end = time.monotonic() + timeout
        while self.queue():
            if time.monotonic() > end:
                raise TimeoutError(f"jobs still queued after {timeout} s: {self.queue()}")
            time.sleep(0.5)

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
