"""LSTM kernels: a whole layer over T time steps, forward and backward.

The gates of step t are ``z_t = [x_t, h_{t-1}] @ W + b`` with
``W (D + H, 4H)``. Because W is stored row-major, its first D rows ``Wx`` and
its last H rows ``Wh`` are contiguous blocks, so the concatenation is never
formed: the input part of every step is one GEMM over all T steps at once
(``X (T*N, D) @ Wx``, before the recurrence), and each step adds
``h_{t-1} @ Wh`` into the same rows (GEMM with beta = 1). One fused pass per
step then applies the nonlinearities and the cell update:

    i, f, o = sigmoid(z_i, z_f, z_o),  g = tanh(z_g)
    c_t = f * c_{t-1} + i * g,         h_t = o * tanh(c_t)

The four column blocks of W (and of ``gates``) are ordered as ``gate_order``
says, a permutation of 'ifog' (the helper code's order is 'ifog', PyTorch's
'ifgo').

Backward runs the recurrence in reverse with one fused pass per step giving
``dz_t``, and one GEMM per step for ``dh_{t-1} = dz_t @ Wh.T``; the weight,
bias and input gradients are then whole-sequence GEMMs/sums over all
``dz``: ``dWx = X.T @ dZ``, ``dWh = [h0, h_0..h_{T-2}].T @ dZ``,
``dX = dZ @ Wx.T``. A single LSTM cell step is the case T = 1.

Arrays are C-contiguous and share one dtype, float32 or float64. The caller
(``fastnet.layers.lstm``) validates them; these functions trust them and
allocate nothing; T, N, D and H are at least 1.
"""
from cython cimport floating
from libc.math cimport exp, expf, tanh, tanhf
from libc.string cimport memcpy, memset

from _blas cimport gemm, load_blas

load_blas()


# The same element-wise math as csrc/_activation.pxd's Sigmoid and Tanh.
cdef inline floating _sigmoid(floating a) noexcept nogil:
    if floating is float:
        return 1 / (1 + expf(-a))
    else:
        return 1 / (1 + exp(-a))


cdef inline floating _tanh(floating a) noexcept nogil:
    if floating is float:
        return tanhf(a)
    else:
        return tanh(a)


cdef void _step_forward(floating* z, const floating* c_prev, floating* c_out,
                        floating* h_out, Py_ssize_t n, Py_ssize_t hid,
                        const Py_ssize_t* off) noexcept nogil:
    # z: (n, 4 hid) pre-activations, overwritten with the activated gates.
    cdef Py_ssize_t r, j
    cdef floating* zi
    cdef floating* zf
    cdef floating* zo
    cdef floating* zg
    cdef floating* cn
    cdef floating* hn
    cdef const floating* cp
    cdef floating ig, fg, og, gg, c
    for r in range(n):
        zi = z + r * 4 * hid + off[0]
        zf = z + r * 4 * hid + off[1]
        zo = z + r * 4 * hid + off[2]
        zg = z + r * 4 * hid + off[3]
        cp = c_prev + r * hid
        cn = c_out + r * hid
        hn = h_out + r * hid
        for j in range(hid):
            ig = _sigmoid(zi[j])
            fg = _sigmoid(zf[j])
            og = _sigmoid(zo[j])
            gg = _tanh(zg[j])
            zi[j] = ig
            zf[j] = fg
            zo[j] = og
            zg[j] = gg
            c = fg * cp[j] + ig * gg
            cn[j] = c
            hn[j] = og * _tanh(c)


cdef void _step_backward(const floating* gates, const floating* c_t,
                         const floating* c_prev, const floating* dh_out,
                         const floating* dh_carry, floating* dc_carry, floating* dz,
                         Py_ssize_t n, Py_ssize_t hid, const Py_ssize_t* off) noexcept nogil:
    # dh_carry: dL/dh_t through step t+1; dc_carry: dL/dc_t through step t+1,
    # overwritten with dL/dc_{t-1}. dz (n, 4 hid) receives dL/dz_t.
    cdef Py_ssize_t r, j, row
    cdef floating ig, fg, og, gg, tc, dh, dc
    for r in range(n):
        row = r * 4 * hid
        for j in range(hid):
            ig = gates[row + off[0] + j]
            fg = gates[row + off[1] + j]
            og = gates[row + off[2] + j]
            gg = gates[row + off[3] + j]
            tc = _tanh(c_t[r * hid + j])
            dh = dh_out[r * hid + j] + dh_carry[r * hid + j]
            dc = dc_carry[r * hid + j] + dh * og * (1 - tc * tc)
            dz[row + off[0] + j] = dc * gg * ig * (1 - ig)
            dz[row + off[1] + j] = dc * c_prev[r * hid + j] * fg * (1 - fg)
            dz[row + off[2] + j] = dh * tc * og * (1 - og)
            dz[row + off[3] + j] = dc * ig * (1 - gg * gg)
            dc_carry[r * hid + j] = dc * fg


cdef void _broadcast_rows(floating* out, const floating* b, Py_ssize_t rows,
                          Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t r
    for r in range(rows):
        memcpy(out + r * m, b, m * sizeof(floating))


cdef void _column_sums(const floating* a, Py_ssize_t rows, Py_ssize_t m,
                       floating* out) noexcept nogil:
    cdef Py_ssize_t r, j
    cdef const floating* row
    for j in range(m):
        out[j] = 0
    for r in range(rows):
        row = a + r * m
        for j in range(m):
            out[j] += row[j]


cdef _gate_offsets(str gate_order, Py_ssize_t hid, Py_ssize_t* off):
    # off[k] = column offset of gate 'ifog'[k] within a row of 4 hid.
    for k, gate in enumerate("ifog"):
        off[k] = gate_order.index(gate) * hid


def lstm_forward(const floating[:, :, ::1] x, const floating[:, ::1] h0,
                 const floating[:, ::1] c0, const floating[:, ::1] W,
                 const floating[::1] b, str gate_order, floating[:, :, ::1] gates,
                 floating[:, :, ::1] c, floating[:, :, ::1] h):
    """Run an LSTM layer over T steps.

    Parameters
    ----------
    x : (T, N, D) float32 or float64, C-contiguous
    h0, c0 : (N, H) initial hidden and cell state
    W : (D + H, 4H) gate weights, column blocks in ``gate_order``
    b : (4H,) or None (no bias)
    gate_order : str, a permutation of 'ifog'
    gates : (T, N, 4H), overwritten with the activated gates (for backward)
    c, h : (T, N, H), overwritten with the cell and hidden states c_t, h_t
    """
    cdef int steps = x.shape[0], n = x.shape[1], d = x.shape[2], hid = h0.shape[1]
    cdef int m = 4 * hid
    cdef Py_ssize_t off[4]
    cdef Py_ssize_t t
    cdef bint has_bias = b is not None
    cdef floating beta = 1 if has_bias else 0
    cdef const floating* wh = &W[0, 0] + <Py_ssize_t>d * m
    cdef const floating* hp
    cdef const floating* cp
    _gate_offsets(gate_order, hid, off)
    with nogil:
        if has_bias:
            _broadcast_rows(&gates[0, 0, 0], &b[0], <Py_ssize_t>steps * n, m)
        gemm(False, False, steps * n, m, d, <floating>1, &x[0, 0, 0], d, &W[0, 0], m,
             beta, &gates[0, 0, 0], m)
        hp = &h0[0, 0]
        cp = &c0[0, 0]
        for t in range(steps):
            gemm(False, False, n, m, hid, <floating>1, hp, hid, wh, m,
                 <floating>1, &gates[t, 0, 0], m)
            _step_forward(&gates[t, 0, 0], cp, &c[t, 0, 0], &h[t, 0, 0], n, hid, off)
            hp = &h[t, 0, 0]
            cp = &c[t, 0, 0]


def lstm_backward(const floating[:, :, ::1] dh, const floating[:, ::1] dc_last,
                  const floating[:, :, ::1] x, const floating[:, ::1] h0,
                  const floating[:, ::1] c0, const floating[:, ::1] W, str gate_order,
                  const floating[:, :, ::1] gates, const floating[:, :, ::1] c,
                  const floating[:, :, ::1] h, floating[:, :, ::1] dgates,
                  floating[:, :, ::1] dx, floating[:, ::1] dh0, floating[:, ::1] dc0,
                  floating[:, ::1] dW, floating[::1] db):
    """Backpropagate through an LSTM layer run by :func:`lstm_forward`.

    Parameters
    ----------
    dh : (T, N, H) dL/dh_t from above (read only)
    dc_last : (N, H) dL/dc_{T-1} from after the sequence, or None (zero)
    x, h0, c0, W, gate_order, gates, c, h : as given to / written by the forward
    dgates : (T, N, 4H) workspace, overwritten with dL/dz_t
    dx : (T, N, D), overwritten with dL/dx_t, or None (not computed)
    dh0, dc0 : (N, H), overwritten with dL/dh0 and dL/dc0
    dW : (D + H, 4H), overwritten with dL/dW
    db : (4H,), overwritten with dL/db, or None (not computed)
    """
    cdef int steps = x.shape[0], n = x.shape[1], d = x.shape[2], hid = h0.shape[1]
    cdef int m = 4 * hid
    cdef Py_ssize_t off[4]
    cdef Py_ssize_t t
    cdef bint want_dx = dx is not None, want_db = db is not None
    cdef bint has_dc = dc_last is not None
    cdef const floating* wh = &W[0, 0] + <Py_ssize_t>d * m
    cdef floating* dwh = &dW[0, 0] + <Py_ssize_t>d * m
    cdef const floating* cp
    _gate_offsets(gate_order, hid, off)
    with nogil:
        memset(&dh0[0, 0], 0, <Py_ssize_t>n * hid * sizeof(floating))
        if has_dc:
            memcpy(&dc0[0, 0], &dc_last[0, 0], <Py_ssize_t>n * hid * sizeof(floating))
        else:
            memset(&dc0[0, 0], 0, <Py_ssize_t>n * hid * sizeof(floating))
        for t in range(steps - 1, -1, -1):
            cp = &c[t - 1, 0, 0] if t > 0 else &c0[0, 0]
            _step_backward(&gates[t, 0, 0], &c[t, 0, 0], cp, &dh[t, 0, 0], &dh0[0, 0],
                           &dc0[0, 0], &dgates[t, 0, 0], n, hid, off)
            # dh0 now serves as dL/dh_{t-1} for the next (earlier) step.
            gemm(False, True, n, hid, m, <floating>1, &dgates[t, 0, 0], m, wh, m,
                 <floating>0, &dh0[0, 0], hid)
        gemm(True, False, d, m, steps * n, <floating>1, &x[0, 0, 0], d,
             &dgates[0, 0, 0], m, <floating>0, &dW[0, 0], m)
        gemm(True, False, hid, m, n, <floating>1, &h0[0, 0], hid, &dgates[0, 0, 0], m,
             <floating>0, dwh, m)
        if steps > 1:
            gemm(True, False, hid, m, (steps - 1) * n, <floating>1, &h[0, 0, 0], hid,
                 &dgates[1, 0, 0], m, <floating>1, dwh, m)
        if want_db:
            _column_sums(&dgates[0, 0, 0], <Py_ssize_t>steps * n, m, &db[0])
        if want_dx:
            gemm(False, True, steps * n, d, m, <floating>1, &dgates[0, 0, 0], m,
                 &W[0, 0], m, <floating>0, &dx[0, 0, 0], d)
