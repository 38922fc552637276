"""fastnet._checks: the shared argument rules, each bad value named in its error."""
import numpy as np
import pytest

from fastnet._checks import float_dtype, integer, make_rng, one_of, real_scalar


@pytest.mark.parametrize("spec", [np.float32, np.float64, "float32", "f8", np.dtype("<f4")])
def test_float_dtype_accepts_float32_and_float64(spec):
    assert float_dtype(spec) in (np.dtype(np.float32), np.dtype(np.float64))


@pytest.mark.parametrize("spec", ["bogus", None, np.float16, np.int64, complex, object, "f2",
                                  "(2,)f8", [("a", "f8")], 3.5])
def test_float_dtype_rejects_everything_else_naming_the_argument(spec):
    # 'bogus' made np.dtype raise, which became None, which compared equal to float64.
    with pytest.raises(TypeError, match=r"net_dtype must be float32 or float64"):
        float_dtype(spec, "net_dtype")


@pytest.mark.parametrize("value", [10**400, -10**400, 2**1024])
def test_real_scalar_beyond_the_float_range_is_a_value_error(value):
    with pytest.raises(ValueError, match=r"^lr must be finite; got .* beyond the float range") as info:
        real_scalar("lr", value)
    assert len(str(info.value)) < 120  # the 400-digit number is not printed whole


def test_real_scalar_keeps_its_other_rules():
    assert real_scalar("x", 2**1000) == 2.0**1000
    with pytest.raises(ValueError, match="x must be finite"):
        real_scalar("x", float("inf"))
    with pytest.raises(TypeError, match="x must be a real number"):
        real_scalar("x", "1")
    with pytest.raises(ValueError, match="x must be > 0"):
        real_scalar("x", 0, low=0, low_open=True)


@pytest.mark.parametrize("seed", [-1, -2**70])
def test_negative_seed_names_the_argument(seed):
    with pytest.raises(ValueError, match=r"^seed must be a non-negative integer"):
        make_rng(seed)
    with pytest.raises(ValueError, match=r"^rng must be a non-negative integer"):
        make_rng(seed, "rng")


def test_make_rng_accepts_generators_ints_and_none():
    g = np.random.default_rng(1)
    assert make_rng(g) is g
    assert make_rng(2**70).random() == np.random.default_rng(2**70).random()
    assert make_rng(np.int64(3)).random() == np.random.default_rng(3).random()
    assert isinstance(make_rng(None), np.random.Generator)
    with pytest.raises(TypeError, match="seed must be None, an int"):
        make_rng(1.0)
    with pytest.raises(TypeError, match="seed must be None, an int"):
        make_rng(True)


def test_integer_and_one_of():
    assert integer("n", np.int32(4), low=1) == 4
    with pytest.raises(ValueError, match="n must be a positive integer"):
        integer("n", 0, low=1)
    with pytest.raises(ValueError, match=r"mode must be one of \['a', 'b'\]; got \['a'\]"):
        one_of("mode", ["a"], {"a", "b"})


def test_as_input_keeps_0d_arrays_0d():
    # np.ascontiguousarray made them 1-d, so a layer's 0-d check never fired.
    from fastnet._checks import as_input
    for x in (np.float32(2.0), np.array(3, np.int64), np.array(1.5)):
        out = as_input("x", x, np.dtype(np.float64) if np.asarray(x).dtype != np.float32
                       else np.dtype(np.float32))
        assert out.shape == () and out.flags.c_contiguous


def test_one_of_with_choices_of_mixed_types_still_names_the_argument():
    # sorted() of names and numbers raised an unrelated TypeError
    with pytest.raises(ValueError, match=r"^activation must be one of \['relu', 0\]; got None"):
        one_of("activation", None, {"relu", 0})


@pytest.mark.parametrize("spec", [",", "f4,", "(", "i4,,f8"])
def test_float_dtype_rejects_malformed_specs(spec):
    # np.dtype(',') raises SyntaxError (found by the property tests)
    with pytest.raises(TypeError, match="the_dtype must be float32 or float64"):
        float_dtype(spec, "the_dtype")


def test_ragged_nested_lists_name_the_argument():
    from fastnet import MultiLayerNet
    from fastnet._checks import as_array
    from fastnet.layers import Relu

    with pytest.raises(ValueError, match="^x must be an array or a nested list of equal-length"):
        as_array("x", [[1, 2], [3]])
    net = MultiLayerNet(2, [3], 2, seed=0)
    with pytest.raises(ValueError, match="^x must be an array"):
        net.predict([[1, 2], [3]])
    with pytest.raises(ValueError, match="^t must be an array"):
        net.loss(np.ones((2, 2), np.float32), [[1, 0], [1]])
    with pytest.raises(ValueError, match="^x must be an array"):
        Relu().forward([[1.0], [2.0, 3.0]])
