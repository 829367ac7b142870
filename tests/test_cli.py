"""The command line: ``python -m skyfast`` (and the ``skyfast`` script, same ``main``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Dict, List

import pytest
from _guards import HANG_GUARD

import skyfast
from skyfast import limits
from skyfast.__main__ import main

FUNCTIONS = {
    "is_process_alive", "get_cpu_count", "get_parallel_threads", "base36_encode",
    "get_mem_size_gb", "hash_file", "get_max_workers_for_file_mounts", "read_last_n_lines",
    "format_float", "estimate_fd_for_dir", "find_free_port", "truncate_long_string",
}  # fmt: skip


def run_cli(child_env: Dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "skyfast", *args],
        env=child_env, capture_output=True, text=True, timeout=HANG_GUARD, check=False,
    )  # fmt: skip


def report(text: str) -> Dict[str, str]:
    """``name    value`` lines (names may be indented) as a dict."""
    rows = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition("  ")
        rows[key] = value.strip()
    return rows


def test_help_lists_the_commands(child_env):
    proc = run_cli(child_env, "--help")
    assert proc.returncode == 0, proc.stderr
    for word in ("info", "bench", "exit codes"):
        assert word in proc.stdout
    proc = run_cli(child_env, "bench", "--help")
    assert proc.returncode == 0
    for option in ("--full", "--json", "--against", "--only"):
        assert option in proc.stdout


def test_version(child_env):
    proc = run_cli(child_env, "--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"skyfast {skyfast.__version__}"


@pytest.mark.parametrize(
    "args",
    [["bogus"], ["bench", "--quick"], ["bench", "--against", "numpy"], ["info", "-x"]],
)
def test_bad_arguments_exit_2(child_env, args: List[str]):
    proc = run_cli(child_env, *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "usage: skyfast" in proc.stderr and "error:" in proc.stderr


def test_info_reports_what_the_library_answers(child_env):
    proc = run_cli(child_env, "info")
    assert proc.returncode == 0, proc.stderr
    rows = report(proc.stdout)
    assert rows["skyfast"] == f"{skyfast.__version__} ({skyfast.IMPLEMENTATION} implementation)"
    assert rows["get_cpu_count()"] == repr(skyfast.get_cpu_count())
    assert rows["get_parallel_threads('kubernetes')"] == repr(
        skyfast.get_parallel_threads("kubernetes")
    )
    assert rows["get_max_workers_for_file_mounts({})"] == repr(skyfast.get_max_workers({}))
    assert rows["os.cpu_count()"] == repr(os.cpu_count())
    assert rows["container limits"] == "(skyfast.limits)"
    found = limits.read_limits()
    assert rows["effective_cpus"] == repr(found.effective_cpus)
    assert rows["cgroup_version"] == repr(found.cgroup_version)
    assert rows["cpu_quota_source"] == repr(found.cpu_quota_source)  # where it came from


def test_info_shows_the_pod_variables(child_env):
    env = dict(child_env, SKYPILOT_POD_CPU_CORE_LIMIT="3")
    proc = run_cli(env, "info")
    assert proc.returncode == 0, proc.stderr
    rows = report(proc.stdout)
    assert rows["$SKYPILOT_POD_CPU_CORE_LIMIT"] == "'3'"
    assert rows["get_cpu_count()"] == "3"


@pytest.mark.reference
@pytest.mark.parametrize("value", ["1", "0", None])
def test_info_shows_skypilot_and_the_activation(sky, child_env, value):
    env = {k: v for k, v in child_env.items() if k != "SKYFAST_SKYPILOT"}
    if value is not None:
        env["SKYFAST_SKYPILOT"] = value
    proc = run_cli(env, "info")
    assert proc.returncode == 0, proc.stderr
    rows = report(proc.stdout)
    assert rows["SkyPilot"].startswith("skypilot")
    assert rows["SkyPilot"].endswith(f" {sys.modules['sky'].__version__}")  # read without import
    assert rows["SkyPilot functions"] == "10 of 10 verified, replaced when switched on"
    assert rows["$SKYFAST_SKYPILOT"] == ("on" if value == "1" else "off")


def test_against_skypilot_without_skypilot_exits_2(child_env):
    code = (
        "import sys; sys.modules['sky'] = None\n"  # as if SkyPilot were not installed
        "from skyfast.__main__ import main\n"
        "sys.exit(main(['bench', '--against', 'skypilot']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=child_env, capture_output=True,
                          text=True, timeout=HANG_GUARD, check=False)  # fmt: skip
    assert proc.returncode == 2
    assert "pip install skypilot==0.14.1" in proc.stderr


def test_bench_json_to_stdout(child_env):
    """The quick comparison runs end to end: every function measured, no result mismatch."""
    proc = run_cli(child_env, "bench", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)  # JSON only: the table is not printed
    assert doc["settings"]["full"] is False
    assert doc["machine"]
    measured = {row["function"] for row in doc["rows"]}
    assert measured == FUNCTIONS
    assert not [row["mismatches"] for row in doc["rows"] if row["mismatches"]]
    for row in doc["rows"]:  # every row timed: one sample per round for each contender
        timed = [c for c in row["contenders"].values() if c["error"] is None]
        assert timed and all(len(c["samples_ns"]) == row["rounds"] > 0 for c in timed)
    assert "..." in proc.stderr  # the progress display (plain lines off a terminal)


def test_main_is_callable_in_process(capsys):
    assert main(["info"]) == 0
    assert "container limits" in capsys.readouterr().out


@pytest.mark.parametrize("before", [None, 5])
def test_bench_calls_restore_tracebacklimit(before):
    """A contender (SkyPilot) that sets sys.tracebacklimit and raises leaves it as it was."""
    from skyfast._common import keep_tracebacklimit

    def meddle():
        sys.tracebacklimit = 0
        raise ValueError("reference error")

    had, saved = hasattr(sys, "tracebacklimit"), getattr(sys, "tracebacklimit", None)
    try:
        if before is None:
            if had:
                del sys.tracebacklimit
        else:
            sys.tracebacklimit = before
        with pytest.raises(ValueError), keep_tracebacklimit():
            meddle()
        assert getattr(sys, "tracebacklimit", None) == before
        assert hasattr(sys, "tracebacklimit") == (before is not None)
    finally:
        if had:
            sys.tracebacklimit = saved
        elif hasattr(sys, "tracebacklimit"):
            del sys.tracebacklimit


def test_info_and_bench_without_psutil(child_env):
    """psutil is not a dependency: without it the psutil rows are left out, nothing fails."""
    code = (
        "import contextlib, io, sys; sys.modules['psutil'] = None\n"  # as if not installed
        "from skyfast.__main__ import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['info']) == 0\n"
        "sys.exit(main(['bench', '--json']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=child_env, capture_output=True,
                          text=True, timeout=HANG_GUARD, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc["machine"]
    labels = [c["label"] for row in doc["rows"] for c in row.get("contenders", {}).values()]
    assert labels
    assert not [label for label in labels if "psutil" in label]
    assert FUNCTIONS == {row["function"] for row in doc["rows"]}


def test_bench_table_has_figures_and_no_verdicts(child_env):
    """The installed command shows medians and ratios; the project's targets stay out."""
    proc = run_cli(child_env, "bench", "--only", "format_float", "--only", "base36_encode")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.split()[0] for line in proc.stdout.splitlines() if line.split()[:1]]
    assert rows.count("format_float") == 3 and rows.count("base36_encode") == 1
    assert "hash_file" not in rows  # --only
    text = proc.stdout.lower()
    for judged in ("target", "below", "verdict", "≥", "mean"):
        assert judged not in text, judged
    assert "median of the per-round ratios" in " ".join(text.split())


def test_bench_only_rejects_an_unknown_function(child_env):
    proc = run_cli(child_env, "bench", "--only", "hash_files")
    assert proc.returncode == 2
    assert "invalid choice: 'hash_files'" in proc.stderr


@pytest.mark.parametrize("command", [["info"], []])
def test_closed_pipe_is_quiet(child_env, command):
    """``skyfast info | head -1``: the reader is gone; no traceback, exit 141 like SIGPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the first write: EPIPE every time, no race
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "skyfast", *command], env=child_env, stdout=write_end,
            stderr=subprocess.PIPE, text=True, timeout=HANG_GUARD, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert proc.returncode == 141
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def _copy_package(src: str, dst: str, with_extensions: bool) -> None:
    def skip(_dir: str, names: List[str]) -> List[str]:
        drop = [n for n in names if n == "__pycache__"]
        if not with_extensions:
            drop += [n for n in names if n.endswith((".so", ".pyd"))]
        return drop

    shutil.copytree(src, dst, ignore=skip)


def _info_in_tree(tree: os.PathLike[str], env: Dict[str, str]) -> subprocess.CompletedProcess:
    """``python -m skyfast info`` run in ``tree``, as from a checkout's root.

    -S: no site-packages, so an editable install's import hook cannot hand the
    tree a compiled core from elsewhere; PYTHONPATH stands for the install.
    """
    return subprocess.run(
        [sys.executable, "-S", "-m", "skyfast", "info"], cwd=tree, env=env,
        capture_output=True, text=True, timeout=HANG_GUARD, check=False,
    )  # fmt: skip


def test_source_tree_without_core_runs_the_installed_copy(child_env, core_built, tmp_path):
    """`python -m skyfast` in a checkout's root (the tree shadows the installed skyfast and
    has no compiled core) reports the installed, compiled build and says what happened."""
    if not core_built:
        pytest.skip("needs the compiled core installed")
    package = os.path.dirname(os.path.abspath(skyfast.__file__))
    _copy_package(package, str(tmp_path / "site" / "skyfast"), with_extensions=True)
    _copy_package(package, str(tmp_path / "tree" / "skyfast"), with_extensions=False)
    proc = _info_in_tree(tmp_path / "tree", dict(child_env, PYTHONPATH=str(tmp_path / "site")))
    assert proc.returncode == 0, proc.stderr
    rows = report(proc.stdout)
    assert rows["skyfast"].endswith("(cython implementation)")
    assert rows["imported from"] == str(tmp_path / "site" / "skyfast")
    assert "shadows the installed skyfast" in proc.stderr
    assert str(tmp_path / "tree") in proc.stderr


def test_source_tree_alone_says_why_the_core_is_missing(child_env, tmp_path):
    package = os.path.dirname(os.path.abspath(skyfast.__file__))
    _copy_package(package, str(tmp_path / "tree" / "skyfast"), with_extensions=False)
    env = {k: v for k, v in child_env.items() if k != "PYTHONPATH"}
    proc = _info_in_tree(tmp_path / "tree", env)
    assert proc.returncode == 0, proc.stderr
    rows = report(proc.stdout)
    assert rows["skyfast"].endswith("(python implementation)")
    assert rows["compiled core"].startswith("not built here")


def read_pty(command: List[str], env: Dict[str, str], columns: int) -> str:
    """What ``command`` prints on a real pseudo-terminal ``columns`` wide (stderr discarded)."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=subprocess.DEVNULL,
                            env=env, close_fds=True)
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
        proc.wait(timeout=HANG_GUARD)
    assert proc.returncode == 0
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_bench_table_fits_the_terminal(child_env, columns):
    env = {k: v for k, v in child_env.items() if k not in ("COLUMNS", "LINES")}
    text = read_pty([sys.executable, "-m", "skyfast", "bench", "--only", "get_cpu_count",
                     "--only", "find_free_port"], env, columns)
    lines = text.rstrip("\n").split("\n")
    assert lines[0].split() == ["function", "case", "SkyPilot", "skyfast", "ratio"]
    assert max(len(line) for line in lines) <= columns, text
    assert "get_cpu_count" in text and "find_free_port" in text
    assert "(cold)" in text  # the cached function leads with what SkyPilot gets


def test_bench_wide_has_every_column(child_env):
    proc = run_cli(child_env, "bench", "--wide", "--only", "format_float")
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.split("\n")[0].split()
    assert header[:4] == ["function", "case", "SkyPilot", "skyfast"]
    assert {"cold", "pure-Python", "stdlib"} <= set(header)
    assert "quartiles" in proc.stdout


def test_bench_markdown_is_readmes_table(child_env):
    """Cold first for a cached function, then warm; where and when; no targets."""
    import time

    proc = run_cli(child_env, "bench", "--markdown", "--only", "get_cpu_count",
                   "--only", "format_float")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().split("\n")
    assert lines[0] == "| function | case | SkyPilot | skyfast | ratio |"
    rows = [line for line in lines if line.startswith("| `")]
    cpu = [r for r in rows if r.startswith("| `get_cpu_count`")]
    assert len(cpu) == 2 and "cold" in cpu[0] and "warm" in cpu[1]
    assert all(r.count("|") == 6 for r in rows)
    footer = " ".join(lines[len(rows) + 2:])
    assert time.strftime("%Y-%m-%d") in footer and "CPUs" in footer
    assert "python -m skyfast bench --markdown" in footer
    assert "target" not in proc.stdout.lower()
