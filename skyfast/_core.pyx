# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True, freethreading_compatible=True
# cython: autotestdict=False
# (The one place these directives are set; setup.py adds line tracing on request.)
"""The compiled core of skyfast: the twelve functions over libc, sysconf and procfs.

Each function keeps the contract of its twin in ``_core_py.py`` (same values,
same exceptions).  The well-typed common case runs here in C; inputs of other
types (int file descriptors as paths, float counts, str subclasses...) are
handed to the twin, which reproduces SkyPilot's behaviour for them, so the two
implementations cannot drift apart on odd input.
"""

import hashlib
import io
import logging
import os
import sys

from cpython.number cimport PyNumber_Index
from cpython.ref cimport PyObject, Py_XDECREF
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_CheckSignals, PyErr_SetFromErrno, PyErr_SetFromErrnoWithFilenameObject
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_AsUnsignedLongLongMask
from cpython.unicode cimport PyUnicode_Substring, PyUnicode_FindChar
from libc.errno cimport (errno, ENOENT, EINTR, ESRCH, EPERM, EINVAL, ENOSYS, EISDIR, EADDRINUSE,
                         EACCES, EAGAIN, EMFILE, ENFILE)
from libc.stdlib cimport malloc, free
from libc.string cimport memchr, memcpy, strlen
from libc.math cimport floor, isfinite, signbit, fabs

from . import _cache, _common, _kernel
from . import _core_py as _py

cdef extern from "Python.h":
    # The C API defines these semantics exactly; calling it is the point.
    object PyLong_FromUnicodeObject(object u, int base)        # int(s, 16) for exact str
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)      # build ASCII results in place
    bint PyUnicode_IS_ASCII(object o)
    void* PyUnicode_DATA(object o)
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)
    object PyUnicode_Decode(const char *s, Py_ssize_t size, const char *encoding, const char *errors)
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t *size) except NULL
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    Py_UCS4 PyUnicode_READ_CHAR(object o, Py_ssize_t index)
    char* PyOS_double_to_string(double val, char format_code, int precision, int flags, int *ptype) except NULL  # float formatting as str.format does it
    void PyMem_Free(void *p)
    object PyMemoryView_FromMemory(char *mem, Py_ssize_t size, int flags)  # zero-copy view for hashlib.update
    int PyBUF_READ
    object PyOS_FSPath(object path)                             # os.fspath
    bint PyUnicode_FSConverter(object obj, PyObject **result) except 0  # os.fsencode + NUL check
    object PyObject_CallOneArg(object f, object arg)
    object PyList_New(Py_ssize_t n)
    void PyList_SET_ITEM(object lst, Py_ssize_t i, object item)
    void Py_INCREF(object o)

cdef extern from "_sf_mem.h":
    # statfs(2) tells the kernel's procfs from an overlay; sysinfo(2) is its MemTotal.
    int sf_procfs_memtotal(const char *path, unsigned long long *bytes) nogil


cdef extern from "_sf_sys.h":
    void sf_set_errno(int e) nogil
    int sf_getpid() nogil
    int sf_tgkill0(int pid) nogil
    int sf_pidfd_open(int pid) nogil
    long sf_getdents64(int fd, char *buf, size_t n) nogil
    long sf_count_entries(const char *buf, long n) nogil
    int sf_affinity_count() nogil
    double sf_monotonic() nogil
    unsigned long sf_fork_generation
    int sf_register_atfork()
    bint sf_is_ascii(const char *p, size_t n) nogil
    int sf_format_fixed(double x, int p, char *out) nogil
    ctypedef unsigned int in_addr_t
    int sf_probe_ports(int port, int end, in_addr_t addr, int *next) nogil
    void sf_split_u128(unsigned long long hi, unsigned long long lo, unsigned long long base,
                       unsigned long long *q_hi, unsigned long long *q_lo,
                       unsigned long long *r) nogil
    int inet_pton(int af, const char *src, void *dst)

    # libc and system calls (declared here: several are missing from Cython's pxds)
    ctypedef long off_t
    ctypedef int pid_t
    ctypedef unsigned long long rlim_t
    ctypedef unsigned long long dev_t
    struct timespec:
        long tv_sec
        long tv_nsec
    struct stat_t "stat":
        dev_t st_dev
        unsigned int st_mode
        off_t st_size
        timespec st_mtim
        timespec st_ctim
    struct rlimit:
        rlim_t rlim_cur
        rlim_t rlim_max
    struct pollfd:
        int fd
        short events
        short revents
    int O_RDONLY, O_CLOEXEC, O_NONBLOCK, O_DIRECTORY, F_GETFL, F_SETFL, SEEK_END, SEEK_CUR
    int POLLIN, AF_INET, SOCK_STREAM, SOCK_CLOEXEC, RLIMIT_NOFILE
    int socket(int domain, int type, int protocol) nogil
    rlim_t RLIM_INFINITY
    unsigned int INADDR_ANY
    long _SC_NPROCESSORS_ONLN, _SC_PHYS_PAGES, _SC_PAGESIZE
    int c_open "open"(const char *path, int flags) nogil
    int close(int fd) nogil
    ssize_t read(int fd, void *buf, size_t n) nogil
    ssize_t pread(int fd, void *buf, size_t n, off_t offset) nogil
    off_t lseek(int fd, off_t offset, int whence) nogil
    int fstat(int fd, stat_t *st) nogil
    int c_stat "stat"(const char *path, stat_t *st) nogil
    int fcntl(int fd, int cmd, ...) nogil
    bint S_ISDIR(unsigned int m)
    bint S_ISREG(unsigned int m)
    bint S_ISFIFO(unsigned int m)
    bint S_ISSOCK(unsigned int m)
    long sysconf(int name) nogil
    int kill(pid_t pid, int sig) nogil
    int poll(pollfd *fds, unsigned long n, int timeout) nogil
    int getrlimit(int resource, rlimit *rl) nogil
    void *memrchr(const void *s, int c, size_t n) nogil

if sf_register_atfork() != 0:
    raise ImportError("skyfast: pthread_atfork failed")

cdef object _logger = logging.getLogger("skyfast")
cdef object _os = os          # os.environ is looked up on every call: SkyPilot replaces it
# The class, not type(os.environ): os.environ may already be replaced when this
# module is imported (SkyPilot's API server installs a ContextualEnviron first).
cdef object _Environ = os._Environ
cdef bint _OS_CPU_COUNT_IS_SYSCONF = sys.version_info < (3, 13)  # 3.13 adds -X cpu_count
cdef object _FileNotFound = _common.FileNotFoundAssertionError
cdef object _UnsupportedOperation = io.UnsupportedOperation


# ---------------------------------------------------------------------------
# Small I/O helpers
# ---------------------------------------------------------------------------

cdef int _open_retry(const char *path, int flags) nogil:
    cdef int fd
    while True:
        fd = c_open(path, flags)
        if fd >= 0 or errno != EINTR:
            return fd


cdef object _raise_errno(object filename=None):
    """Raise the OSError subclass for errno, as Python's own wrappers do."""
    if filename is None:
        PyErr_SetFromErrno(OSError)
    else:
        PyErr_SetFromErrnoWithFilenameObject(OSError, filename)
    return None  # not reached: the functions above always raise


cdef bytes _fspath_bytes(object path):
    """bytes for a str/bytes/PathLike path (raises like open() for NUL or bad types)."""
    cdef PyObject *result = NULL
    PyUnicode_FSConverter(path, &result)
    encoded = <bytes>result
    Py_XDECREF(result)
    return encoded


cdef object _read_small(bytes path, object out_of_fds_as=None):
    """_kernel.read_text() in C for files of a few bytes: same policy, same answers.

    A regular file's text as strict UTF-8, else None (O_NONBLOCK: a FIFO planted
    in a fake tree cannot block).  With ``out_of_fds_as`` a file name, running out
    of descriptors (EMFILE, ENFILE) raises the OSError opening that file would.
    """
    cdef char buf[4096]
    cdef ssize_t got = 0, n
    cdef stat_t st
    cdef int fd = _open_retry(PyBytes_AS_STRING(path), O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    if fd < 0:
        if out_of_fds_as is not None and (errno == EMFILE or errno == ENFILE):
            _raise_errno(out_of_fds_as)
        return None
    try:
        if fstat(fd, &st) != 0 or not S_ISREG(st.st_mode):
            return None
        while got < <ssize_t>sizeof(buf):
            n = read(fd, buf + got, sizeof(buf) - got)
            if n < 0:
                if errno != EINTR:
                    return None
                PyErr_CheckSignals()   # raises if a signal handler did
                continue
            if n == 0:
                break
            got += n
    finally:
        close(fd)
    if got == <ssize_t>sizeof(buf):
        # Larger than any real cgroup file: the Python reader takes the rest.
        return _kernel.read_text(path.decode("utf-8", "surrogateescape"))
    try:
        return PyUnicode_DecodeUTF8(buf, got, NULL)
    except UnicodeDecodeError:
        return None


cdef bytes _read_whole(bytes path, object filename):
    """Every byte of a small kernel file; OSError (naming ``filename``) if it cannot be read.

    Reads until read() returns 0: procfs and FUSE (LXCFS) files return short reads.
    """
    cdef char buf[4096]
    cdef ssize_t n
    cdef int fd = _open_retry(PyBytes_AS_STRING(path), O_RDONLY | O_CLOEXEC)
    if fd < 0:
        _raise_errno(filename)
    parts = []
    try:
        while True:
            n = read(fd, buf, sizeof(buf))
            if n < 0:
                if errno != EINTR:
                    _raise_errno(filename)
                PyErr_CheckSignals()
                continue
            if n == 0:
                break
            parts.append(buf[:n])
    finally:
        close(fd)
    return parts[0] if len(parts) == 1 else b"".join(parts)


cdef bint _is_regular_file(bytes path):
    cdef stat_t st
    return c_stat(PyBytes_AS_STRING(path), &st) == 0 and S_ISREG(st.st_mode)


# ---------------------------------------------------------------------------
# Cache of kernel values: the window is skyfast._cache's; three entries kept in C
# ---------------------------------------------------------------------------

cdef extern from "_sf_cache.h":
    # Seqlock entries: torn-free without the GIL (free-threaded CPython).
    ctypedef struct sf_entry:
        pass
    double sf_get_ttl() nogil
    void sf_set_ttl(double ttl) nogil
    bint sf_entry_load(sf_entry *e, unsigned long generation, double now,
                       long long *value, double *fvalue) nogil
    void sf_entry_store(sf_entry *e, unsigned long generation, double now,
                        long long value, double fvalue) nogil
    void sf_entry_invalidate(sf_entry *e) nogil
    bint sf_first_time(int *flag) nogil

cdef sf_entry _host_cpu_entry
cdef sf_entry _host_mem_entry
cdef sf_entry _os_cpu_entry


cdef inline bint _cached_int(sf_entry *e, long long *value) noexcept:
    cdef double unused
    return sf_entry_load(e, sf_fork_generation, sf_monotonic(), value, &unused)


cdef inline bint _cached_float(sf_entry *e, double *value) noexcept:
    cdef long long unused
    return sf_entry_load(e, sf_fork_generation, sf_monotonic(), &unused, value)


cdef inline void _store(sf_entry *e, long long value) noexcept:
    sf_entry_store(e, sf_fork_generation, sf_monotonic(), value, 0.0)


cdef inline void _store_float(sf_entry *e, double value) noexcept:
    sf_entry_store(e, sf_fork_generation, sf_monotonic(), 0, value)


cdef void _follow_cache(double ttl) noexcept:
    """The one cache's window changed or was cleared (_cache.subscribe): follow it."""
    sf_set_ttl(ttl)
    sf_entry_invalidate(&_host_cpu_entry)
    sf_entry_invalidate(&_host_mem_entry)
    sf_entry_invalidate(&_os_cpu_entry)


def _on_cache_change(ttl):
    _follow_cache(ttl)


# The window, its setter and the clear are the one cache's (skyfast._cache).
set_cache_ttl = _cache.set_cache_ttl
get_cache_ttl = _cache.get_cache_ttl
clear_cache = _cache.clear_cache
_cache.subscribe(_on_cache_change)


cdef bytes _cg_controllers, _cg_cpu_max, _cg_cfs_quota, _cg_cfs_period, _cg_mem_max, _cg_mem_v1
cdef bytes _meminfo
cdef str _meminfo_name


cdef str _proc_root


def _set_roots(proc=None, cgroup=None):
    """Point the procfs and cgroupfs readers at other trees (tests build fake ones)."""
    global _cg_controllers, _cg_cpu_max, _cg_cfs_quota, _cg_cfs_period, _cg_mem_max, _cg_mem_v1
    global _meminfo, _meminfo_name, _proc_root
    _proc_root = _kernel.PROC_ROOT if proc is None else proc
    _meminfo_name = _proc_root + "/meminfo"
    _meminfo = os.fsencode(_meminfo_name)
    root = os.fsencode(_kernel.CGROUP_ROOT if cgroup is None else cgroup)
    _cg_controllers = root + b"/cgroup.controllers"
    _cg_cpu_max = root + b"/cpu.max"
    _cg_cfs_quota = root + b"/cpu/cpu.cfs_quota_us"
    _cg_cfs_period = root + b"/cpu/cpu.cfs_period_us"
    _cg_mem_max = root + b"/memory.max"
    _cg_mem_v1 = root + b"/memory/memory.limit_in_bytes"
    clear_cache()


_set_roots()


cdef inline object _getenv(str key, bytes bkey):
    """os.environ.get(key), without the Mapping machinery when os.environ is the real one."""
    env = _os.environ
    if type(env) is _Environ:
        value = (<dict>env._data).get(bkey)
        return None if value is None else env.decodevalue(value)
    return env.get(key)


# ---------------------------------------------------------------------------
# 2.1 is_process_alive
# ---------------------------------------------------------------------------

cdef int _poll_exited(int fd) except -1:
    cdef pollfd p
    cdef int rc
    p.fd = fd
    p.events = POLLIN
    while True:
        p.revents = 0
        rc = poll(&p, 1, 0)
        if rc >= 0:
            return rc > 0
        if errno != EINTR:
            _raise_errno()


def is_process_alive(pid, *, create_time=None, allow_zombie=False):
    """True when ``pid`` names a live process (a thread-group leader) on this host."""
    cdef int overflow = 0
    cdef long long p
    cdef int fd, err
    cdef bint exited
    if type(pid) is not int and (isinstance(pid, bool) or not isinstance(pid, int)):
        raise TypeError(f"pid must be an int, not {type(pid).__name__}")
    if create_time is not None and not isinstance(create_time, (int, float)):
        raise TypeError(
            f"create_time must be a number or None, not {type(create_time).__name__}")
    p = PyLong_AsLongLongAndOverflow(pid, &overflow)
    # pid 0 and negative pids name process groups: never probe them.
    if overflow != 0 or p <= 0 or p > 2147483647:
        return False
    if create_time is None:
        if p == sf_getpid():
            return True   # the caller itself: running, a group leader, not a zombie
        # tgkill(pid, pid, 0) fails with ESRCH unless pid is a thread-group
        # leader: one cheap call settles dead pids and thread ids.
        if sf_tgkill0(<int>p) != 0 and errno == ESRCH:
            return False
    fd = sf_pidfd_open(<int>p)
    if fd < 0:
        err = errno
        if err == ESRCH or err == EINVAL or err == ENOENT:
            return False  # EINVAL (before Linux 6.9) or ENOENT: a thread id, not a leader
        if err == ENOSYS or err == EPERM:  # no pidfd (old kernel, seccomp)
            return _kernel.alive_from_procfs(_proc_root, pid, create_time, allow_zombie)
        sf_set_errno(err)
        _raise_errno()
    try:
        exited = _poll_exited(fd)
        if exited:
            if not allow_zombie or kill(<pid_t>p, 0) != 0 and errno != EPERM:
                return False
        if create_time is not None and not _kernel.same_start(_proc_root, pid, create_time):
            return False
        # The pidfd pins the process: if it is still running now, the start
        # time read above was its own and not that of a reused pid.
        return exited or not _poll_exited(fd)
    finally:
        close(fd)


# ---------------------------------------------------------------------------
# 2.2 get_cpu_count, 2.5 get_mem_size_gb
# ---------------------------------------------------------------------------

cdef object _cgroup_cpu_quota():
    if _is_regular_file(_cg_controllers):
        text = _read_small(_cg_cpu_max)
        return None if text is None else _kernel.cpu_max_cores(text)
    quota = _read_small(_cg_cfs_quota)
    if quota is None or not _kernel.cfs_quota_may_limit(quota):
        return None   # no quota (-1): the period cannot change that, so it is not read
    period = _read_small(_cg_cfs_period)
    return None if period is None else _kernel.cfs_cores(quota, period)


cdef long long _host_cpu_limit() except -1:
    """min(online CPUs, int(cgroup quota)), cached; affinity is applied per call."""
    cdef long long cpus
    cdef double quota
    if _cached_int(&_host_cpu_entry, &cpus):
        return cpus
    cpus = sysconf(_SC_NPROCESSORS_ONLN)
    if cpus < 1:
        cpus = 1
    q = _cgroup_cpu_quota()
    if q is not None:
        quota = q
        if quota < cpus:
            cpus = <long long>quota
    _store(&_host_cpu_entry, cpus)
    return cpus


def get_cpu_count():
    """CPUs this process may use: env override, else min(online, affinity, cgroup quota); >= 1."""
    cdef long long cpus
    cdef int affinity
    value = _getenv("SKYPILOT_POD_CPU_CORE_LIMIT", b"SKYPILOT_POD_CPU_CORE_LIMIT")
    if value is not None:
        return _common.cpu_count_from_env(value)
    cpus = _host_cpu_limit()
    affinity = sf_affinity_count()
    if affinity < 0:
        _raise_errno()
    if affinity < cpus:
        cpus = affinity
    return cpus if cpus > 1 else 1


cdef double _host_mem_gib() except? -1.0:
    """min(MemTotal, cgroup limit) / 2**30, cached."""
    cdef double gib
    cdef unsigned long long kernel_total
    if _cached_float(&_host_mem_entry, &gib):
        return gib
    # MemTotal of /proc/meminfo, as psutil reads it for SkyPilot: LXCFS (LXD,
    # some Kubernetes pods) puts the container's memory there, while sysconf()
    # still reports the host's.  Where the file is the kernel's own, sysinfo(2)
    # gives the same number without the text (docs/implementation.md); anything
    # else is read and parsed, and an unreadable file raises what psutil raises.
    if sf_procfs_memtotal(PyBytes_AS_STRING(_meminfo), &kernel_total):
        total = kernel_total
        # Reading the file would need a descriptor: without one to spare, raise
        # what opening it raises (psutil's error) rather than answer.
        fds_for = _meminfo_name
    else:
        total = _kernel.meminfo_total_bytes(_read_whole(_meminfo, _meminfo_name))
        fds_for = None
    text = _read_small(_cg_mem_max if _is_regular_file(_cg_controllers) else _cg_mem_v1,
                       fds_for)
    limit = None if text is None else _kernel.memory_limit_bytes(text)
    if limit is not None and limit < total:
        total = limit
    # Python's int / int, as SkyPilot divides: correctly rounded for any size.
    gib = total / 1073741824
    _store_float(&_host_mem_entry, gib)
    return gib


def get_mem_size_gb():
    """Memory in GiB: env overrides, else min(MemTotal, cgroup limit at the namespace root)."""
    value = _getenv("SKYPILOT_POD_MEMORY_GB_LIMIT", b"SKYPILOT_POD_MEMORY_GB_LIMIT")
    if value is not None:
        return _common.mem_gb_from_gb_env(value)
    value = _getenv("SKYPILOT_POD_MEMORY_BYTES_LIMIT", b"SKYPILOT_POD_MEMORY_BYTES_LIMIT")
    if value is not None:
        return _common.mem_gb_from_bytes_env(value)
    return _host_mem_gib()


# ---------------------------------------------------------------------------
# 2.3 get_parallel_threads, 2.10 estimate_fd_for_dir, 2.7 get_max_workers_for_file_mounts
# ---------------------------------------------------------------------------

cdef object _builtin_cpu_count = os.cpu_count


cdef long long _os_cpu_count() except -1:
    """os.cpu_count() or 1, cached (only while os.cpu_count is the interpreter's own)."""
    cdef long long cpus
    if _cached_int(&_os_cpu_entry, &cpus):
        return cpus
    if _OS_CPU_COUNT_IS_SYSCONF:
        cpus = sysconf(_SC_NPROCESSORS_ONLN)   # exactly what os.cpu_count() asks
    else:
        cpus = os.cpu_count() or 1
    if cpus < 1:
        cpus = 1
    _store(&_os_cpu_entry, cpus)
    return cpus


cdef bint _is_kubernetes(object cloud_str) except -1:
    cdef Py_ssize_t i
    cdef const char *k = b"kubernetes"
    cdef unsigned int c
    if not cloud_str:
        return False
    if type(cloud_str) is str and PyUnicode_IS_ASCII(cloud_str):
        if PyUnicode_GET_LENGTH(cloud_str) != 10:
            return False
        for i in range(10):
            c = <unsigned int>PyUnicode_READ_CHAR(cloud_str, i)
            if c >= 65 and c <= 90:
                c += 32
            if c != <unsigned int>k[i]:
                return False
        return True
    # Non-ASCII or non-str: str.lower() has its own rules (e.g. the Kelvin sign).
    return cloud_str.lower() == "kubernetes"


def get_parallel_threads(cloud_str=None, *, container_aware=False):
    """Threads for parallel work: max(4, cpus - 1), four times that on Kubernetes."""
    cdef long long cpus
    if not container_aware and _os.cpu_count is not _builtin_cpu_count:
        # os.cpu_count is patched (tests, SkyPilot's callers): the twin asks it
        # on every call and computes with whatever it returns, as SkyPilot does.
        return _py.get_parallel_threads(cloud_str)
    if container_aware:
        from . import limits
        cpus = limits.effective_cpu_count()
    else:
        cpus = _os_cpu_count()
    cpus = cpus - 1 if cpus > 5 else 4
    return cpus * 4 if _is_kubernetes(cloud_str) else cpus


def estimate_fd_for_dir(path):
    """5 file descriptors per entry of ``path`` (top level), counted without building a list."""
    cdef char buf[32768]
    cdef long got, count = 0
    cdef int fd
    cdef bytes encoded
    if type(path) is not str and type(path) is not bytes:
        if not hasattr(type(path), "__fspath__"):
            return _py.estimate_fd_for_dir(path)   # int fd, None: os.listdir's own rules
        path = PyOS_FSPath(path)
    try:
        encoded = _fspath_bytes(path)
    except ValueError:   # an embedded NUL, an unencodable name: os.listdir's own error
        return 5 * len(os.listdir(path))
    fd = _open_retry(PyBytes_AS_STRING(encoded), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd < 0:
        _raise_errno(path)
    with nogil:
        while True:
            got = sf_getdents64(fd, buf, sizeof(buf))
            if got <= 0:
                break
            count += sf_count_entries(buf, got)
    if got < 0:
        close(fd)
        _raise_errno(path)
    close(fd)
    return 5 * count


cdef int _warned_low_fd_limit = 0


cdef bint _isdir(object src) except -1:
    """os.path.isdir(src): stat() follows symlinks; unencodable or NUL paths are not dirs."""
    cdef stat_t st
    cdef bytes encoded
    if type(src) is str:
        try:
            encoded = _fspath_bytes(src)
        except ValueError:
            return False
    elif type(src) is bytes:
        encoded = <bytes>src
        if <size_t>PyBytes_GET_SIZE(encoded) != strlen(PyBytes_AS_STRING(encoded)):
            return False
    else:
        return os.path.isdir(src)
    return c_stat(PyBytes_AS_STRING(encoded), &st) == 0 and S_ISDIR(st.st_mode)


def get_max_workers_for_file_mounts(common_file_mounts, cloud_str=None):
    """Parallel rsync workers that fit in the soft open-file limit, capped by the thread count."""
    cdef rlimit rl
    cdef long long fd_limit, fd_per_rsync = 5, workers, threads, fds
    cdef bint unlimited
    if getrlimit(RLIMIT_NOFILE, &rl) != 0:
        _raise_errno()
    unlimited = rl.rlim_cur == RLIM_INFINITY
    fd_limit = <long long>rl.rlim_cur
    if not unlimited and fd_limit < 1024 and sf_first_time(&_warned_low_fd_limit):
        # Once per process, in any number of threads (with or without a GIL).
        _logger.warning(_common.fd_limit_warning(fd_limit))
    if not (type(common_file_mounts) is dict and not common_file_mounts):
        for src in common_file_mounts.values():
            if _isdir(src):
                fds = estimate_fd_for_dir(src)
                if fds > fd_per_rsync:
                    fd_per_rsync = fds
    threads = get_parallel_threads(cloud_str)
    if unlimited:
        return threads
    workers = (fd_limit - 100) // fd_per_rsync   # floor division, like Python's //
    if (fd_limit - 100) % fd_per_rsync != 0 and fd_limit - 100 < 0:
        workers -= 1
    if workers < 1:
        workers = 1
    return workers if workers < threads else threads


get_max_workers = get_max_workers_for_file_mounts


# ---------------------------------------------------------------------------
# 2.4 base36_encode
# ---------------------------------------------------------------------------

cdef const char *_DIGITS = b"0123456789abcdefghijklmnopqrstuvwxyz"
cdef unsigned long long _B36_12 = 4738381338321616896ULL  # 36**12


cdef Py_ssize_t _b36_u64(unsigned long long v, char *end, bint pad) noexcept nogil:
    """Write v in base 36 ending just before ``end``; 12 digits when padding."""
    cdef Py_ssize_t n = 0
    while v or (pad and n < 12) or n == 0:
        n += 1
        end[-n] = _DIGITS[v % 36]
        v //= 36
        if not v and not pad:
            break
    return n


def base36_encode(hex_str):
    """The base-36 spelling (0-9a-z) of the number ``int(hex_str, 16)``."""
    cdef char buf[32]
    cdef Py_ssize_t n
    cdef int overflow = 0
    cdef long long small
    cdef unsigned long long lo, mid, hi
    if type(hex_str) is str:
        value = PyLong_FromUnicodeObject(hex_str, 16)
    else:
        value = int(hex_str, 16)   # bytes, bytearray, and int()'s own TypeErrors
    small = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow < 0 or (overflow == 0 and small < 0):
        raise ValueError(f"base36_encode() needs a non-negative value, got {value:x}")
    if overflow == 0:
        n = _b36_u64(<unsigned long long>small, buf + 32, False)
        return (buf + 32 - n)[:n].decode("ascii")
    if value.bit_length() > 128:
        return _b36_big(value)
    # Up to 128 bits: three base-36**12 limbs, converted with 64-bit divisions.
    lo = PyLong_AsUnsignedLongLongMask(value)
    hi = PyLong_AsUnsignedLongLongMask(value >> 64)
    return _b36_u128(hi, lo)


cdef str _b36_u128(unsigned long long hi, unsigned long long lo):
    cdef char buf[40]
    cdef char *end = buf + 40
    cdef Py_ssize_t n = 0
    cdef unsigned long long r
    while hi:
        sf_split_u128(hi, lo, _B36_12, &hi, &lo, &r)
        n += _b36_u64(r, end - n, True)
    n += _b36_u64(lo, end - n, False)
    return (end - n)[:n].decode("ascii")


cdef str _b36_big(object value):
    """Values over 128 bits: peel 12 digits at a time with Python's long division."""
    parts = []
    cdef char buf[16]
    cdef Py_ssize_t n
    while value >= _B36_12:
        value, r = divmod(value, _B36_12)
        n = _b36_u64(<unsigned long long>r, buf + 16, True)
        parts.append((buf + 16 - n)[:n])
    n = _b36_u64(<unsigned long long>value, buf + 16, False)
    parts.append((buf + 16 - n)[:n])
    parts.reverse()
    return b"".join(parts).decode("ascii")


# ---------------------------------------------------------------------------
# 2.6 hash_file
# ---------------------------------------------------------------------------

cdef dict _hash_constructors = {}
# Names whose hashlib attribute builds the same object as hashlib.new(name), skipping
# new()'s name resolution; verified once per name before being trusted.
cdef frozenset _DIRECT_HASHES = frozenset(
    ["md5", "sha1", "sha224", "sha256", "sha384", "sha512", "blake2b", "blake2s",
     "sha3_224", "sha3_256", "sha3_384", "sha3_512"])


cdef object _new_hash(object name):
    if type(name) is not str:
        return hashlib.new(name)
    ctor = _hash_constructors.get(name)
    if ctor is not None:
        return ctor()
    h = hashlib.new(name)
    if name in _DIRECT_HASHES:
        ctor = getattr(hashlib, name, None)
        if ctor is not None:
            probe = ctor()
            if type(probe) is type(h) and probe.name == h.name:
                _hash_constructors[name] = ctor
    return h


cdef int _open_blocking(const char *path, int flags) except -2:
    """open(2) that may wait (a lease being broken), GIL released, Ctrl-C honoured."""
    cdef int fd
    while True:
        with nogil:
            fd = c_open(path, flags)
        if fd >= 0 or errno != EINTR:
            return fd
        PyErr_CheckSignals()


cdef int _open_for_reading(bytes encoded, object filename, stat_t *st) except -1:
    """open() + fstat with open()'s errors, never waiting for a FIFO's writer.

    O_NONBLOCK keeps the open of a FIFO with no writer from blocking (the
    caller decides what to do with a FIFO).  Regular files ignore it, except
    that an open conflicting with a lease held elsewhere (Samba oplocks, NFS
    delegations, F_SETLEASE) fails with EWOULDBLOCK instead of waiting for
    the lease break: then open again and wait, as a plain open() does.
    """
    cdef const char *c_path = PyBytes_AS_STRING(encoded)
    cdef int fd = _open_retry(c_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    if fd < 0 and errno == EAGAIN:   # EWOULDBLOCK is EAGAIN on Linux
        fd = _open_blocking(c_path, O_RDONLY | O_CLOEXEC)
    if fd < 0:
        _raise_errno(filename)
    if fstat(fd, st) != 0:
        close(fd)
        _raise_errno(filename)
    if S_ISDIR(st.st_mode):
        close(fd)
        sf_set_errno(EISDIR)
        _raise_errno(filename)
    if not S_ISREG(st.st_mode) and not S_ISFIFO(st.st_mode):
        _set_blocking(fd)   # devices and ttys keep their blocking reads
    return fd


cdef inline void _set_blocking(int fd) noexcept nogil:
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)


cdef Py_ssize_t _read_retry(int fd, char *buf, size_t n) except -2:
    """read(2) with the GIL released, retried on EINTR after running signal handlers."""
    cdef ssize_t got
    while True:
        with nogil:
            got = read(fd, buf, n)
        if got >= 0:
            return got
        if errno != EINTR:
            return -1
        PyErr_CheckSignals()   # a raising handler propagates (declared except -1)


cdef int _hash_serial(int fd, char *buf, size_t size, object update) except -1:
    """Feed ``update`` everything read from ``fd`` until read() returns 0.

    Only 0 is the end: procfs seq files and FUSE files with direct_io return
    short reads long before it.
    """
    cdef Py_ssize_t got
    while True:
        got = _read_retry(fd, buf, size)
        if got < 0:
            _raise_errno()
        if got == 0:
            return 0
        update(PyMemoryView_FromMemory(buf, got, PyBUF_READ))
        PyErr_CheckSignals()   # Ctrl-C interrupts a long hash between blocks


cdef object _hash_fifo(int fd, stat_t *st, object filename, object hash_alg):
    """A FIFO opened without waiting: hashed as open() + read would, if it has a writer.

    SkyPilot's open() of a named FIFO waits until a writer comes, forever if
    none does; with a writer it reads to the end.  One read with O_NONBLOCK
    tells the two apart: 0 means no writer (refused at once), EAGAIN a writer
    with nothing sent yet.  An anonymous pipe's open never waits: 0 is its end.
    """
    cdef size_t size = 1 << 20
    cdef Py_ssize_t got
    cdef char *buf = <char*>malloc(size)
    if buf == NULL:
        raise MemoryError()
    try:
        got = read(fd, buf, size)
        if got == 0 and st.st_dev != <dev_t>_kernel.pipefs_device():
            raise OSError(EINVAL, _FIFO_NO_WRITER, filename)
        if got < 0 and errno != EAGAIN:
            _raise_errno()
        _set_blocking(fd)
        digest = _new_hash(hash_alg)
        update = digest.update
        if got > 0:
            update(PyMemoryView_FromMemory(buf, got, PyBUF_READ))
        _hash_serial(fd, buf, size, update)
        return digest
    finally:
        free(buf)


cdef str _FIFO_NO_WRITER = _common.FIFO_NO_WRITER


def hash_file(path, hash_alg):
    """A live ``hashlib`` object of algorithm ``hash_alg`` fed with the whole file at ``path``."""
    cdef stat_t st
    cdef int fd
    cdef size_t size
    cdef char *buf
    if type(path) is not str and type(path) is not bytes:
        if not hasattr(type(path), "__fspath__"):
            return _py.hash_file(path, hash_alg)   # int fds and bad types: open()'s rules
        path = PyOS_FSPath(path)
    encoded = _fspath_bytes(path)
    fd = _open_for_reading(encoded, path, &st)
    try:
        if S_ISFIFO(st.st_mode):
            return _hash_fifo(fd, &st, path, hash_alg)
        digest = _new_hash(hash_alg)
        update = digest.update
        # Small regular files: one read gets it all (the next returns 0); 1 MiB blocks otherwise.
        size = <size_t>st.st_size + 1 if S_ISREG(st.st_mode) and st.st_size < (1 << 20) else (1 << 20)
        if size < 4096:
            size = 4096
        buf = <char*>malloc(size)
        if buf == NULL:
            raise MemoryError()
        try:
            _hash_serial(fd, buf, size, update)
        finally:
            free(buf)
        return digest
    finally:
        close(fd)


# ---------------------------------------------------------------------------
# 2.8 read_last_n_lines
# ---------------------------------------------------------------------------

cdef inline bint _same_stat(stat_t *a, stat_t *b) noexcept:
    """Size and change times equal: nothing wrote to the file in between."""
    return (a.st_size == b.st_size and a.st_mtim.tv_sec == b.st_mtim.tv_sec
            and a.st_mtim.tv_nsec == b.st_mtim.tv_nsec and a.st_ctim.tv_sec == b.st_ctim.tv_sec
            and a.st_ctim.tv_nsec == b.st_ctim.tv_nsec)


cdef Py_ssize_t _pread_full(int fd, char *buf, Py_ssize_t n, off_t offset) except -2:
    """pread until n bytes or end of file; GIL released; EINTR retried. -1 = errno set."""
    cdef Py_ssize_t got = 0
    cdef ssize_t r
    while got < n:
        with nogil:
            r = pread(fd, buf + got, n - got, offset + got)
        if r < 0:
            if errno == EINTR:
                PyErr_CheckSignals()   # a raising handler propagates (declared except -1)
                continue
            return -1
        if r == 0:
            break
        got += r
    return got


cdef int _utf8_name(str encoding):
    return encoding == "utf-8" or encoding == "utf8" or encoding == "UTF-8"


cdef object _decode_line(const char *p, Py_ssize_t n, bint add_newline, bint utf8,
                         const char *enc, const char *errs):
    """One line as SkyPilot builds it: decode, strip trailing '\\r', then add '\\n'."""
    cdef Py_ssize_t k
    if utf8 and sf_is_ascii(p, n):
        while n > 0 and p[n - 1] == b'\r':
            n -= 1
        line = PyUnicode_New(n + add_newline, 127)
        memcpy(PyUnicode_DATA(line), p, n)
        if add_newline:
            (<char*>PyUnicode_DATA(line))[n] = b'\n'
        return line
    text = PyUnicode_Decode(p, n, enc, errs)
    k = PyUnicode_GET_LENGTH(text)
    if k and PyUnicode_READ_CHAR(text, k - 1) == 13:
        text = text.rstrip("\r")
    return text + "\n" if add_newline else text


cdef struct _Tail:
    # What _scan_tail found: the bytes of the last n lines are [start, stop) --
    # stop before a final newline, whose empty piece is no line -- and buf (malloc'd,
    # cap bytes) holds the last block read, [block_start, block_start + got).
    off_t start
    off_t stop
    off_t block_start
    Py_ssize_t got
    Py_ssize_t cap
    char *buf


cdef int _scan_tail(int fd, stat_t *opened, long long want_total, _Tail *t) except -1:
    """Find the span of the last ``want_total`` lines; 1 when the file holds nothing.

    Scans backwards in blocks doubling from 8 KiB to 1 MiB, counting newlines and
    keeping only the last block.  A file may hold fewer bytes than lseek() says
    (every sysfs attribute says 4096; a log being truncated): a short block starts
    the scan over from the real end.  OSError (errno) for the caller to wrap.
    """
    cdef stat_t now
    cdef int rescans = 0
    cdef long long want
    cdef off_t end, pos
    cdef Py_ssize_t block, size
    cdef bint tail_checked
    cdef char *p
    cdef char *hit
    end = lseek(fd, 0, SEEK_END)   # EINVAL for /proc seq files
    if end < 0:
        if lseek(fd, 0, SEEK_CUR) < 0:
            # Pipes, FIFOs, ttys: Python's buffered seek() says this.
            raise _UnsupportedOperation("File or stream is not seekable.")
        _raise_errno()
    if end == 0:
        return 1
    t.cap = 8192
    t.buf = <char*>malloc(t.cap)
    if t.buf == NULL:
        raise MemoryError()
    while True:   # more than once only if the file changes while it is read
        want = want_total
        t.stop = pos = t.block_start = end
        t.got = 0
        t.start = 0
        tail_checked = False
        block = 8192
        while pos > 0:
            size = block if block < pos else pos
            if size > t.cap:
                free(t.buf)
                t.buf = <char*>malloc(size)
                if t.buf == NULL:
                    raise MemoryError()
                t.cap = size
            t.got = _pread_full(fd, t.buf, size, pos - size)
            if t.got < 0:
                _raise_errno()
            if t.got < size:
                # Shorter than announced: start again from its real end.
                end = pos - size + t.got
                t.stop = pos = t.block_start = end
                t.got = 0
                want = want_total
                tail_checked = False
                continue
            t.block_start = pos - size
            p = t.buf + size
            if not tail_checked:
                tail_checked = True
                if t.buf[size - 1] == b'\n':
                    t.stop -= 1
                    p -= 1
            with nogil:   # a scan over megabytes must not hold up other threads
                while want > 0:
                    hit = <char*>memrchr(t.buf, b'\n', p - t.buf)
                    if hit == NULL:
                        break
                    want -= 1
                    p = hit
            if want == 0:
                t.start = t.block_start + (p - t.buf) + 1
                return 0
            pos = t.block_start
            if block < (1 << 20):
                block *= 2
        if end != 0:
            return 0
        # Nothing there after all.  Emptied meanwhile: empty, as a call made just
        # after would find it; changed again since it was opened: scan it anew.
        # Still announcing bytes, unchanged (an empty sysfs attribute says 4096):
        # SkyPilot then indexes an empty list of lines.
        if fstat(fd, &now) != 0:
            _raise_errno()
        if now.st_size == 0:
            return 1
        if not _same_stat(&now, opened) and rescans < 1000:
            rescans += 1
            opened[0] = now
            end = lseek(fd, 0, SEEK_END)
            if end < 0:
                _raise_errno()
            continue
        raise IndexError("list index out of range")


cdef object _read_tail(int fd, _Tail *t, bint utf8, char **p, Py_ssize_t *span, bint *whole):
    """Point ``p``/``span`` at the bytes of the last lines, reading them if need be.

    A span longer than 64 KiB is read straight into an ASCII str, which is
    returned and must outlive ``p``: when the span is one ASCII line (a huge log
    line, say), ``whole`` is set and that str is the answer, with no second copy.
    Otherwise ``t.buf`` owns the bytes and None is returned.
    """
    cdef Py_ssize_t length = t.stop - t.start if t.stop > t.start else 0
    cdef Py_ssize_t got
    whole[0] = False
    if length and t.start >= t.block_start and t.stop <= t.block_start + t.got:
        p[0] = t.buf + (t.start - t.block_start)
        span[0] = length
        return None
    # The span reaches beyond the block in memory: read it whole.
    free(t.buf)
    t.buf = NULL
    holder = None
    if utf8 and length >= (1 << 16):
        holder = PyUnicode_New(length, 127)
        p[0] = <char*>PyUnicode_DATA(holder)
    else:
        t.buf = <char*>malloc(length if length else 1)
        if t.buf == NULL:
            raise MemoryError()
        p[0] = t.buf
    got = _pread_full(fd, p[0], length, t.start)
    if got < 0:
        _raise_errno()
    whole[0] = (holder is not None and got == length and p[0][length - 1] != b'\r'
                and memchr(p[0], b'\n', length) == NULL and sf_is_ascii(p[0], length))
    span[0] = got
    return holder


cdef list _split_lines(char *p, Py_ssize_t span, long long want_total, bint utf8,
                       const char *enc, const char *errs):
    """[p, p + span) split on '\\n' into at most ``want_total`` decoded lines."""
    cdef Py_ssize_t count = 1, i, line_len
    cdef char *q = p
    cdef char *hit
    with nogil:
        while True:
            hit = <char*>memchr(q, b'\n', p + span - q)
            if hit == NULL:
                break
            count += 1
            q = hit + 1
        while count > want_total:
            # The file changed between the scan and the read: keep the last n lines.
            hit = <char*>memchr(p, b'\n', span)
            span -= hit + 1 - p
            p = hit + 1
            count -= 1
    lines = PyList_New(count)
    q = p
    for i in range(count):
        hit = <char*>memchr(q, b'\n', p + span - q) if i + 1 < count else NULL
        line_len = (hit - q) if hit != NULL else (p + span - q)
        line = _decode_line(q, line_len, i + 1 < count, utf8, enc, errs)
        Py_INCREF(line)
        PyList_SET_ITEM(lines, i, line)
        q += line_len + 1
        if (i & 4095) == 4095:
            # Building many lines holds the GIL; offer it to waiting threads
            # now and then, as the interpreter's switch interval would.
            with nogil:
                pass
    return lines


def read_last_n_lines(file_path, n, chunk_size=8192, encoding="utf-8", errors="replace"):
    """The last ``n`` lines of a file, split on ``b'\\n'`` only, each decoded on its own.

    Every returned line but the last ends in ``'\\n'``; trailing ``'\\r'`` are
    stripped.  ``chunk_size`` is checked but does not change the result: the
    file is scanned backwards in growing blocks, and only the bytes of the
    returned lines are kept.
    """
    cdef int overflow = 0
    cdef long long want_total
    cdef stat_t st
    cdef int fd
    cdef _Tail tail
    cdef char *p = NULL
    cdef Py_ssize_t span = 0
    cdef bint utf8, whole = False
    cdef const char *enc
    cdef const char *errs
    cdef Py_ssize_t enc_len = 0, errs_len = 0
    # Only exact types take the fast path; the twin reproduces SkyPilot's order of
    # checks and errors for everything else (int subclasses, PathLike objects,
    # encoding names that are not plain UTF-8).
    if (type(n) is not int or type(chunk_size) is not int or type(encoding) is not str
            or type(errors) is not str):
        return _py.read_last_n_lines(file_path, n, chunk_size, encoding, errors)
    # Explicit raises, not assert statements: the checks hold under python -O.
    if n < 0:
        raise AssertionError(f"n must be non-negative. Got {n}")
    if chunk_size <= 0:
        raise AssertionError(f"chunk_size must be positive. Got {chunk_size}")
    path = file_path
    if type(path) is not str and type(path) is not bytes:
        return _py.read_last_n_lines(file_path, n, chunk_size, encoding, errors)
    try:
        enc = PyUnicode_AsUTF8AndSize(encoding, &enc_len)
        errs = PyUnicode_AsUTF8AndSize(errors, &errs_len)
    except UnicodeEncodeError:   # a lone surrogate: SkyPilot fails later, when decoding
        return _py.read_last_n_lines(file_path, n, chunk_size, encoding, errors)
    if <size_t>enc_len != strlen(enc) or <size_t>errs_len != strlen(errs):
        return _py.read_last_n_lines(file_path, n, chunk_size, encoding, errors)
    utf8 = _utf8_name(encoding)
    try:
        encoded = _fspath_bytes(path)
    except ValueError:   # NUL or unencodable: os.path.exists() says False
        raise _FileNotFound(f"File not found: {file_path}") from None
    if n == 0:
        if c_stat(PyBytes_AS_STRING(encoded), &st) != 0:
            raise _FileNotFound(f"File not found: {file_path}")
        return []
    want_total = PyLong_AsLongLongAndOverflow(n, &overflow)
    if overflow:
        want_total = 1LL << 62
    # Opening first saves the existence check's stat() on the common path; a
    # failed open asks stat() whether the path exists at all.
    try:
        fd = _open_for_reading(encoded, path, &st)
    except OSError as e:
        if c_stat(PyBytes_AS_STRING(encoded), &st) != 0:
            raise _FileNotFound(f"File not found: {file_path}") from None
        raise RuntimeError(f"Failed to read last {n} lines from {file_path}: {e}") from e
    tail.buf = NULL
    try:
        try:
            if _scan_tail(fd, &st, want_total, &tail):
                return []
            holder = _read_tail(fd, &tail, utf8, &p, &span, &whole)
            if whole:
                return [holder]
        except OSError as e:
            raise RuntimeError(f"Failed to read last {n} lines from {file_path}: {e}") from e
        return _split_lines(p, span, want_total, utf8, enc, errs)   # holder keeps p alive
    finally:
        free(tail.buf)
        close(fd)


# ---------------------------------------------------------------------------
# 2.9 format_float
# ---------------------------------------------------------------------------

cdef str _whole_float(double x):
    """'{:.0f}' of an integral double below 2**63 in magnitude (keeps '-0')."""
    cdef char buf[24]
    cdef char *end = buf + 24
    cdef Py_ssize_t n = 0
    cdef unsigned long long v = <unsigned long long>fabs(x)
    while True:
        n += 1
        end[-n] = <char>(48 + v % 10)
        v //= 10
        if v == 0:
            break
    if signbit(x):
        n += 1
        end[-n] = b'-'
    return (end - n)[:n].decode("ascii")


def format_float(num, precision=1):
    """Integers as ``str``; whole floats without decimals; others with ``precision`` decimals."""
    cdef double x
    cdef long p
    cdef int overflow = 0, length
    cdef char out[48]
    cdef char *s
    if type(num) is float:
        x = num
        if isfinite(x) and floor(x) == x:
            if fabs(x) < 9.2e18:
                return _whole_float(x)
            p = 0
        elif type(precision) is int:
            p = <long>PyLong_AsLongLongAndOverflow(precision, &overflow)
            if overflow or p < 0 or p > 1000:
                return _py.format_float(num, precision)
            if isfinite(x):
                length = sf_format_fixed(x, <int>p, out)
                if length >= 0:
                    return out[:length].decode("ascii")
        else:
            return _py.format_float(num, precision)
        s = PyOS_double_to_string(x, b'f', <int>p, 0, NULL)
        try:
            return s[:strlen(s)].decode("ascii")
        finally:
            PyMem_Free(s)
    if type(num) is int:
        return str(num)
    return _py.format_float(num, precision)


# ---------------------------------------------------------------------------
# 2.11 find_free_port
# ---------------------------------------------------------------------------

def find_free_port(start_port, *, end_port=65535, host=""):
    """The first port in ``[start_port, end_port)`` an IPv4 TCP socket can bind on ``host``.

    Racy by nature: another process may take the port before the caller does.
    """
    cdef in_addr_t addr = INADDR_ANY
    cdef int port, stop, next_port = 0, rc
    # The default host needs no resolution (and no Python call).
    if type(host) is str and PyUnicode_GET_LENGTH(host) == 0:
        address = ""
    else:
        address = _common.bind_address(host)
    # range()'s conversions, with its TypeErrors
    start = start_port if type(start_port) is int else PyNumber_Index(start_port)
    end = end_port if type(end_port) is int else PyNumber_Index(end_port)
    if start >= end:
        raise OSError("No free ports available.")
    if not 0 <= start <= 65535:
        _port_out_of_range()
    if address:
        if inet_pton(AF_INET, address.encode("ascii"), &addr) != 1:
            raise OSError(EINVAL, f"not an IPv4 address: {address!r}")
    port = start
    stop = end if end <= 65536 else 65536
    while True:
        with nogil:
            rc = sf_probe_ports(port, stop, addr, &next_port)
        if rc >= 0:
            return rc
        if rc == -2:
            _raise_errno()
        if rc == -1:
            break
        PyErr_CheckSignals()   # rc == -3: a pause to run signal handlers (raises if one does)
        port = next_port
    if end > 65536:
        _port_out_of_range()
    raise OSError("No free ports available.")


cdef int _port_out_of_range() except -1:
    """bind()'s OverflowError -- after the socket() SkyPilot creates first (EMFILE wins)."""
    cdef int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)
    if fd < 0:
        _raise_errno()
    close(fd)
    raise OverflowError("bind(): port must be 0-65535.")


# ---------------------------------------------------------------------------
# 2.12 truncate_long_string
# ---------------------------------------------------------------------------

cdef str _cut(str s, Py_ssize_t k, Py_ssize_t tail):
    """s[:k] + '...' + s[len(s) - tail:], in one allocation for ASCII strings."""
    cdef Py_ssize_t length = PyUnicode_GET_LENGTH(s)
    cdef char *out
    if PyUnicode_IS_ASCII(s):
        result = PyUnicode_New(k + 3 + tail, 127)
        out = <char*>PyUnicode_DATA(result)
        memcpy(out, PyUnicode_DATA(s), k)
        memcpy(out + k, b"...", 3)
        memcpy(out + k + 3, <char*>PyUnicode_DATA(s) + length - tail, tail)
        return result
    result = PyUnicode_Substring(s, 0, k) + "..."
    if tail:
        result += PyUnicode_Substring(s, length - tail, length)
    return result


def truncate_long_string(s, max_length=35, truncate_middle=False):
    """Shorten ``s`` to about ``max_length`` code points, marking the cut with '...'."""
    cdef Py_ssize_t m, length, keep, tail, head, first, total, word_start, cut, space, word_end
    cdef int overflow = 0
    if type(s) is not str or type(max_length) is not int:
        return _py.truncate_long_string(s, max_length, truncate_middle)
    m = <Py_ssize_t>PyLong_AsLongLongAndOverflow(max_length, &overflow)
    if overflow:
        return _py.truncate_long_string(s, max_length, truncate_middle)
    length = PyUnicode_GET_LENGTH(s)
    if length <= m:
        return s
    if truncate_middle:
        if m <= 3:
            return "..."
        keep = m - 3
        tail = keep // 2
        head = tail + keep % 2
        return _cut(s, head, tail)
    # End mode, SkyPilot's word heuristic without splitting the whole string:
    # words are the pieces between single spaces; stop at the first word
    # whose running length (spaces not counted) reaches m; never cut before m.
    first = PyUnicode_FindChar(s, 32, 0, length, 1)
    if first < 0:
        first = length
    if first > m:
        if m >= 0:
            return _cut(s, m, 0)
        return _cut(s, first + m if first + m > 0 else 0, 0)
    total = 0
    word_start = 0
    cut = 0
    while True:
        space = PyUnicode_FindChar(s, 32, word_start, length, 1)
        word_end = length if space < 0 else space
        total += word_end - word_start
        if total >= m or space < 0:
            break
        cut = space
        word_start = space + 1
    return _cut(s, cut if cut > m else m, 0)
