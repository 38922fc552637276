"""Property tests of the layers' public (textbook) API: ``forward``/``backward`` of every layer.

Inputs of any dtype (floats, ints, bool, float16, complex, object), any layout
(C, Fortran, strided, negative strides, read-only), shapes with sizes 0 and 1,
NaN/inf and values over many scales. Every call either gives the same result
on the compiled backend as on ``backend='reference'`` (within the operation's
error bound, tests/numerics.py) or raises a ValueError/TypeError naming the
argument, on both backends alike; the caller's arrays are never modified.
"""
import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastnet.layers import (
    LSTM, NAMED, Affine, BatchNormalization, Dropout, LSTMCell, SoftmaxWithLoss,
)
from fuzzing import assert_unchanged, frozen, fuzz, positive_sizes, real_arrays
from numerics import (
    assert_within, batchnorm_backward_bounds, batchnorm_train_bounds, gemm_bound,
    softmax_ce_bounds, tiny, tol, unit_roundoff,
)

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# Every dtype family a caller might pass: the two float dtypes (most of the
# draws), integers and bool (cast by layers whose parameters fix the dtype),
# and dtypes no layer takes.
ANY_DTYPES = st.one_of(
    st.sampled_from([np.float32, np.float64]),
    st.sampled_from([np.int8, np.int64, np.uint8, np.bool_, np.float16, np.complex128, object]),
)
small_sizes = st.one_of(st.integers(0, 4), st.integers(5, 12))


def _specials(draw, x):
    """Maybe put NaN/inf/-inf at a few random places of a float array (in place)."""
    if x.size and draw(st.integers(0, 4)) == 0:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        where = rng.random(x.shape) < 0.2
        x[where] = rng.choice([np.nan, np.inf, -np.inf], int(where.sum()))
    return x


@st.composite
def layouts(draw, x):
    """``x``'s values in a layout hypothesis picks: C, Fortran, strided, reversed, read-only."""
    kind = draw(st.sampled_from(["C", "F", "strided", "reversed", "readonly"]))
    if x.ndim == 0:  # (asfortranarray would make it 1-d; a 0-d view has no strides)
        kind = "readonly" if kind == "readonly" else "C"
    if kind == "F":
        return np.asfortranarray(x)
    if kind == "strided":
        big = np.zeros(tuple(2 * s + 1 for s in x.shape), x.dtype)
        view = big[tuple(slice(1, None, 2) for _ in x.shape)]
        view[...] = x
        return view
    if kind == "reversed":
        flip = tuple(slice(None, None, -1) for _ in x.shape)
        return x[flip].copy()[flip]
    if kind == "readonly":
        x = x.copy()
        x.setflags(write=False)
    return x


@st.composite
def arrays(draw, dtype, shape, specials=True):
    """An array of ``shape`` and any ``dtype`` (float values over many scales), any layout."""
    dtype = np.dtype(dtype)
    if dtype in FLOATS:
        x = draw(real_arrays(dtype, shape))
        if specials:
            x = _specials(draw, x)
    else:
        x = draw(real_arrays(np.float64, shape, 3))
        if dtype.kind == "b":  # (comparisons and rounding give scalars for shape ())
            x = x > 0
        elif dtype.kind in "iu":
            x = np.clip(np.round(x), 0 if dtype.kind == "u" else -100, 100)
        elif dtype.kind == "c":
            x = x + 1j * np.flip(x)
        x = np.array(x, dtype)  # an ndarray even for shape ()
    return draw(layouts(x))


def _names(err, name):
    """Whether an error message names the argument ``name`` (``x``, ``x.dtype``, ``dout`` ...)."""
    return re.search(rf"(?<![\w.]){re.escape(name)}\b", str(err)) is not None


def _both(call_c, call_r, name):
    """Run a call on each backend: both succeed (returns both results) or both raise
    a ValueError/TypeError of the same type naming ``name`` (returns None)."""
    out = []
    for call in (call_c, call_r):
        try:
            out.append(call())
        except (TypeError, ValueError) as err:
            assert _names(err, name), f"the error does not name {name!r}: {err}"
            out.append(err)
    got, want = out
    if isinstance(got, Exception) or isinstance(want, Exception):
        assert type(got) is type(want), f"backends disagree: {got!r} vs {want!r}"
        return None
    return got, want


def _accepts(layer_dtype, x):
    """Whether ``forward`` must accept ``x``: at least one sample, and a dtype the layer
    takes (its own, or an integer/bool cast to it; dtype-agnostic layers: float32/64)."""
    if x.ndim == 0 or x.shape[0] == 0:
        return False
    if layer_dtype is None:
        return x.dtype in FLOATS
    return x.dtype == layer_dtype or x.dtype.kind in "biu"


def _forward_both(layers, x, layer_dtype, *args):
    """``forward(x, *args)`` on both backends: the same outcome, ``x`` unmodified, and a
    result exactly when the layer must accept ``x``. Returns ``(y, y_ref)`` or None."""
    before = frozen(x)
    result = _both(lambda: layers[0].forward(x, *args), lambda: layers[1].forward(x, *args), "x")
    assert_unchanged(before, [x], "x")
    assert (result is not None) == _accepts(layer_dtype, x), (x.shape, x.dtype)
    return result


def _ulps(dtype, *arrays):
    """A few roundings of the largest of ``arrays``, element-wise."""
    u = unit_roundoff(dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        return sum(8 * u * np.abs(np.asarray(a, np.float64)) for a in arrays) + 4 * tiny(dtype)


# -- activations ------------------------------------------------------------------

# |d f'(a) / d t|: how the derivative of the activations computed from the pre-activation
# moves with their inner value t, bounded over t in [-1, 1] (gelu_tanh: f' = (1 + t)/2 +
# a (1 - t^2) c (1 + 3 k a^2) / 2 with c = sqrt(2/pi), k = 0.044715; silu: f' = t (1 + a (1 - t))).
SLOPE_IN_T = {"GeluTanh": lambda a: 0.5 + a * 0.8 * (1 + 0.135 * a * a),
              "Silu": lambda a: 1 + a}

@fuzz
@given(data=st.data(), name=st.sampled_from(sorted(NAMED)), dtype=ANY_DTYPES,
       shape=st.lists(small_sizes, min_size=0, max_size=3), train=st.booleans())
def test_activation_layers(data, name, dtype, shape, train):
    cls = NAMED[name]
    x = data.draw(arrays(dtype, tuple(shape)))
    layers = cls(), cls(backend="reference")
    result = _forward_both(layers, x, None, train)
    if result is None:
        return
    y, y_ref = result
    assert y.dtype == x.dtype and y.shape == x.shape
    np.testing.assert_allclose(y, y_ref, **tol(x.dtype))
    dout = data.draw(arrays(x.dtype, x.shape, specials=False))
    before = frozen(dout, y)
    dx, dx_ref = _both(lambda: layers[0].backward(dout), lambda: layers[1].backward(dout), "dout")
    assert_unchanged(before, [dout, y], "dout or the forward's output")
    # The derivative comes from y (as the textbook's): a rounding of y moves it by
    # |dout| u (1 + |y|) times a slope below 2 (tanh's 1 - y^2, elu's y + alpha, where
    # a few ulps of y near -alpha are a large relative error).
    with np.errstate(invalid="ignore", over="ignore"):
        t = tol(x.dtype)
        from_y = 16 * unit_roundoff(x.dtype) * np.abs(dout * (1.0 + np.abs(y_ref.astype(np.float64))))
        # Where the derivative is taken from the pre-activation a (gelu_tanh, silu), its inner
        # value t (tanh of the cubic, the sigmoid) is rounded by each backend's own tanh/exp,
        # a few u apart; near t = +-1 the derivative cancels, and t's rounding moves it by
        # up to SLOPE_IN_T(|a|) u per unit of dout (float64 fuzzing found gelu_tanh at
        # a = -5.37, dout = 1.3e4: 1 + t ~ 1e-8, the backends 2.95e-11 apart).
        slope = SLOPE_IN_T.get(name)
        if slope is not None:
            from_y = from_y + 16 * unit_roundoff(x.dtype) * np.abs(dout) * slope(
                np.abs(np.asarray(x, np.float64)))
        # The float32 reference is itself off where its derivative cancels (gelu_tanh at
        # x = -5.357: 1 + tanh(u) ~ 7e-9, the reference's d/dx -1.2e-6 against an exact
        # -1.35e-7, the kernel's 0): widen the bound by its distance from the float64 one.
        oracle = 0.0
        if dx_ref.dtype == np.float32:
            ref64 = cls(backend="reference")
            ref64.forward(x.astype(np.float64), train)
            dx64 = ref64.backward(dout.astype(np.float64))
            oracle = np.nan_to_num(np.abs(dx64 - dx_ref), nan=0.0, posinf=0.0)
        assert_within(dx, dx_ref, t["rtol"] * np.abs(dx_ref) + t["atol"] + from_y + oracle,
                      f"{name} backward")


# -- affine ---------------------------------------------------------------------------

@fuzz
@given(data=st.data(), layer_dtype=st.sampled_from([np.float32, np.float64]), x_dtype=ANY_DTYPES,
       n=small_sizes, d=positive_sizes, m=positive_sizes, split=st.booleans(),
       weight_decay=st.sampled_from([0.0, 0.0, 0.1, 3.0]))
def test_affine(data, layer_dtype, x_dtype, n, d, m, split, weight_decay):
    """Identity activation: forward and backward are GEMMs, with their worst-case bounds."""
    w = data.draw(real_arrays(layer_dtype, (d, m), 6))
    b = data.draw(real_arrays(layer_dtype, (m,), 6))
    layers = [Affine(w.copy(), b.copy(), weight_decay=weight_decay, backend=bk)
              for bk in ("compiled", "reference")]
    shape = (n, 1, d) if split else (n, d)  # a larger input is flattened, as the textbook's
    x = data.draw(arrays(x_dtype, shape))
    result = _forward_both(layers, x, np.dtype(layer_dtype))
    if result is None:
        return
    y, y_ref = result
    x2 = np.asarray(x, layer_dtype).reshape(n, d)
    one = np.ones((n, 1), layer_dtype)
    # x W + b as one product [x 1] [W; b], whose bound covers the bias's rounding
    bound = gemm_bound(np.hstack([x2, one]), np.vstack([w, b[None]]), layer_dtype)
    assert_within(y, y_ref, bound, "Affine forward")
    dout = data.draw(arrays(layer_dtype, (n, m), specials=False))
    before = frozen(dout)
    dx, dx_ref = _both(lambda: layers[0].backward(dout), lambda: layers[1].backward(dout), "dout")
    assert_unchanged(before, [dout], "dout")
    assert dx.shape == x.shape
    assert_within(dx, dx_ref, gemm_bound(dout, w.T, layer_dtype).reshape(x.shape), "Affine dx")
    got, want = layers[0].grads, layers[1].grads
    with np.errstate(invalid="ignore", over="ignore"):
        decay = np.abs(weight_decay * w.astype(np.float64))
        assert_within(got["W"], want["W"], 2 * gemm_bound(x2.T, dout, layer_dtype)
                      + _ulps(layer_dtype, decay, want["W"]), "Affine dW")
        assert_within(got["b"], want["b"], gemm_bound(one.T, dout, layer_dtype)[0], "Affine db")


@fuzz
@given(data=st.data(), name=st.sampled_from(sorted(NAMED)), dtype=st.sampled_from([np.float32, np.float64]),
       n=positive_sizes, d=positive_sizes, m=positive_sizes)
def test_affine_fused_forward(data, name, dtype, n, d, m):
    """A fused activation: the pre-activation's GEMM error, through an activation whose
    slope is at most 1.2 (elu's at its default alpha 1), plus a few roundings."""
    activation = NAMED[name]().activation
    w = data.draw(real_arrays(dtype, (d, m), 6))
    b = data.draw(real_arrays(dtype, (m,), 6))
    x = data.draw(arrays(dtype, (n, d)))
    before = frozen(x)
    y, y_ref = (Affine(w.copy(), b.copy(), activation, backend=bk).forward(x)
                for bk in ("compiled", "reference"))
    assert_unchanged(before, [x], "x")
    one = np.ones((n, 1), dtype)
    bound = gemm_bound(np.hstack([x, one]), np.vstack([w, b[None]]), dtype)
    assert_within(y, y_ref, 1.2 * bound + _ulps(dtype, y_ref), f"Affine({activation!r}) forward")


# -- batch normalization -----------------------------------------------------------------

@fuzz
@given(data=st.data(), layer_dtype=st.sampled_from([np.float32, np.float64]), x_dtype=ANY_DTYPES,
       n=small_sizes, d=positive_sizes, convention=st.sampled_from(["textbook", "torch"]),
       momentum=st.sampled_from([None, 0.0, 0.5, 1.0]))
def test_batchnorm(data, layer_dtype, x_dtype, n, d, convention, momentum):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    gamma_ = rng.uniform(-2, 2, d).astype(layer_dtype)
    beta = rng.standard_normal(d).astype(layer_dtype)
    layers = [BatchNormalization(gamma_.copy(), beta.copy(), momentum, convention=convention,
                                 backend=bk) for bk in ("compiled", "reference")]
    rm0, rv0 = layers[0].running_mean.copy(), layers[0].running_var.copy()
    x = data.draw(arrays(x_dtype, (n, d)))
    before = frozen(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a batch of one (textbook): it warns
        result = _both(lambda: layers[0].forward(x, True), lambda: layers[1].forward(x, True), "x")
    assert_unchanged(before, [x], "x")
    single_torch = n == 1 and convention == "torch"
    assert (result is not None) == (_accepts(np.dtype(layer_dtype), x) and not single_torch)
    if result is None:
        return
    out, out_ref = result
    ref = layers[1]
    want = (out_ref, ref._mean, ref._inv_std, ref.running_mean, ref.running_var)
    x2 = np.asarray(x, layer_dtype)
    corr = n / (n - 1) if convention == "torch" else 1.0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        bounds = batchnorm_train_bounds(x2, gamma_, want, ref.eps, ref._keep, corr, rm0, rv0)
    got = (out, layers[0]._mean, layers[0]._inv_std, layers[0].running_mean,
           layers[0].running_var)
    for key, g, w in zip(["out", "mean", "inv_std", "running_mean", "running_var"], got, want):
        assert_within(g, w, bounds[key], f"BatchNormalization {key}")
    dout = data.draw(arrays(layer_dtype, (n, d), specials=False))
    before = frozen(dout)
    dx, dx_ref = _both(lambda: layers[0].backward(dout), lambda: layers[1].backward(dout), "dout")
    assert_unchanged(before, [dout], "dout")
    want = (dx_ref, ref.dgamma, ref.dbeta)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        bounds = batchnorm_backward_bounds(dout, x2, gamma_, ref._mean, ref._inv_std, want)
    for key, g, w in zip(["dx", "dgamma", "dbeta"], (dx, layers[0].dgamma, layers[0].dbeta), want):
        assert_within(g, w, bounds[key], f"BatchNormalization {key}")


# -- dropout ----------------------------------------------------------------------------------

@fuzz
@given(data=st.data(), dtype=ANY_DTYPES, shape=st.lists(small_sizes, min_size=0, max_size=3),
       ratio=st.sampled_from([0.0, 0.3, 0.5, 0.99]), mode=st.sampled_from(["textbook", "inverted"]),
       train=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_dropout(data, dtype, shape, ratio, mode, train, seed):
    """The same seed draws the same mask: the backends agree to a rounding of the scale."""
    x = data.draw(arrays(dtype, tuple(shape)))
    layers = [Dropout(ratio, mode, rng=seed, backend=bk) for bk in ("compiled", "reference")]
    result = _forward_both(layers, x, None, train)
    if result is None:
        return
    y, y_ref = result
    assert_within(y, y_ref, _ulps(x.dtype, y_ref), "Dropout forward")
    dout = data.draw(arrays(x.dtype, x.shape))
    before = frozen(dout)
    dx, dx_ref = _both(lambda: layers[0].backward(dout), lambda: layers[1].backward(dout), "dout")
    assert_unchanged(before, [dout], "dout")
    assert_within(dx, dx_ref, _ulps(x.dtype, dx_ref), "Dropout backward")


# -- softmax with loss -------------------------------------------------------------------

@fuzz
@given(data=st.data(), dtype=ANY_DTYPES, n=small_sizes, c=small_sizes,
       rows=st.booleans(), dout=st.sampled_from([1, 0.5, -3.0]))
def test_softmax_with_loss(data, dtype, n, c, rows, dout):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    float_x = np.dtype(dtype) in FLOATS
    x = data.draw(arrays(dtype, (n, c), specials=False))
    if float_x:
        # logits at most 10^3 (float32) / 10^30 apart: softmax_ce_bounds' premise
        x = data.draw(layouts(data.draw(real_arrays(dtype, (n, c), 3 if dtype == np.float32 else 30))))
    labels = rng.integers(0, max(c, 1), n)
    t = np.eye(max(c, 1), dtype=np.float64)[labels][:, :c] if rows else labels
    t = data.draw(layouts(t))
    before = frozen(x, t)
    layers = SoftmaxWithLoss(), SoftmaxWithLoss(backend="reference")
    result = _both(lambda: layers[0].forward(x, t), lambda: layers[1].forward(x, t), "x")
    assert_unchanged(before, [x, t], "x or t")
    assert (result is not None) == (float_x and n >= 1 and c >= 1), (x.shape, x.dtype, t.shape)
    if result is None:
        return
    loss, loss_ref = result
    dx, dx_ref = layers[0].backward(dout), layers[1].backward(dout)
    target = np.eye(c, dtype=dtype)[labels] if not rows else np.asarray(t, dtype)
    bound_loss, bound_dx = softmax_ce_bounds(np.asarray(x), target, dx_ref / dout, dtype)
    assert_within(loss, loss_ref, bound_loss, "SoftmaxWithLoss loss")
    assert_within(dx, dx_ref, abs(dout) * bound_dx + _ulps(dtype, dx_ref), "SoftmaxWithLoss dx")


@fuzz
@given(data=st.data(), n=positive_sizes, c=positive_sizes,
       kind=st.sampled_from(["out_of_range", "float_labels", "wrong_n", "nan_rows", "wrong_c"]))
def test_softmax_with_loss_bad_targets(data, n, c, kind):
    """Bad targets are a ValueError/TypeError naming ``t``, on both backends alike."""
    x = data.draw(real_arrays(np.float64, (n, c), 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    labels = rng.integers(0, c, n)
    if kind == "out_of_range":
        labels[rng.integers(0, n)] = data.draw(st.sampled_from([-1, c, c + 7, 2**40]))
        t = labels
    elif kind == "float_labels":
        t = labels.astype(np.float64)
    elif kind == "wrong_n":
        t = rng.integers(0, c, n + data.draw(st.sampled_from([-1, 1, 5])))
    elif kind == "nan_rows":
        t = np.eye(c)[labels]
        t[rng.integers(0, n), rng.integers(0, c)] = data.draw(st.sampled_from([np.nan, np.inf]))
    else:
        t = np.eye(c + 1)[labels]
    before = frozen(x, t)
    assert _both(lambda: SoftmaxWithLoss().forward(x, t),
                 lambda: SoftmaxWithLoss(backend="reference").forward(x, t), "t") is None
    assert_unchanged(before, [x, t], "x or t")


@pytest.mark.parametrize("cls", [Affine, BatchNormalization, SoftmaxWithLoss, Dropout, *NAMED.values()])
def test_backward_before_forward(cls):
    """Not a property: the one ordering error, a RuntimeError, stated for every layer."""
    if cls is Affine:
        layer = Affine.create(2, 3)
    elif cls is BatchNormalization:
        layer = BatchNormalization.create(2)
    else:
        layer = cls()
    with pytest.raises(RuntimeError, match="before forward|needs a forward"):
        layer.backward(np.ones((1, 2), np.float32))


# -- LSTM ------------------------------------------------------------------------------------

@fuzz
@given(data=st.data(), x_dtype=ANY_DTYPES, t_steps=st.integers(0, 4), n=st.integers(0, 3),
       d=st.integers(1, 4), h=st.integers(1, 4), num_layers=st.integers(1, 2),
       batch_first=st.booleans(), cell=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_lstm(data, x_dtype, t_steps, n, d, h, num_layers, batch_first, cell, seed):
    """float64 layers (saturating gates: the outputs stay within 1, so a relative
    1e-9 of the largest value bounds the two backends' rounding over a few steps)."""
    if cell:
        layers = [LSTMCell(d, h, rng=seed, bias_init=0.1, dtype=np.float64, backend=bk)
                  for bk in ("compiled", "reference")]
        shape = (n, d)
    else:
        layers = [LSTM(d, h, num_layers, batch_first=batch_first, rng=seed, bias_init=0.1,
                       dtype=np.float64, backend=bk) for bk in ("compiled", "reference")]
        shape = (n, t_steps, d) if batch_first else (t_steps, n, d)
    # no inf/NaN: see test_lstm_infinite_input_gradients
    x = data.draw(arrays(x_dtype, shape, specials=False))
    before = frozen(x)
    result = _both(lambda: layers[0].forward(x), lambda: layers[1].forward(x), "x")
    assert_unchanged(before, [x], "x")
    if x.size and (x.dtype == np.float64 or x.dtype.kind in "biu"):
        assert result is not None, (x.shape, x.dtype)
    if result is None:
        return
    y, y_ref = result
    scale = np.max(np.abs(np.nan_to_num(y_ref)), initial=1.0)
    np.testing.assert_allclose(y, y_ref, rtol=1e-9, atol=1e-9 * scale)
    dout = data.draw(arrays(np.float64, y.shape, specials=False))
    before = frozen(dout)
    dx, dx_ref = _both(lambda: layers[0].backward(dout), lambda: layers[1].backward(dout), "dout")
    assert_unchanged(before, [dout], "dout")
    gate_error = _saturated_gate_error(layers[1], x, dout, 1 if cell else t_steps, num_layers)
    for got, want, what in [(dx, dx_ref, "dx")] + [
            (layers[0].grads[k], layers[1].grads[k], k) for k in layers[1].grads]:
        with np.errstate(invalid="ignore", over="ignore"):
            scale = np.max(np.abs(np.nan_to_num(want)), initial=1.0)
        np.testing.assert_allclose(got, want, rtol=1e-9,
                                   atol=1e-9 * scale + gate_error[what[0]], err_msg=what)


def _saturated_gate_error(layer, x, dout, steps, num_layers):
    """How far the two backends' float64 LSTM gradients may differ through saturated gates.

    The gate derivatives ``s (1 - s)`` and ``1 - tanh^2`` are taken from the
    gate values, which the two backends round differently (their ``exp``
    differ by an ulp or two): near saturation the derivative is tiny and its
    absolute error stays a few ``u``, so its *relative* error grows without
    bound (fuzzing found x = 100 (int8) through one cell: the output gate's
    ``o (1 - o)`` ~ 1e-10 off by 1e-7 relative, ``dW`` 1.2e-9 apart at 1.03
    its largest). Bound: 16 ``u`` per unit of the gradient reaching the gates,
    which over ``steps`` steps and ``num_layers`` layers grows at most by
    ``g = 1 + 4 H max|W|`` a step and a layer; ``dW`` sums it over the rows
    times the inputs (the hidden states are within 1), ``db`` over the rows,
    ``dx`` over the 4H gate columns times max|W|. Keyed by the first letter of
    the gradient's name.
    """
    u = unit_roundoff(np.float64)
    w_max = max(float(np.abs(p).max(initial=0.0)) for p in layer.params.values())
    flow = 16 * u * float(np.abs(dout).max(initial=0.0)) * (
        1 + 4 * layer.hidden_size * w_max) ** (steps * num_layers)
    rows = max(1, x.size // x.shape[-1]) if x.ndim else 1
    in_max = max(1.0, float(np.abs(x.astype(np.float64)).max(initial=0.0)))
    return {"W": flow * rows * in_max, "b": flow * rows,
            "d": flow * 4 * layer.hidden_size * w_max}


def test_lstm_infinite_input_gradients():
    out = []
    for backend in ("compiled", "reference"):
        cell = LSTMCell(1, 1, rng=0, bias_init=0.1, dtype=np.float64, backend=backend)
        y = cell.forward(np.array([[np.inf]]))
        cell.backward(np.array([[0.125]]))
        out.append((y, cell.grads["W"]))
    (y, dw), (y_ref, dw_ref) = out
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dw, dw_ref)


def test_gelu_tanh_backward_where_the_float32_reference_cancels():
    """Found by test_activation_layers: at x = -5.3566937 the exact derivative is
    -1.3532e-7 (mpmath, 50 digits); the float32 reference gives -1.2e-6, the kernel 0."""
    layer = NAMED["GeluTanh"]()
    layer.forward(np.array([-5.3566937], np.float32))
    dx = layer.backward(np.ones(1, np.float32))
    assert abs(float(dx[0]) - (-1.3532196389e-7)) <= 4 * unit_roundoff(np.float32)
