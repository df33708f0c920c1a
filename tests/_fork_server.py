"""A process that has imported ``assimilax`` once and forks one ``assimilax`` command per
request: the examples' runs without paying the interpreter's start-up each time.

Importing JAX, Equinox, xarray, matplotlib and the package takes some 4 s of CPU a
process, most of a shortened example's fixed cost; the default suite runs about thirty
of them on 2 cores. A forked child runs the console entry point itself
(:func:`assimilax.cli.main`, the function the ``assimilax`` script calls) with its own
``sys.argv``, standard streams and exit status, so it is the real command in a process of
its own; only the imports are shared. Forking is safe here because this process never
starts JAX's backend (it computes nothing): each child starts its own.

Protocol, one JSON object a line: a request ``{"id", "args", "stderr"}`` on standard
input starts a child with those arguments and its standard error in the file
``stderr``; when a child ends, ``{"id", "code", "wall", "cpu"}`` (exit status, wall
and CPU seconds of the child) is written to standard output. End of input kills the
children still running and ends the server.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import sys
import time
import traceback

# What a run, a sweep and their figures import; a module missing here is imported by
# the child itself, which only costs time.
import matplotlib.pyplot  # noqa: F401
import xarray  # noqa: F401
import zarr  # noqa: F401
from jax._src import xla_bridge

import assimilax.cli  # noqa: F401
import assimilax.experiments as _experiments
import assimilax.hybrid  # noqa: F401
import assimilax.io  # noqa: F401
import assimilax.plotting  # noqa: F401

for _name in dir(_experiments):  # the runner's lazily loaded parts (its __dir__ lists them)
    getattr(_experiments, _name)


def _child(args: list[str], stderr: str) -> None:
    """Become ``assimilax ARGS``: never returns."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDWR)
        err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(err, 2)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.argv = ["assimilax", *args]
        try:
            assimilax.cli.main()
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            if isinstance(stop.code, str):
                print(stop.code, file=sys.stderr)
        atexit._run_exitfuncs()
    except BaseException:  # an uncaught error: the traceback, exit status 1
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    assert not xla_bridge._backends, "the fork server must not start JAX's backend"
    children: dict[int, tuple[str, float]] = {}
    pending, eof = b"", False
    while not eof:
        ready, _, _ = select.select([0], [], [], 0.05)
        if ready:  # raw reads: a buffered reader would hide lines from select
            chunk = os.read(0, 65536)
            eof = not chunk
            pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                _child(request["args"], request["stderr"])
            children[pid] = request["id"], time.perf_counter()
        while children:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
            if pid == 0:
                break
            name, start = children.pop(pid)
            reply = {"id": name, "code": os.waitstatus_to_exitcode(status),
                     "wall": time.perf_counter() - start, "cpu": usage.ru_utime + usage.ru_stime}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    for pid in children:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    serve()
