"""One error type for everything a user can fix.

Each message is a single line that names the file (or option) at fault and says
what to do. The CLI prints it and exits with status 2; no traceback. An OSError
(disk full, read-only, no permission) is labelled with `doing` where septctl reads or
writes, and printed by the CLI as one line by `os_error_line`, also with status 2.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator


class SeptctlError(Exception):
    """A problem with the user's input or environment, with the fix in the message."""


# What to do about the operating system refusing, by errno; the default covers the rest.
_FIXES = {
    errno.ENOSPC: "free space there, or write elsewhere (--out, $SEPTCTL_CACHE)",
    errno.EDQUOT: "free space in your quota, or write elsewhere (--out, $SEPTCTL_CACHE)",
    errno.EROFS: "that file system is read-only; write elsewhere (--out, $SEPTCTL_CACHE)",
    errno.EACCES: "ask for write access to it, or write elsewhere (--out, $SEPTCTL_CACHE)",
    errno.EPERM: "ask for write access to it, or write elsewhere (--out, $SEPTCTL_CACHE)",
    errno.ENOTDIR: "a file stands where a folder is needed; move it or choose another path",
    errno.EEXIST: "a file stands where a folder is needed; move it or choose another path",
    errno.EISDIR: "a folder stands where a file is needed; move it or choose another path",
    errno.ENAMETOOLONG: "choose a shorter path",
    errno.ELOOP: "a symbolic link points back at itself; fix the link",
    errno.EMFILE: "too many open files; raise `ulimit -n`",
    errno.ENFILE: "too many open files on this machine; retry when fewer are open",
    errno.EBADF: "it is closed; give the command a file or a pipe to write to",
}


class Interrupted(KeyboardInterrupt):
    """Ctrl-C after the interrupted work has said what it kept (so the CLI adds no second line).

    Typer turns any KeyboardInterrupt into a plain exit code 130, losing the exception, so raising
    one also records, for this process, that it was said.
    """

    said = False

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        Interrupted.said = True


@contextlib.contextmanager
def doing(what: str, path: str | os.PathLike) -> Iterator[None]:
    """Label an OSError raised inside with what septctl was doing to which path (the first label wins)."""
    try:
        yield
    except OSError as exc:
        if not hasattr(exc, "septctl_doing"):
            exc.septctl_doing = (what, os.fspath(path))
        raise


def os_error_line(exc: OSError) -> str:
    """`PATH: doing: cause (ERRNO); fix`, the one line a refused read or write becomes."""
    what, path = getattr(exc, "septctl_doing", ("", exc.filename))
    code = errno.errorcode.get(exc.errno, "") if exc.errno else ""
    cause = exc.strerror or type(exc).__name__
    fix = _FIXES.get(exc.errno, "check the path, its permissions and the disk")
    return ": ".join(p for p in (os.fspath(path) if path is not None else "", what) if p) + (
        f": {cause}" + (f" ({code})" if code else "") + f"; {fix}")
