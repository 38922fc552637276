# The statistics kernel's entry on raw pointers (csrc/stats.pyx), for
# csrc/program.pyx: a compiled pass that records diagnostics adds each
# recorded array's statistics inside its one call. stats.pyx fills a table
# of the two dtypes' entries and exports it as the capsule
# ``_entries_capsule``; a module cimporting this file calls load_stats() once
# at import and then calls through ``fastnet_stats``.
#
# An entry adds the statistics of x (n,) to counts (nbins,) and totals (5,)
# exactly as accumulate_stats_ does; sub is scratch of
# stats_scratch_size(nbins) int64 counters.

from cpython.pycapsule cimport PyCapsule_GetPointer

cdef extern from *:
    """
    typedef void (*fastnet_stats_float_f)(const float*, Py_ssize_t, const double*, int,
                                          long long*, double*, double, double, long long*);
    typedef void (*fastnet_stats_double_f)(const double*, Py_ssize_t, const double*, int,
                                           long long*, double*, double, double, long long*);
    typedef struct { fastnet_stats_float_f single; fastnet_stats_double_f double_; }
        fastnet_stats_t;
    static fastnet_stats_t *fastnet_stats = 0;
    """
    ctypedef void (*fastnet_stats_float_f)(const float*, Py_ssize_t, const double*, int,
                                           long long*, double*, double, double,
                                           long long*) noexcept nogil
    ctypedef void (*fastnet_stats_double_f)(const double*, Py_ssize_t, const double*, int,
                                            long long*, double*, double, double,
                                            long long*) noexcept nogil
    ctypedef struct fastnet_stats_t:
        fastnet_stats_float_f single
        fastnet_stats_double_f double_
    fastnet_stats_t* fastnet_stats


cdef inline load_stats():
    """Point this module at the statistics entries of fastnet._kernels.stats."""
    global fastnet_stats
    from fastnet._kernels.stats import _entries_capsule
    fastnet_stats = <fastnet_stats_t*>PyCapsule_GetPointer(_entries_capsule, b"fastnet_stats_t")
