#!/usr/bin/env bash
# Cheap CI check of the asv suite against the skyfast already installed in the
# current Python (no asv environments, no rebuild): every benchmark must import,
# set up and run once.  Exits non-zero on any failure.
#
#   PYTHON=/path/to/venv/bin/python .ci/bench-check.sh
#
# The interpreter must have asv==0.6.6, psutil and a built skyfast importable
# (pip install ., or PYTHONPATH pointing at an in-place build).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python}"

# asv drops PYTHONPATH from the benchmark processes; ASV_PYTHONPATH is its way in.
if [[ -n "${PYTHONPATH:-}" && -z "${ASV_PYTHONPATH:-}" ]]; then
    export ASV_PYTHONPATH="$PYTHONPATH"
fi

# Fail early and clearly when the benchmarked package is not importable the way
# asv's benchmark processes will import it (from another directory, so the
# source tree in the working directory does not count).
(cd "${TMPDIR:-/tmp}" && "$PYTHON" - <<'PY'
import importlib, sys
import skyfast
try:
    importlib.import_module("skyfast._core")
    core = "built"
except ImportError as e:
    core = f"NOT built ({e})"
print(f"skyfast {skyfast.__version__} from {skyfast.__file__}: "
      f"IMPLEMENTATION={skyfast.IMPLEMENTATION}, compiled core {core}", file=sys.stderr)
PY
)

# The instruction benchmarks (bench_instructions.py) run their calls without
# valgrind here: inputs, child process and every call are checked in seconds;
# counting them (SKYFAST_INSTRUCTIONS=count) would add about 30 s.
export SKYFAST_INSTRUCTIONS="${SKYFAST_INSTRUCTIONS:-run}"

"$PYTHON" -m asv --version
"$PYTHON" -m asv machine --yes
"$PYTHON" -m asv check --python=same
"$PYTHON" -m asv run --quick --dry-run --python=same --show-stderr
