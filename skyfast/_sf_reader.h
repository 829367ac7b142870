/* hash_file's read-ahead helper thread (see _core.pyx, _hash_overlapped). */
#ifndef SKYFAST_SF_READER_H
#define SKYFAST_SF_READER_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
/* Double-buffered reading for hash_file: a helper thread read()s the next
   blocks while the caller hashes the current one, so the page-cache copy
   (about a tenth of SHA-256's time with SHA-NI) overlaps the hashing.
   Slots are handed over in order through two semaphores; the helper
   blocks every signal, so handlers and EINTR stay with the caller. */
#include <semaphore.h>
typedef struct {
    int fd, nslots, next, err, stop;
    size_t block;
    char *buf;
    ssize_t *got;
    sem_t free_slots, full_slots;
    pthread_t thread;
} sf_reader;

static void *sf_reader_main(void *arg) {
    sf_reader *r = (sf_reader *)arg;
    for (int slot = 0;; slot = (slot + 1) % r->nslots) {
        while (sem_wait(&r->free_slots) != 0) {}
        if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) return NULL;
        ssize_t n;
        do n = read(r->fd, r->buf + (size_t)slot * r->block, r->block);
        while (n < 0 && errno == EINTR);
        if (n < 0) r->err = errno;
        r->got[slot] = n;
        sem_post(&r->full_slots);
        if (n <= 0) return NULL;
    }
}

/* NULL (errno set) when the thread cannot start: the caller reads serially. */
static sf_reader *sf_reader_start(int fd, size_t block, int nslots) {
    sf_reader *r = (sf_reader *)calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    r->buf = (char *)malloc(block * (size_t)nslots);
    r->got = (ssize_t *)calloc((size_t)nslots, sizeof(ssize_t));
    if (r->buf == NULL || r->got == NULL) goto fail;
    r->fd = fd; r->block = block; r->nslots = nslots;
    sem_init(&r->free_slots, 0, (unsigned)nslots);
    sem_init(&r->full_slots, 0, 0);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&r->thread, NULL, sf_reader_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        sem_destroy(&r->free_slots); sem_destroy(&r->full_slots);
        errno = rc;
        goto fail;
    }
    return r;
fail:
    free(r->buf); free(r->got); free(r);
    return NULL;
}

/* The next block: 0 with *data and *n set (n == 0 at end of file, -1 with
   errno on a read error); -1 when a signal interrupted the wait. */
static int sf_reader_next(sf_reader *r, char **data, ssize_t *n) {
    if (sem_wait(&r->full_slots) != 0) return -1;
    *data = r->buf + (size_t)r->next * r->block;
    *n = r->got[r->next];
    if (*n < 0) errno = r->err;
    return 0;
}

/* The block from sf_reader_next is hashed: its slot may be refilled. */
static void sf_reader_release(sf_reader *r) {
    r->next = (r->next + 1) % r->nslots;
    sem_post(&r->free_slots);
}

static void sf_reader_stop(sf_reader *r) {
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
    sem_post(&r->free_slots);   /* wakes a helper waiting for a slot */
    pthread_join(r->thread, NULL);
    sem_destroy(&r->free_slots); sem_destroy(&r->full_slots);
    free(r->buf); free(r->got); free(r);
}

#endif /* SKYFAST_SF_READER_H */
