# The shape checks of the kernels' def entries.
#
# The cores read and write through raw pointers with the sizes taken from one
# or two arguments, so an argument of another size is read or written out of
# bounds (a crash, a corrupted heap, or numbers from past the end). Each entry
# (fastnet.kernels.*, a public module) therefore checks every array against the
# sizes it takes before the core runs: a few integer comparisons per call,
# nothing per element. Layers and optimizers pass consistent arrays; compiled
# passes (csrc/program.pyx) call the cores directly and are not checked again.


cdef inline str _dims_text(const Py_ssize_t* dims, int ndim):
    if ndim == 1:
        return f"({dims[0]},)"
    return "(" + ", ".join([str(dims[i]) for i in range(ndim)]) + ")"


cdef inline int check_dims(str name, const Py_ssize_t* got, int ndim, Py_ssize_t d0,
                           Py_ssize_t d1=-1, Py_ssize_t d2=-1) except -1:
    """Raise ValueError naming ``name`` unless its first ``ndim`` sizes are ``d0, d1, d2``."""
    cdef Py_ssize_t want[3]
    cdef int i
    want[0], want[1], want[2] = d0, d1, d2
    for i in range(ndim):
        if got[i] != want[i]:
            raise ValueError(f"{name} must have shape {_dims_text(want, ndim)}; got "
                             f"{_dims_text(got, ndim)}")
    return 0
