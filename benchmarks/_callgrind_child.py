"""The process that ``_instructions.py`` runs under callgrind: one fork a case.

Run as a script (``python -S -B _callgrind_child.py spec.json``) in a directory
that holds ``spec.json`` and one ``case.N.json`` a case; never imported for its
work. It uses the standard library and skyfast only, so it runs under ``-S``
with the ``sys.path`` the spec hands it.

It imports skyfast once, then forks a child for each case, one after the
other: every case starts from the same state (nothing one case allocates or
caches reaches the next) and the interpreter's start-up, paid once, is
translated by valgrind once. In each child the measured part is bracketed by
three calls of ``os.getpgrp()``, which ends in libc's ``getpgrp``; callgrind
runs with ``--dump-before=getpgrp`` and an output file named by pid, so each
child ``PID`` writes:

* ``callgrind.out.PID.1``: what ran since the fork, warm-up included (ignored);
* ``callgrind.out.PID.2``: ``for _ in r: pass`` (the loop alone);
* ``callgrind.out.PID.3``: ``for _ in r: f(*args)`` (the loop and the calls).

(dump 3 - dump 2) / len(r) is the cost of one ``f(*args)`` statement: the call
from Python and the function itself; the markers' own cost is in both dumps and
cancels. The pids and wait statuses go to ``pids.json``, a failing case's traceback to
``error.N``, both in the working directory.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
import traceback
from typing import Any, Dict


def measure(index: int) -> None:
    # Read here, after the fork: what one case's arguments are leaves the state every
    # case starts from untouched (a path's random name could move the others' counts).
    with open(f"case.{index}.json") as f:
        case = json.load(f)
    module = importlib.import_module(case["module"])
    module.set_cache_ttl(case["ttl"])
    f = getattr(module, case["function"])
    args = tuple(case["args"])
    r = range(case["calls"])
    mark = os.getpgrp

    gc.collect()
    gc.disable()  # a collection would land in one phase and not the other
    for _ in range(case["warmup"]):  # fill caches, let the interpreter specialize
        f(*args)
    mark()
    for _ in r:
        pass
    mark()
    for _ in r:
        f(*args)
    mark()


def main(spec: Dict[str, Any]) -> None:
    sys.path[:0] = spec["path"]
    skyfast = importlib.import_module("skyfast")
    found = os.path.realpath(skyfast.__file__)
    if found != spec["skyfast"]:
        sys.exit(f"this process imported skyfast from {found}, the benchmark {spec['skyfast']}")
    for name in spec["modules"]:
        importlib.import_module(name)
    gc.collect()
    pids = []
    for index in range(spec["cases"]):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            status = 0
            try:
                measure(index)
            except BaseException:
                with open(f"error.{index}", "w") as f:
                    f.write(traceback.format_exc())
                status = 1
            os._exit(status)  # no atexit handlers, no buffered output of the parent's
        _, status = os.waitpid(pid, 0)
        pids.append([pid, status])
    with open("pids.json", "w") as f:
        json.dump(pids, f)


if __name__ == "__main__":
    with open(sys.argv[1]) as spec_file:
        main(json.load(spec_file))
