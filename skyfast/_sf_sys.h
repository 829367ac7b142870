/* System calls and small C helpers of the compiled core (_core.pyx).

   Header-only: every function is static, so _core.pyx includes this file and
   nothing else is compiled or linked.  The Python-facing logic stays in the
   .pyx; what is here only wraps system calls or does arithmetic Python has
   no cheap way to do. */
#ifndef SKYFAST_SF_SYS_H
#define SKYFAST_SF_SYS_H

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <pthread.h>
#include <string.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434  /* same number on every Linux architecture */
#endif

/* pidfd_open(2) has no glibc wrapper before 2.36. */
static void sf_set_errno(int e) { errno = e; }
static int sf_getpid(void) { return (int)getpid(); }
static int sf_tgkill0(int pid) { return (int)syscall(SYS_tgkill, pid, pid, 0); }
static int sf_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

/* Directory entries without building names: getdents64 into a caller buffer. */
struct sf_dirent64 { unsigned long long d_ino; long long d_off;
                     unsigned short d_reclen; unsigned char d_type; char d_name[]; };
static long sf_getdents64(int fd, char *buf, size_t n) {
    return syscall(SYS_getdents64, fd, buf, n);
}
static long sf_count_entries(const char *buf, long n) {
    long count = 0, off = 0;
    while (off < n) {
        const struct sf_dirent64 *d = (const struct sf_dirent64 *)(buf + off);
        const char *s = d->d_name;
        if (!(s[0] == '.' && (s[1] == 0 || (s[1] == '.' && s[2] == 0)))) count++;
        off += d->d_reclen;
    }
    return count;
}

/* CPUs in this thread's affinity mask; the mask grows past 1024 CPUs. */
static int sf_affinity_count(void) {
    cpu_set_t small;
    if (sched_getaffinity(0, sizeof(small), &small) == 0) return CPU_COUNT(&small);
    if (errno != EINVAL) return -1;
    for (size_t ncpus = 2048; ncpus <= (1u << 22); ncpus *= 2) {
        size_t size = CPU_ALLOC_SIZE(ncpus);
        cpu_set_t *set = CPU_ALLOC(ncpus);
        if (set == NULL) return -1;
        if (sched_getaffinity(0, size, set) == 0) {
            int count = CPU_COUNT_S(size, set);
            CPU_FREE(set);
            return count;
        }
        int saved = errno;
        CPU_FREE(set);
        if (saved != EINVAL) { errno = saved; return -1; }
    }
    errno = EINVAL;
    return -1;
}

static double sf_monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Cached kernel values are dropped in a forked child (docs/contract.md §4): fork()
   runs this handler, which is cheaper than a getpid() on every call. */
static volatile unsigned long sf_fork_generation = 0;
static void sf_after_fork_child(void) { sf_fork_generation++; }
static int sf_register_atfork(void) { return pthread_atfork(NULL, NULL, sf_after_fork_child); }

/* '{:.pf}' of a finite, non-integral double: correctly rounded, ties to
   even on the exact binary value, as CPython's dtoa does.  x = mant / 2**shift
   exactly, so round(x * 10**p) is integer arithmetic on 128 bits.  Returns
   the length written to out, or -1 where the digits would not fit 64 bits
   (the caller then asks PyOS_double_to_string). */
static int sf_format_fixed(double x, int p, char *out) {
    static const unsigned long long POW10[20] = {
        1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
        100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL,
        1000000000000ULL, 10000000000000ULL, 100000000000000ULL,
        1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
        1000000000000000000ULL, 10000000000000000000ULL};
    if (p < 0 || p > 19) return -1;
    int neg = signbit(x) != 0, e2;
    double m = frexp(fabs(x), &e2);
    unsigned long long mant = (unsigned long long)ldexp(m, 53);
    int shift = 53 - e2;
    if (shift <= 0) return -1;
    unsigned __int128 prod = (unsigned __int128)mant * POW10[p], q;
    if (shift >= 120) {
        q = 0;  /* prod < 2**117 < half: rounds down */
    } else {
        q = prod >> shift;
        unsigned __int128 r = prod - (q << shift), half = (unsigned __int128)1 << (shift - 1);
        if (r > half || (r == half && (q & 1))) q++;
    }
    if (q >> 64) return -1;
    unsigned long long v = (unsigned long long)q;
    char digits[24];
    int n = 0;
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n < p + 1) digits[n++] = '0';
    int len = 0;
    if (neg) out[len++] = '-';
    for (int i = n - 1; i >= 0; i--) {
        out[len++] = digits[i];
        if (i == p && p > 0) out[len++] = '.';
    }
    return len;
}

static int sf_is_ascii(const char *p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        unsigned long long w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL) return 0;
    }
    for (; i < n; i++) if ((unsigned char)p[i] & 0x80) return 0;
    return 1;
}

/* Bind probes over [port, end): one socket serves every failed bind (a
   failed bind leaves it unbound).  Returns the free port, -1 when the
   range is exhausted, -2 with errno set when socket() fails, -3 when
   interrupted (the caller checks signals and resumes at *next). */
static int sf_probe_ports(int port, int end, in_addr_t addr, int *next) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -2;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = addr;
    int budget = 4096;  /* probes between signal checks */
    for (; port < end; port++) {
        if (budget-- == 0) { close(fd); *next = port; return -3; }
        sa.sin_port = htons((unsigned short)port);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) { close(fd); return port; }
        if (errno != EADDRINUSE && errno != EACCES && errno != EADDRNOTAVAIL) {
            /* unusual failure: start over with a fresh socket */
            close(fd);
            fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) return -2;
        }
    }
    close(fd);
    return -1;
}

/* base36_encode: 128-bit division by 36**12 in one step. */
typedef unsigned __int128 sf_u128;
static void sf_split_u128(unsigned long long hi, unsigned long long lo,
                          unsigned long long base, unsigned long long *q_hi,
                          unsigned long long *q_lo, unsigned long long *r) {
    sf_u128 v = ((sf_u128)hi << 64) | lo;
    sf_u128 q = v / base;
    *r = (unsigned long long)(v - q * base);
    *q_hi = (unsigned long long)(q >> 64);
    *q_lo = (unsigned long long)q;
}

#endif /* SKYFAST_SF_SYS_H */
