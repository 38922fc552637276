"""Property tests of the IDX reader: any bytes give the array the header declares
or a ValueError naming the file; any ``magic``/``path`` argument a clear error."""
import gzip

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastnet.datasets import read_idx, read_mnist_files
from fuzzing import fuzz


@st.composite
def _idx_like(draw):
    """Bytes that are often nearly valid: a header with random dims and some payload."""
    ndim = draw(st.sampled_from([1, 3]))
    magic = draw(st.sampled_from([0x0801, 0x0803, 0x0803, 0x0D03, 0]))
    dims = draw(st.lists(st.one_of(st.integers(0, 6), st.integers(0, 2**32 - 1)),
                         min_size=ndim, max_size=ndim))
    declared = int(np.prod(dims, dtype=object))
    size = declared if declared < 400 and draw(st.booleans()) else draw(st.integers(0, 400))
    payload = draw(st.binary(min_size=size, max_size=size))
    data = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + payload
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return data if cut is None else data[:cut]


@fuzz
@given(data=st.one_of(st.binary(max_size=64), _idx_like()), compress=st.booleans(),
       magic=st.sampled_from([2049, 2051]))
def test_read_idx_from_any_bytes(tmp_path_factory, data, compress, magic):
    path = tmp_path_factory.mktemp("idx") / "file"
    path.write_bytes(gzip.compress(data) if compress else data)
    try:
        out = read_idx(path, magic)
    except ValueError as exc:
        assert str(exc).startswith(str(path)), str(exc)
        return
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    assert int.from_bytes(data[:4], "big") == magic and out.shape == dims and 0 not in dims
    assert out.dtype == np.uint8 and not out.flags.writeable
    np.testing.assert_array_equal(out.ravel(), np.frombuffer(data[header:], np.uint8))


@fuzz
@given(labels=_idx_like(), images=_idx_like())
def test_read_mnist_files_from_any_bytes(tmp_path_factory, labels, images):
    d = tmp_path_factory.mktemp("mnist")
    (d / "img").write_bytes(images)
    (d / "lbl").write_bytes(labels)
    try:
        x, t = read_mnist_files(d / "img", d / "lbl")
    except ValueError as exc:
        assert str(d) in str(exc), str(exc)
        return
    assert x.shape[1:] == (28, 28) and len(x) == len(t) >= 1 and t.max() <= 9


@fuzz
@given(magic=st.one_of(st.integers(-2**40, 2**40), st.text(max_size=5), st.floats(),
                       st.none(), st.booleans()),
       path=st.one_of(st.none(), st.integers(), st.floats(), st.just(b"/x"), st.just(["a"])))
def test_read_idx_bad_arguments(tmp_path_factory, magic, path):
    good = tmp_path_factory.mktemp("arg") / "labels"
    good.write_bytes((2049).to_bytes(4, "big") + (2).to_bytes(4, "big") + b"\x01\x02")
    try:
        out = read_idx(good, magic)
    except (TypeError, ValueError) as exc:
        assert str(exc).startswith(("magic must be", str(good))), str(exc)
    else:
        assert magic == 2049 and list(out) == [1, 2]
    with pytest.raises(TypeError, match="^path must be a str or os.PathLike"):
        read_idx(path, 2049)
