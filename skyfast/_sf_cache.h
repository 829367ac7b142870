/* The compiled core's three cache entries (online CPUs and cgroup quota,
   memory, os.cpu_count()), safe without the GIL.

   Free-threaded CPython runs Python threads in parallel, so an entry may be
   read while another thread stores it.  Each entry is a seqlock: a writer
   makes `seq` odd, writes, and makes it even again; a reader copies the fields
   and keeps the copy only if `seq` was even and unchanged.  Readers never
   wait and never see a torn entry; a writer that finds another writer at
   work skips its store (the other one stores a value just as fresh), while an
   invalidation waits for it (a clear must not be undone).  Entries are
   dropped in a forked child (sf_fork_generation, _sf_sys.h). */
#ifndef SKYFAST_SF_CACHE_H
#define SKYFAST_SF_CACHE_H

typedef struct {
    unsigned long seq;        /* odd while a write is in progress */
    unsigned long generation; /* sf_fork_generation when stored */
    double expires;           /* on the monotonic clock */
    long long value;
    double fvalue;
    int valid;
} sf_entry;

static double sf_ttl = 0.0;  /* the window: set from skyfast._cache when the core subscribes */

static double sf_get_ttl(void) {
    double ttl;
    __atomic_load(&sf_ttl, &ttl, __ATOMIC_RELAXED);
    return ttl;
}

static void sf_set_ttl(double ttl) { __atomic_store(&sf_ttl, &ttl, __ATOMIC_RELAXED); }

/* 1 and the value when the entry is fresh for this process, else 0. */
static int sf_entry_load(sf_entry *e, unsigned long generation, double now,
                         long long *value, double *fvalue) {
    unsigned long seq = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
    if (seq & 1) return 0;
    int valid = __atomic_load_n(&e->valid, __ATOMIC_RELAXED);
    unsigned long gen = __atomic_load_n(&e->generation, __ATOMIC_RELAXED);
    double expires, fv;
    __atomic_load(&e->expires, &expires, __ATOMIC_RELAXED);
    long long v = __atomic_load_n(&e->value, __ATOMIC_RELAXED);
    __atomic_load(&e->fvalue, &fv, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&e->seq, __ATOMIC_RELAXED) != seq) return 0;
    if (!valid || sf_get_ttl() <= 0 || gen != generation || !(now < expires)) return 0;
    *value = v;
    *fvalue = fv;
    return 1;
}

static int sf_entry_begin(sf_entry *e, int wait, unsigned long *seq) {
    for (;;) {
        unsigned long s = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
        if (!(s & 1) && __atomic_compare_exchange_n(&e->seq, &s, s + 1, 0,
                                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            *seq = s + 1;
            return 1;
        }
        if (!wait) return 0;
    }
}

static void sf_entry_end(sf_entry *e, unsigned long seq) {
    __atomic_store_n(&e->seq, seq + 1, __ATOMIC_RELEASE);
}

static void sf_entry_store(sf_entry *e, unsigned long generation, double now,
                           long long value, double fvalue) {
    unsigned long seq;
    double ttl = sf_get_ttl(), expires = now + ttl;
    if (!sf_entry_begin(e, 0, &seq)) return;
    __atomic_store_n(&e->value, value, __ATOMIC_RELAXED);
    __atomic_store(&e->fvalue, &fvalue, __ATOMIC_RELAXED);
    __atomic_store(&e->expires, &expires, __ATOMIC_RELAXED);
    __atomic_store_n(&e->generation, generation, __ATOMIC_RELAXED);
    __atomic_store_n(&e->valid, ttl > 0, __ATOMIC_RELAXED);
    sf_entry_end(e, seq);
}

static void sf_entry_invalidate(sf_entry *e) {
    unsigned long seq;
    sf_entry_begin(e, 1, &seq);
    __atomic_store_n(&e->valid, 0, __ATOMIC_RELAXED);
    sf_entry_end(e, seq);
}

/* 1 for the first caller only, in any number of threads. */
static int sf_first_time(int *flag) { return __atomic_exchange_n(flag, 1, __ATOMIC_ACQ_REL) == 0; }

#endif /* SKYFAST_SF_CACHE_H */
