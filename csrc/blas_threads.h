/* Run OpenBLAS's parallel sections on fastnet's OpenMP threads.
 *
 * OpenBLAS >= 0.3.27 hands each parallel section to a callback, when one is
 * set, instead of waking its own pthreads (driver/others/blas_server.c,
 * exec_blas): callback(sync, dojob, numjobs, elsize, jobdata, dojob_data)
 * must call dojob(i, jobdata + i * elsize, dojob_data) for every i in
 * [0, numjobs) and return when all have finished. The contract, from
 * OpenBLAS's source:
 *   - the jobs must run *concurrently*: a level-3 job waits for the panels
 *     its siblings pack (level3_thread.c), so running them one after another
 *     on fewer threads deadlocks;
 *   - i is also the index of the per-thread scratch buffer and status slot
 *     OpenBLAS uses (blas_thread_buffer[i], thread_status[i]), so two
 *     sections must not run at the same time: a mutex serialises callers
 *     (two Python threads each in a GEMM), as OpenBLAS's own server does.
 * An OpenMP team of numjobs threads gives concurrency when this thread is not
 * already inside a parallel region (nested regions get one thread) and the
 * runtime may not shrink the team; otherwise the jobs run on short-lived
 * pthreads, which is slower but always correct.
 *
 * GNU OpenMP is not fork-safe: in a child forked after the parent ran a
 * parallel region, a new region waits for pool threads that do not exist
 * (multiprocessing's fork start method, data-loader workers). The child
 * handler registered by fastnet_blas_threads_init therefore sends every later
 * section to pthreads and turns the element-wise kernels serial. */
#ifndef FASTNET_BLAS_THREADS_H
#define FASTNET_BLAS_THREADS_H
#include <Python.h>
#include <omp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

typedef void (*fastnet_dojob_t)(int thread_num, void *jobdata, int dojob_data);

static pthread_mutex_t fastnet_blas_section = PTHREAD_MUTEX_INITIALIZER;
static volatile int fastnet_forked = 0;
static Py_ssize_t *fastnet_forked_min_size = NULL;

/* fastnet_blas_one_thread's state (below). */
typedef void (*fastnet_set_threads_t)(int);
typedef int (*fastnet_get_threads_t)(void);
static fastnet_set_threads_t fastnet_openblas_set_threads = NULL;
static fastnet_get_threads_t fastnet_openblas_get_threads = NULL;
static pthread_mutex_t fastnet_one_thread_lock = PTHREAD_MUTEX_INITIALIZER;
static int fastnet_one_thread_users = 0;
static int fastnet_one_thread_saved = 1;

static void fastnet_after_fork_in_child(void)
{
    fastnet_forked = 1;
    /* A section or a one-thread window open in another thread at fork time left
     * its lock held; the child has no such thread. */
    pthread_mutex_init(&fastnet_blas_section, NULL);
    pthread_mutex_init(&fastnet_one_thread_lock, NULL);
    fastnet_one_thread_users = 0;
    if (fastnet_forked_min_size != NULL)
        *fastnet_forked_min_size = PY_SSIZE_T_MAX;
}

/* Once, at import: min_size is the element-wise kernels' setting to turn
 * serial in a forked child. Returns 0 on success. */
static int fastnet_blas_threads_init(Py_ssize_t *min_size)
{
    fastnet_forked_min_size = min_size;
    return pthread_atfork(NULL, NULL, fastnet_after_fork_in_child);
}

typedef struct {
    fastnet_dojob_t dojob;
    int index;
    void *jobdata;
    int dojob_data;
} fastnet_blas_job;

static void *fastnet_blas_job_run(void *arg)
{
    fastnet_blas_job *job = (fastnet_blas_job *)arg;
    job->dojob(job->index, job->jobdata, job->dojob_data);
    return NULL;
}

/* Jobs 1..n-1 on new pthreads, job 0 on this thread. */
static void fastnet_blas_on_pthreads(fastnet_dojob_t dojob, int numjobs, size_t elsize,
                                     char *jobdata, int dojob_data)
{
    enum { MAX_JOBS = 256 };  /* OpenBLAS's MAX_CPU_NUMBER is at most this */
    pthread_t threads[MAX_JOBS];
    fastnet_blas_job jobs[MAX_JOBS];
    int i;
    for (i = 0; i < numjobs && i < MAX_JOBS; i++) {
        jobs[i].dojob = dojob;
        jobs[i].index = i;
        jobs[i].jobdata = jobdata + (size_t)i * elsize;
        jobs[i].dojob_data = dojob_data;
    }
    for (i = 1; i < numjobs; i++) {
        /* Jobs already started wait for this one: there is no way back. */
        if (i >= MAX_JOBS || pthread_create(&threads[i], NULL, fastnet_blas_job_run, &jobs[i]) != 0) {
            fprintf(stderr, "fastnet: cannot start thread %d of an OpenBLAS section\n", i);
            abort();
        }
    }
    fastnet_blas_job_run(&jobs[0]);
    for (i = 1; i < numjobs; i++)
        pthread_join(threads[i], NULL);
}

static void fastnet_blas_threads(int sync, fastnet_dojob_t dojob, int numjobs,
                                 size_t elsize, void *jobdata, int dojob_data)
{
    char *base = (char *)jobdata;
    (void)sync; /* OpenBLAS always waits for the section (sync = 1). */
    if (numjobs <= 0)
        return;
    pthread_mutex_lock(&fastnet_blas_section);
    if (numjobs == 1) {
        dojob(0, base, dojob_data);
    } else if (!fastnet_forked && !omp_in_parallel() && !omp_get_dynamic()
               && omp_get_thread_limit() >= numjobs) {
        #pragma omp parallel num_threads(numjobs)
        {
            int i = omp_get_thread_num();
            dojob(i, base + (size_t)i * elsize, dojob_data);
        }
    } else {
        fastnet_blas_on_pthreads(dojob, numjobs, elsize, base, dojob_data);
    }
    pthread_mutex_unlock(&fastnet_blas_section);
}

/* NumPy's OpenBLAS on one thread while any caller is between begin (1) and
 * end (0): for GEMMs fastnet runs side by side on its own threads (and for
 * NetBatch's run_many), which must not open OpenBLAS sections of their own.
 * The thread count is process-wide, so callers are counted: the first saves
 * and sets it, the last restores it; a GEMM another thread makes meanwhile
 * runs on one thread too. set/get are scipy_openblas_set/get_num_threads64_,
 * given once at import (fastnet_blas_one_thread_init). */

static void fastnet_blas_one_thread_init(fastnet_set_threads_t set, fastnet_get_threads_t get)
{
    fastnet_openblas_set_threads = set;
    fastnet_openblas_get_threads = get;
}

static void fastnet_blas_one_thread(int begin)
{
    pthread_mutex_lock(&fastnet_one_thread_lock);
    if (begin) {
        if (fastnet_one_thread_users++ == 0) {
            fastnet_one_thread_saved = fastnet_openblas_get_threads();
            fastnet_openblas_set_threads(1);
        }
    } else if (--fastnet_one_thread_users == 0) {
        fastnet_openblas_set_threads(fastnet_one_thread_saved);
    }
    pthread_mutex_unlock(&fastnet_one_thread_lock);
}
#endif
