"""End to end: real SkyPilot 0.14.1 operations with and without skyfast's drop-in.

``python benchmarks/e2e_skypilot.py [--rounds N] [--target-ms MS] [--json PATH] [--quick]``

Each operation is SkyPilot's own code (``sky status``'s table, ``sky storage
ls``'s table, the cluster-config hash over a ~40 MiB file mount, ``sky serve
logs --tail 1000``, Kubernetes instance-type and cluster names, ...) on seeded,
deterministic inputs.  Both arms run in this one process: before every sample
``skyfast.integrations.skypilot.install()`` or ``uninstall()`` switches the ten
functions SkyPilot shares with skyfast (the other two of skyfast's twelve have
no SkyPilot counterpart), and the rounds alternate A-B, B-A over every
operation, so drift and load hit both arms alike.  Reported: the median CPU
time (``time.process_time``: every thread of the process) and wall time per
operation, their ratios (without / with: above 1 means the drop-in is faster),
the interquartile range of the per-round CPU ratios, the load average while it
ran, and what share of each operation the ten functions are (their recorded
calls replayed alone, and cProfile as a cross-check).  Results of the two arms
are compared once; a difference is reported as MISMATCH and fails the run.

Each sample repeats its operation to last about ``--target-ms`` (each arm
calibrated on its own, so a cold first call weighs alike in both) and starts
from a collected heap; SkyPilot's large import-time heap is frozen out of the
collector (``gc.freeze``) for the run, so a full collection over it never
lands inside one arm's sample.

Not an asv benchmark: asv imports every module of this directory while
discovering benchmarks, so this one defines no ``time_``/``track_`` names and
does nothing on import (SkyPilot is imported by ``run()``).

What is patched for the benchmark, the same in both arms: the serve log path
and the service-health lookup of ``sky serve logs`` (no controller runs here),
SkyPilot's catalog directory (a temporary one with synthetic catalogs), and
``SKYPILOT_USER_ID`` (so the cluster-name path reads no ``~/.sky/user_hash``).
Nothing is written under ``~/.sky``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import importlib
import io
import json
import os
import platform
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

SEED = 20250601
MIB = 1024 * 1024
ARMS = ("skypilot", "skyfast")  # without the drop-in, with it
USER_HASH = "5e2e0b1a"  # SKYPILOT_USER_ID while the operations run
OPERATIONS = ("status", "storage", "config_hash", "catalogs", "serve_logs", "job_logs",
              "k8s_types", "cluster_names", "mount_workers")

# Inputs: (full, quick).  quick is for the test suite: same code paths, tiny inputs.
SIZES: Dict[str, Tuple[int, int]] = {
    "clusters": (1000, 30),
    "storages": (1000, 30),
    "workdir_scale": (64, 1),  # the workdir: about 40 MiB at 64
    "log_bytes": (32 * MIB, 256 * 1024),
    "tail": (1000, 50),
    "names": (10_000, 100),
    "catalog_scale": (16, 1),  # ~1 MiB of catalog CSVs per unit
}


# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------


@dataclass
class Operation:
    key: str
    label: str  # what the reader sees
    size: str  # the input, in words
    run: Callable[[], Any]  # one SkyPilot operation; returns what the arms must agree on
    control: bool = False  # reaches none of the ten functions (a noise check)


@dataclass
class Sky:
    """The SkyPilot and skyfast modules the operations use."""

    skyfast: ModuleType
    integration: ModuleType
    version: str
    common_utils: ModuleType
    subprocess_utils: ModuleType
    modules: Dict[str, ModuleType] = field(default_factory=dict)

    def targets(self) -> List[Tuple[ModuleType, str]]:
        """(module, name) of every function the drop-in replaces."""
        out: List[Tuple[ModuleType, str]] = []
        for module_name, names in self.integration.UPSTREAM_NAMES.items():
            module = sys.modules[module_name]
            out.extend((module, name) for name in names)
        return out


def _import_sky() -> Sky:
    try:
        import skyfast
    except ImportError:  # not installed: the source tree this script lives in
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        import skyfast
    from skyfast.integrations import skypilot as integration

    names = [
        "sky",
        "sky.utils.common_utils",
        "sky.utils.subprocess_utils",
        "sky.utils.status_lib",
        "sky.utils.cli_utils.status_utils",
        "sky.client.cli.table_utils",
        "sky.schemas.api.responses",
        "sky.backends",
        "sky.backends.backend_utils",
        "sky.serve.serve_utils",
        "sky.skylet.log_lib",
        "sky.clouds",
        "sky.provision.kubernetes.utils",
        "sky.catalog.common",
        "sky.data",
        "sky.utils.yaml_utils",
    ]
    modules: Dict[str, ModuleType] = {}
    with warnings.catch_warnings():  # SkyPilot's import-time deprecation warnings
        warnings.simplefilter("ignore")
        for name in names:
            modules[name] = importlib.import_module(name)
    return Sky(
        skyfast=skyfast,
        integration=integration,
        version=str(getattr(modules["sky"], "__version__", "?")),
        common_utils=modules["sky.utils.common_utils"],
        subprocess_utils=modules["sky.utils.subprocess_utils"],
        modules=modules,
    )


def _captured(fn: Callable[[], Any]) -> str:
    """What fn prints (``click.echo`` and ``print`` both write to sys.stdout)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn()
    return buf.getvalue()


@contextlib.contextmanager
def _attr(obj: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _ago(now: float, rng: random.Random) -> int:
    """A launch time whose "N hours/days ago" stays put for the length of a run."""
    if rng.random() < 0.3:
        return int(now - 3600 * rng.randint(1, 20) - 1800)
    return int(now - 86400 * rng.randint(1, 60) - 43200)


_COMMANDS = [
    "sky launch -c {n} task.yaml",
    "sky launch -c {n} --gpus H100:8 --env HF_TOKEN train.yaml --num-nodes 4",
    "sky exec {n} 'python train.py --config configs/llama-3-70b-sft.yaml --lr 2e-5'",
    "sky start {n}",
    "sky jobs launch -n {n} --infra k8s finetune.yaml --env WANDB_PROJECT=sft-sweep",
    "sky launch -c {n} --cpus 8+ --memory 32+ --infra kubernetes/prod notebook.yaml -y",
]


def _status_table(sky: Sky, n: int, rng: random.Random, now: float) -> Operation:
    """``sky status -u``: the cluster table the CLI renders from the server's records."""
    m = sky.modules
    status_lib = m["sky.utils.status_lib"]
    handle_cls = m["sky.backends"].CloudVmRayResourceHandle
    response = m["sky.schemas.api.responses"].StatusResponse
    status_utils = m["sky.utils.cli_utils.status_utils"]
    infras = [
        ("kubernetes/gke_ml-platform-prod-412309_us-central1-c_gpu-cluster-01", "4CPU--16GB"),
        ("kubernetes/gke_ml-platform-prod-412309_us-central1-c_gpu-cluster-01",
         "8CPU--64GB--H100:1"),
        ("kubernetes/arn:aws:eks:us-west-2:123456789012:cluster/research", "2CPU--8GB"),
        ("kubernetes/kind-skypilot", "0.5CPU--1.5GB"),
        ("kubernetes/coreweave-ord1", "32CPU--256GB--H100:8"),
        ("ssh/lab-pool", "2CPU--8GB"),
        ("ssh/dgx-station-pool-building-7-floor-2", "16CPU--128GB"),
    ]
    resources = [m["sky"].Resources(infra=i, instance_type=t) for i, t in infras]
    statuses = [status_lib.ClusterStatus.UP] * 7 + [status_lib.ClusterStatus.STOPPED] * 2 + [
        status_lib.ClusterStatus.INIT
    ]
    users = [(f"user{u:02d}", f"{rng.getrandbits(32):08x}") for u in range(12)]
    records = []
    for i in range(n):
        name = f"{rng.choice(['dev', 'train', 'eval', 'sft', 'nb'])}-{i:04d}"
        handle = None
        if rng.random() > 0.02:  # a few records without a handle yet
            handle = handle_cls(
                cluster_name=name,
                cluster_name_on_cloud=f"{name}-{rng.getrandbits(16):04x}",
                cluster_yaml=None,
                launched_nodes=rng.choice([1, 1, 1, 2, 4]),
                launched_resources=rng.choice(resources),
            )
        user_name, user_hash = rng.choice(users)
        records.append(
            response(
                name=name,
                launched_at=_ago(now, rng),
                handle=handle,
                last_use=rng.choice(_COMMANDS).format(n=name),
                status=rng.choice(statuses),
                autostop=rng.choice([-1, -1, 5, 30, 60, 120, 90]),
                to_down=rng.random() < 0.3,
                cluster_hash=f"{rng.getrandbits(128):032x}",
                cluster_ever_up=True,
                user_hash=user_hash,
                user_name=user_name,
                workspace="default",
                is_managed=False,
                nodes=1,
            )
        )

    def run() -> str:
        return _captured(lambda: status_utils.show_status_table(records, False, True, None, False))

    return Operation("status", "`sky status -u` table", f"{n:,} clusters", run)


def _storage_table(sky: Sky, n: int, rng: random.Random, now: float) -> Operation:
    """``sky storage ls``: the storage table."""
    m = sky.modules
    record = m["sky.schemas.api.responses"].StorageRecord
    store = m["sky.data"].StoreType
    status = m["sky.utils.status_lib"].StorageStatus
    stores = [[store.S3], [store.GCS], [store.S3, store.GCS], [store.AZURE], [store.R2]]
    statuses = [status.READY] * 8 + [status.INIT, status.UPLOAD_FAILED]
    kinds = ["datasets", "ckpt", "logs", "artifacts"]
    records = [
        record(
            name=f"{rng.choice(kinds)}-{rng.getrandbits(24):06x}",
            launched_at=_ago(now, rng),
            store=rng.choice(stores),
            last_use=rng.choice(_COMMANDS).format(n=f"c{i}"),
            status=rng.choice(statuses),
        )
        for i in range(n)
    ]
    table_utils = m["sky.client.cli.table_utils"]

    def run() -> str:
        return str(table_utils.format_storage_table(records, show_all=False))

    return Operation("storage", "`sky storage ls` table", f"{n:,} buckets", run)


def _write_workdir(root: str, scale: int, rng: random.Random) -> int:
    """A workdir of ~0.63 MiB per unit of scale: a checkpoint, shards, assets, sources."""
    total = 0

    def put(rel: str, data: bytes) -> None:
        nonlocal total
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        total += len(data)

    unit = 10 * 1024
    put("checkpoints/model.safetensors", rng.randbytes(scale * 27 * unit))
    for s in range(4):
        put(f"data/shard-{s:05d}.parquet", rng.randbytes(scale * 6 * unit))
    for a in range(max(2, scale * 3 // 2)):
        put(f"assets/img_{a:04d}.png", rng.randbytes(8 * unit))
    for p in range(max(1, scale // 8)):
        for k in range(50):
            body = "".join(
                f"def f{k}_{j}(x):\n    return x * {rng.randint(0, 9999)}  # {'é' * (j % 3)}\n"
                for j in range(40)
            )
            put(f"src/pkg{p}/mod_{k:02d}.py", body.encode())
    put("README.md", b"# project\n" * 40)
    return total


def _config_hash(sky: Sky, tmp: str, scale: int, rng: random.Random) -> Tuple[Operation, str]:
    """The cluster-config hash SkyPilot computes on launch: YAML + every file of every mount."""
    m = sky.modules
    workdir = os.path.join(tmp, "workdir")
    size = _write_workdir(workdir, scale, rng)
    single = os.path.join(tmp, "config.json")
    with open(single, "w", encoding="utf-8") as f:
        json.dump({"seed": SEED, "lr": 2e-5}, f)
    cluster_yaml = os.path.join(tmp, "cluster.yaml")
    m["sky.utils.yaml_utils"].dump_yaml(
        cluster_yaml,
        {
            "cluster_name": "sky-e2e-bench",
            "max_workers": 0,
            "provider": {"type": "external", "module": "sky.provision.kubernetes"},
            "file_mounts": {"~/sky_workdir": workdir, "/etc/app/config.json": single},
            "setup_commands": ["pip install -r requirements.txt"],
        },
    )
    backend_utils = m["sky.backends.backend_utils"]

    def run() -> str:
        return str(backend_utils._deterministic_cluster_yaml_hash(cluster_yaml))

    files = sum(len(fs) for _, _, fs in os.walk(workdir)) + 1
    op = Operation("config_hash", "cluster-config hash (launch)",
                   f"{size / MIB:.1f} MiB, {files} files", run)
    return op, workdir


_LOG_WORDS = ["replica", "READY", "probe", "latency", "200", "GET", "/v1/chat", "tokens",
              "autoscaler", "target", "qps", "NOT_READY", "ms", "é", "→"]


def _write_log(path: str, size: int, rng: random.Random) -> int:
    """A serve controller log: timestamps, levels, sources, messages of 40-300 bytes."""
    lines = []
    written = 0
    t = 1748736000.0
    while written < size:
        t += rng.random() * 0.5
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
        words = " ".join(rng.choice(_LOG_WORDS) for _ in range(rng.randint(3, 40)))
        line = (f"I {stamp},{int(t * 1000) % 1000:03d} controller.py:{rng.randint(1, 999)}] "
                f"{words}\n")
        lines.append(line)
        written += len(line.encode())
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)
    return written


def _serve_logs(sky: Sky, tmp: str, size: int, tail: int, rng: random.Random,
                stack: contextlib.ExitStack) -> Tuple[Operation, str]:
    """``sky serve logs --controller --tail N svc`` on the controller's side."""
    serve_utils = sky.modules["sky.serve.serve_utils"]
    log = os.path.join(tmp, "controller.log")
    written = _write_log(log, size, rng)
    # No controller runs here: the service is healthy and its log is ours.
    stack.enter_context(_attr(serve_utils, "_check_service_status_healthy", lambda *a, **k: None))
    stack.enter_context(
        _attr(serve_utils, "generate_remote_controller_log_file_name", lambda name: log))

    def run() -> str:
        return _captured(lambda: serve_utils.stream_serve_process_logs(
            "svc", stream_controller=True, follow=False, tail=tail, pool=False))

    op = Operation("serve_logs", f"`sky serve logs --tail {tail}`",
                   f"{written / MIB:.1f} MiB log", run)
    return op, log


def _job_logs_control(sky: Sky, log: str, tail: int, size: int) -> Operation:
    """``sky logs --tail N``'s reader (log_lib.tail_lines_from_end): none of the ten."""
    log_lib = sky.modules["sky.skylet.log_lib"]

    def run() -> List[str]:
        lines, _ = log_lib.tail_lines_from_end(log, tail)
        return list(lines)

    return Operation("job_logs", f"control: `sky logs --tail {tail}` reader",
                     f"{size / MIB:.1f} MiB log", run, control=True)


def _k8s_instance_types(sky: Sky, n: int, rng: random.Random) -> Operation:
    """The virtual instance type ``sky launch --cpus C --memory M --infra k8s`` asks for."""
    kubernetes = sky.modules["sky.clouds"].Kubernetes
    cpus = ["0.5", "1", "2", "4", "8", "16", "32", "2+", "4+", "0.25", "3", "64", "1.5", "96"]
    memory: List[Optional[str]] = [None, "1", "2", "8", "16+", "32", "4x", "0.75", "1.5", "2x"]
    pairs = []
    for _ in range(n):
        mem = rng.choice(memory)
        if rng.random() < 0.2:
            mem = f"{rng.uniform(0.5, 512):.2f}"
        pairs.append((rng.choice(cpus), mem))

    def run() -> List[str]:
        get = kubernetes.get_default_instance_type
        return [get(cpus=c, memory=mem) for c, mem in pairs]

    return Operation("k8s_types", "Kubernetes instance-type names", f"{n:,} names", run)


def _cluster_names(sky: Sky, n: int, rng: random.Random) -> Operation:
    """The cluster's name on Kubernetes: sanitized, truncated, md5 + base36 suffix, user hash."""
    kubernetes = sky.modules["sky.clouds"].Kubernetes
    common_utils = sky.common_utils
    max_length = kubernetes.max_cluster_name_length()
    stems = ["dev", "train_llama-3.1-70b", "My.Experiment", "sft-sweep-lr2e-5-warmup",
             "eval", "notebook_alice", "rl-ppo-run", "batch-inference-h100-spot-pool"]
    names = []
    for i in range(n):
        name = f"{rng.choice(stems)}-{i}"
        if rng.random() < 0.5:
            name += "-" + "-".join(rng.choice(stems) for _ in range(rng.randint(1, 3)))
        names.append(name)

    def run() -> List[str]:
        make = common_utils.make_cluster_name_on_cloud
        return [make(name, max_length) for name in names]

    # Hashed: names longer than max_length once "-<user hash>" is appended.
    long = sum(1 for s in names if len(s) > max_length - len(USER_HASH) - 1)
    return Operation("cluster_names", "cluster names on Kubernetes",
                     f"{n:,} names ({long:,} hashed)", run)


def _file_mount_workers(sky: Sky, workdir: str, catalogs: str) -> Operation:
    """How many rsync workers SkyPilot runs for a launch's file mounts."""
    subprocess_utils = sky.subprocess_utils
    mounts = {"~/sky_workdir": workdir, "/data/src": os.path.join(workdir, "src", "pkg0"),
              "/catalogs": catalogs, "/etc/app/config.json": os.path.join(workdir, "README.md")}

    def run() -> int:
        return int(subprocess_utils.get_max_workers_for_file_mounts(mounts, "kubernetes"))

    return Operation("mount_workers", "file-mount worker count", f"{len(mounts)} mounts", run)


def _catalog_check(sky: Sky, tmp: str, scale: int, rng: random.Random,
                   stack: contextlib.ExitStack) -> Tuple[Operation, str]:
    """Which local catalogs changed (md5 of each CSV), before a controller launch."""
    catalog_common = sky.modules["sky.catalog.common"]
    root = os.path.join(tmp, "catalogs")
    total = 0
    files = 0
    # (cloud, file, share of the total); every other one has an md5 on record
    # that no longer matches, as after a local edit.
    layout = [("aws", "vms.csv", 5), ("aws", "images.csv", 1), ("gcp", "vms.csv", 4),
              ("azure", "vms.csv", 5), ("kubernetes", "vms.csv", 1)]
    for i, (cloud, name, share) in enumerate(layout):
        os.makedirs(os.path.join(root, cloud), exist_ok=True)
        os.makedirs(os.path.join(root, ".meta", cloud), exist_ok=True)
        rows = ["InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,SpotPrice,"
                "Region,AvailabilityZone\n"]
        size = 0
        while size < scale * share * MIB // 16:
            row = (f"{rng.choice(['m6i', 'c7g', 'p5', 'g6e', 'r7i'])}.{rng.randint(1, 48)}xlarge,"
                   f"{rng.choice(['', 'H100', 'L40S', 'A10G'])},{rng.randint(0, 8)},"
                   f"{rng.randint(2, 192)},{rng.randint(4, 2048)},{rng.uniform(0.05, 98):.4f},"
                   f"{rng.uniform(0.01, 40):.4f},us-east-{rng.randint(1, 2)},"
                   f"us-east-{rng.randint(1, 2)}{rng.choice('abcdef')}\n")
            rows.append(row)
            size += len(row)
        path = os.path.join(root, cloud, name)
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(rows)
        total += os.path.getsize(path)
        files += 1
        with open(os.path.join(root, ".meta", cloud, name + ".md5"), "w", encoding="utf-8") as f:
            f.write("0" * 32 if i % 2 else sky.common_utils.hash_file(path, "md5").hexdigest())
    stack.enter_context(_attr(catalog_common, "_ABSOLUTE_VERSIONED_CATALOG_DIR", root))

    def run() -> Dict[str, str]:
        return dict(catalog_common.get_modified_catalog_file_mounts())

    op = Operation("catalogs", "modified-catalog check (md5)",
                   f"{total / MIB:.1f} MiB, {files} CSVs", run)
    return op, root


def build_operations(sky: Sky, tmp: str, quick: bool,
                     stack: contextlib.ExitStack) -> List[Operation]:
    """Every operation, its inputs written under ``tmp``; patches go on ``stack``."""
    pick = 1 if quick else 0
    size = {k: v[pick] for k, v in SIZES.items()}
    now = time.time()
    # SkyPilot reads the user hash from here before ~/.sky/user_hash.
    stack.enter_context(_env("SKYPILOT_USER_ID", USER_HASH))
    status = _status_table(sky, size["clusters"], random.Random(SEED + 1), now)
    storage = _storage_table(sky, size["storages"], random.Random(SEED + 2), now)
    config, workdir = _config_hash(sky, tmp, size["workdir_scale"], random.Random(SEED + 3))
    serve, log = _serve_logs(sky, tmp, size["log_bytes"], size["tail"],
                             random.Random(SEED + 4), stack)
    control = _job_logs_control(sky, log, size["tail"], os.path.getsize(log))
    catalogs, catalog_root = _catalog_check(sky, tmp, size["catalog_scale"],
                                            random.Random(SEED + 5), stack)
    ops = [
        status,
        storage,
        config,
        catalogs,
        serve,
        control,
        _k8s_instance_types(sky, size["names"], random.Random(SEED + 6)),
        _cluster_names(sky, size["names"], random.Random(SEED + 7)),
        _file_mount_workers(sky, workdir, catalog_root),
    ]
    assert tuple(op.key for op in ops) == OPERATIONS, [op.key for op in ops]
    return ops


# ---------------------------------------------------------------------------
# Switching and timing
# ---------------------------------------------------------------------------


class Switch:
    """Puts SkyPilot's or skyfast's functions in place, and checks that it did."""

    def __init__(self, sky: Sky) -> None:
        self.sky = sky
        sky.integration.uninstall()
        self.originals = {(mod.__name__, name): getattr(mod, name) for mod, name in sky.targets()}
        for (_, name), fn in self.originals.items():
            if fn is getattr(sky.skyfast, name):
                raise RuntimeError(f"SkyPilot's {name} is skyfast's before install()")

    def use(self, arm: str) -> None:
        sky = self.sky
        if arm == "skyfast":
            if not sky.integration.install():
                raise RuntimeError(f"skyfast's drop-in refused SkyPilot {sky.version}")
            want = {key: getattr(sky.skyfast, key[1]) for key in self.originals}
        else:
            sky.integration.uninstall()
            want = self.originals
        for mod, name in sky.targets():
            if getattr(mod, name) is not want[(mod.__name__, name)]:
                raise RuntimeError(f"{mod.__name__}.{name} is not {arm}'s after switching")

    def functions(self, arm: str) -> Dict[Tuple[str, str], Callable[..., Any]]:
        if arm == "skypilot":
            return dict(self.originals)
        return {key: getattr(self.sky.skyfast, key[1]) for key in self.originals}


def _sample(fn: Callable[[], Any], k: int) -> Tuple[float, float]:
    """(CPU seconds, wall seconds) per call of fn, over k calls, from a collected heap."""
    gc.collect()
    c0 = time.process_time()
    w0 = time.perf_counter()
    for _ in range(k):
        fn()
    wall = time.perf_counter() - w0
    cpu = time.process_time() - c0
    return cpu / k, wall / k


def _repeats(fn: Callable[[], Any], target_s: float) -> int:
    """How many calls of fn take about target_s (fn warmed up first; 1 at least)."""
    fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= target_s / 4 or n >= 1 << 20:
            return max(1, round(target_s * n / max(elapsed, 1e-9)))
        n *= 2


def _loadavg() -> Optional[Tuple[float, float, float]]:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return None
    return round(one, 2), round(five, 2), round(fifteen, 2)


# (name, arm to switch to, callable): one contender in an interleaved comparison.
Variant = Tuple[str, str, Callable[[], Any]]


def _interleaved(
    jobs: Sequence[Tuple[str, Sequence[Variant]]],
    switch: Switch,
    rounds: int,
    target_s: float,
    loads: List[Tuple[float, float, float]],
    progress: Callable[[str], None],
) -> Dict[str, Dict[str, Any]]:
    """Time each job's variants over ``rounds`` rounds, the order reversed every other round.

    Every round samples every job (so drift and load spread over all of them);
    the switch puts a variant's arm in place before its sample.  Each variant
    repeats its callable enough times to last about ``target_s``.  Returns per
    job: per variant its repeat count and per-call cpu/wall lists.
    """
    out: Dict[str, Dict[str, Any]] = {}
    for key, variants in jobs:
        out[key] = {}
        for name, arm, fn in variants:
            switch.use(arm)
            out[key][name] = {"k": _repeats(fn, target_s), "cpu": [], "wall": []}
    for r in range(rounds):
        for key, variants in jobs:
            for name, arm, fn in variants if r % 2 == 0 else variants[::-1]:
                switch.use(arm)
                cpu, wall = _sample(fn, out[key][name]["k"])
                out[key][name]["cpu"].append(cpu)
                out[key][name]["wall"].append(wall)
        load = _loadavg()
        if load is not None:
            loads.append(load)
        progress(f"round {r + 1}/{rounds} done (load average {load})")
    switch.use("skypilot")
    return out


def _quartiles(values: Sequence[float]) -> Tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def _median(times: Dict[str, Any], clock: str) -> float:
    return float(statistics.median(times[clock]))


def _summarize(times: Dict[str, Any], a: str = "skypilot", b: str = "skyfast") -> Dict[str, Any]:
    """Medians of variants a and b, their ratios a / b, and the spread of the per-round ratios."""
    ta, tb = times[a], times[b]
    paired = [x / y for x, y in zip(ta["cpu"], tb["cpu"]) if y > 0]
    paired_wall = [x / y for x, y in zip(ta["wall"], tb["wall"]) if y > 0]
    med = {v: {c: _median(times[v], c) for c in ("cpu", "wall")} for v in (a, b)}
    return {
        "calls_per_sample": {v: times[v]["k"] for v in (a, b)},
        "median_s": med,
        "cpu_ratio": med[a]["cpu"] / med[b]["cpu"],
        "wall_ratio": med[a]["wall"] / med[b]["wall"],
        "cpu_ratio_iqr": _quartiles(paired) if paired else None,
        "cpu_ratio_range": (min(paired), max(paired)) if paired else None,
        "wall_ratio_iqr": _quartiles(paired_wall) if paired_wall else None,
        "samples_s": {v: {c: times[v][c] for c in ("cpu", "wall")} for v in (a, b)},
    }


# ---------------------------------------------------------------------------
# Where the time goes: the ten functions' share of each operation
# ---------------------------------------------------------------------------


Call = Tuple[Tuple[str, str], Tuple[Any, ...], Dict[str, Any]]


def _record_calls(op: Operation, switch: Switch) -> List[Call]:
    """The outermost calls op makes to the ten functions (SkyPilot's, in place)."""
    switch.use("skypilot")
    calls: List[Call] = []
    depth = [0]

    def recorder(key: Tuple[str, str], fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if depth[0] == 0:
                calls.append((key, args, kwargs))
            depth[0] += 1
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1

        return wrapper

    with contextlib.ExitStack() as stack:
        for mod, name in switch.sky.targets():
            key = (mod.__name__, name)
            stack.enter_context(_attr(mod, name, recorder(key, switch.originals[key])))
        op.run()
    return calls


def _replayer(calls: List[Call], table: Dict[Tuple[str, str], Callable[..., Any]]
              ) -> Callable[[], None]:
    bound = [(table[key], args, kwargs) for key, args, kwargs in calls]

    def replay() -> None:
        for fn, args, kwargs in bound:
            fn(*args, **kwargs)

    return replay


def _cprofile_share(op: Operation, switch: Switch, k: int) -> float:
    """Share of op's profiled time spent inside the ten (outermost calls), by cProfile."""
    switch.use("skypilot")
    codes = {}
    for key, fn in switch.originals.items():
        code = fn.__code__
        codes[(code.co_filename, code.co_firstlineno, code.co_name)] = key
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(k):
        op.run()
    prof.disable()
    stats: Dict[Any, Any] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())  # every function's own time
    inside = 0.0
    for func, (_cc, _nc, _tt, _ct, callers) in stats.items():
        if func in codes:
            inside += sum(c[3] for caller, c in callers.items() if caller not in codes)
    return inside / total if total > 0 else 0.0


def _share(
    ops: Sequence[Operation],
    results: Dict[str, Dict[str, Any]],
    switch: Switch,
    rounds: int,
    target_s: float,
    loads: List[Tuple[float, float, float]],
    progress: Callable[[str], None],
) -> None:
    """Add to ``results`` the ten functions' share of each operation and its Amdahl estimate.

    The calls an operation makes to the ten (SkyPilot's) are recorded, then
    replayed alone with SkyPilot's and with skyfast's functions, interleaved
    with the operation itself (SkyPilot's arm) in the same rounds.  The replay
    runs with warm caches, so it is a lower bound of the ten's cost inside
    the operation.  cProfile's share is a cross-check (its per-call overhead
    weighs on call-heavy code).
    """
    progress("replaying the ten functions' calls alone ...")
    recorded = {op.key: _record_calls(op, switch) for op in ops}
    jobs = []
    for op in ops:
        if recorded[op.key]:
            table_sky, table_fast = switch.functions("skypilot"), switch.functions("skyfast")
            jobs.append((op.key, [
                ("operation", "skypilot", op.run),
                # SkyPilot's arm for both replays: a replayed SkyPilot function
                # calling another of the ten must reach SkyPilot's.
                ("ten_skypilot", "skypilot", _replayer(recorded[op.key], table_sky)),
                ("ten_skyfast", "skypilot", _replayer(recorded[op.key], table_fast)),
            ]))
    replayed = _interleaved(jobs, switch, rounds, target_s, loads, progress)
    for op in ops:
        entry = results[op.key]
        entry["calls_of_the_ten"] = len(recorded[op.key])
        k = entry["calls_per_sample"]["skypilot"]
        entry["cprofile_share"] = _cprofile_share(op, switch, max(1, min(k, 5)))
        times = replayed.get(op.key)
        if times is None:
            entry["replay"] = None
            continue
        whole = _median(times["operation"], "cpu")
        ten_sky = _median(times["ten_skypilot"], "cpu")
        ten_fast = _median(times["ten_skyfast"], "cpu")
        entry["replay"] = {
            "median_cpu_s": {"operation": whole, "ten_skypilot": ten_sky,
                             "ten_skyfast": ten_fast},
            "share": ten_sky / whole,
            "ten_cpu_ratio": ten_sky / ten_fast,
            # Amdahl: the operation with only the ten's own time changed.
            "predicted_cpu_ratio": whole / max(whole - ten_sky + ten_fast, 1e-12),
            "samples_s": {v: {c: times[v][c] for c in ("cpu", "wall")} for v in times},
        }


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def _machine(sky: Sky) -> Dict[str, Any]:
    cpu_model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model,
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "skyfast": getattr(sky.skyfast, "__version__", None),
        "skyfast_implementation": getattr(sky.skyfast, "IMPLEMENTATION", None),
        "skypilot": sky.version,
    }


def run(
    *,
    rounds: int = 21,
    target_s: float = 0.1,
    quick: bool = False,
    only: Optional[Sequence[str]] = None,
    share: bool = True,
    progress: Callable[[str], None] = lambda msg: None,
) -> Dict[str, Any]:
    """Run every operation in both arms; return the figures (see ``format_table``).

    Leaves SkyPilot as it found it (the drop-in uninstalled, every patch undone)
    and removes its temporary files.
    """
    sky = _import_sky()
    if sky.integration.is_installed():
        raise RuntimeError("the drop-in is already installed; run this in a fresh process")
    loads: List[Tuple[float, float, float]] = []
    start_load = _loadavg()
    tmp = tempfile.mkdtemp(prefix="skyfast-e2e-")
    try:
        with contextlib.ExitStack() as stack:
            progress("writing the inputs ...")
            ops = build_operations(sky, tmp, quick, stack)
            if only:
                unknown = set(only) - {op.key for op in ops}
                if unknown:
                    raise ValueError(f"unknown operation(s): {sorted(unknown)}")
                ops = [op for op in ops if op.key in only]
            switch = Switch(sky)
            # SkyPilot's import leaves a large heap: moved out of the collector's
            # reach, the collection before each sample is cheap, and no full
            # collection over it lands inside a sample (either arm's).
            gc.collect()
            gc.freeze()
            stack.callback(gc.unfreeze)
            results: Dict[str, Dict[str, Any]] = {}
            # Warm up both arms and compare what they return.
            for op in ops:
                outcome = {}
                for arm in ARMS:
                    switch.use(arm)
                    outcome[arm] = op.run()
                    op.run()
                results[op.key] = {
                    "label": op.label,
                    "size": op.size,
                    "control": op.control,
                    "same_result": outcome["skypilot"] == outcome["skyfast"],
                }
            switch.use("skypilot")
            progress(f"timing {len(ops)} operations, {rounds} rounds ...")
            jobs = [(op.key, [(arm, arm, op.run) for arm in ARMS]) for op in ops]
            timed = _interleaved(jobs, switch, rounds, target_s, loads, progress)
            for op in ops:
                results[op.key].update(_summarize(timed[op.key]))
            if share:
                _share(ops, results, switch, max(3, rounds // 2), target_s, loads, progress)
            switch.use("skypilot")
    finally:
        sky.integration.uninstall()
        shutil.rmtree(tmp, ignore_errors=True)
    end_load = _loadavg()
    ones = [x[0] for x in loads]
    return {
        "machine": _machine(sky),
        "config": {"rounds": rounds, "target_s": target_s, "quick": quick, "seed": SEED,
                   "clock_cpu": "time.process_time (all threads)",
                   "clock_wall": "time.perf_counter"},
        "load": {"start": start_load, "end": end_load,
                 "one_minute_min": min(ones) if ones else None,
                 "one_minute_max": max(ones) if ones else None},
        "operations": results,
    }


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = ["| " + " | ".join(c.ljust(w) for c, w in zip(header, widths)) + " |"]
    line.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    line += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    return line


def format_table(figures: Dict[str, Any]) -> str:
    """The figures as Markdown tables: the timings, then where the time goes."""
    ops = figures["operations"]
    rows = []
    for e in ops.values():
        med = e["median_s"]
        lo, hi = e["cpu_ratio_iqr"]
        rows.append([
            e["label"] + ("" if e["same_result"] else " MISMATCH"),
            e["size"],
            f"{_ms(med['skypilot']['cpu'])} / {_ms(med['skypilot']['wall'])}",
            f"{_ms(med['skyfast']['cpu'])} / {_ms(med['skyfast']['wall'])}",
            f"{e['cpu_ratio']:.2f}x",
            f"{e['wall_ratio']:.2f}x",
            f"{lo:.2f}-{hi:.2f}",
        ])
    out = _grid(["operation", "input", "without, ms (CPU / wall)", "with drop-in, ms",
                 "CPU ratio", "wall ratio", "CPU ratio IQR"], rows)
    if any("calls_of_the_ten" in e for e in ops.values()):
        rows = []
        for e in ops.values():
            rep = e.get("replay")
            rows.append([
                e["label"],
                f"{e['calls_of_the_ten']:,}",
                "-" if rep is None else f"{100 * rep['share']:.1f} %",
                f"{100 * e['cprofile_share']:.1f} %",
                "-" if rep is None else f"{rep['ten_cpu_ratio']:.2f}x",
                "-" if rep is None else f"{rep['predicted_cpu_ratio']:.2f}x",
            ])
        out += [""]
        out += _grid(["operation", "calls of the ten", "their CPU share (replayed)",
                      "(cProfile)", "the ten alone: CPU ratio", "Amdahl estimate"], rows)
        out += ["",
                "share: the operation's calls of the ten SkyPilot functions the drop-in "
                "replaces, replayed alone (warm caches: a lower bound), over the operation's "
                "CPU time; Amdahl estimate: the operation's CPU ratio if only those calls "
                "changed."]
    m, c, load = figures["machine"], figures["config"], figures["load"]
    out += [
        "",
        "CPU ratio IQR: interquartile range of the per-round ratios (each round's two "
        "samples side by side); the control row calls none of the ten, so its ratio shows "
        "the noise floor.",
        f"SkyPilot {m['skypilot']}, skyfast {m['skyfast']} ({m['skyfast_implementation']}), "
        f"Python {m['python']}, {m['cpu_model']}, {m['nproc']} CPUs ({m['affinity']} usable)",
        f"{c['rounds']} interleaved rounds; medians; ratio = without / with (> 1: faster "
        "with the drop-in); CPU = process_time, every thread",
        f"load average (1 min) during the run: {load['one_minute_min']}-{load['one_minute_max']}"
        f"; at start {load['start']}, at end {load['end']}",
    ]
    busiest = load["one_minute_max"]
    if busiest is not None and m["nproc"] and busiest > m["nproc"]:
        out.append(f"the load average exceeded the {m['nproc']} CPUs: wall times include "
                   "waiting for a CPU, the CPU columns are the ones to read")
    return "\n".join(out)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds (default 21)")
    parser.add_argument("--target-ms", type=float, default=100.0,
                        help="time per sample; operations are repeated to reach it (default 100)")
    parser.add_argument("--quick", action="store_true", help="tiny inputs (a smoke test)")
    parser.add_argument("--only", help="comma-separated operation keys (see --list)")
    parser.add_argument("--list", action="store_true", help="list the operation keys and exit")
    parser.add_argument("--no-share", action="store_true",
                        help="skip the replay/cProfile share of the ten functions")
    parser.add_argument("--json", metavar="PATH", help="also write every number as JSON")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(OPERATIONS))
        return 0
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    figures = run(
        rounds=args.rounds,
        target_s=args.target_ms / 1e3,
        quick=args.quick,
        only=args.only.split(",") if args.only else None,
        share=not args.no_share,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    print(format_table(figures))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)
    if figures["machine"]["skyfast_implementation"] != "cython":
        print("NOTE: skyfast's compiled core is not in use; these are the pure-Python twin's "
              "figures", file=sys.stderr)
    bad = [k for k, e in figures["operations"].items() if not e["same_result"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
