"""Property tests of the command line's option parsing: any argv parses into values inside
each option's documented range, or is one line naming the option, exit status 2."""
import contextlib
import io
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastnet.cli import build_parser
from fuzzing import fuzz

# option -> (subcommand(s), check of the parsed value)
_POSITIVE = lambda v: isinstance(v, int) and v >= 1  # noqa: E731
_NON_NEGATIVE = lambda v: isinstance(v, int) and v >= 0  # noqa: E731


def _finite_in(low, high=None, low_open=False, high_open=False):
    def check(v):
        return (isinstance(v, float) and math.isfinite(v)
                and (v > low if low_open else v >= low)
                and (high is None or (v < high if high_open else v <= high)))
    return check


TRAIN = {
    "--epochs": _POSITIVE, "--batch-size": _POSITIVE, "--seed": _NON_NEGATIVE,
    "--lr": lambda v: v is None or _finite_in(0, low_open=True)(v),
    "--dropout": _finite_in(0, 1, high_open=True), "--weight-decay": _finite_in(0),
    "--validation-split": _finite_in(0, 1, high_open=True),
    "--early-stopping": lambda v: v is None or _NON_NEGATIVE(v),
    "--hidden": lambda v: isinstance(v, list) and v and all(_POSITIVE(s) for s in v),
}
TUNE = {
    "--n-trials": _POSITIVE, "--epochs": _POSITIVE, "--n-jobs": _POSITIVE,
    "--seed": _NON_NEGATIVE, "--train-size": _POSITIVE, "--batch-size": _POSITIVE,
    "--validation-fraction": _finite_in(0, 1, low_open=True, high_open=True),
    "--min-epochs": _POSITIVE,
}

values = st.one_of(
    st.integers(-10**30, 10**30).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["inf", "-inf", "nan", "NaN", "1e400", "0", "-0", "0.5", "1,2,3", "3,,4",
                     "100,-1", "", " 7 ", "1_000", "0x10", "2.5", "1e-320"]),
    st.text(max_size=6),
)


def _parse(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            return build_parser().parse_args(argv), None, ""
        except SystemExit as exc:
            return None, exc.code, err.getvalue()


def _check(command, options, picks):
    argv = [command]
    for flag, value in picks:
        argv += [flag, value] if not value.startswith("-") else [f"{flag}={value}"]
    args, code, err = _parse(argv)
    if args is None:
        assert code == 2
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert any(flag in err for flag, _ in picks), err  # names the offending option
        return
    for flag, _ in picks:
        value = getattr(args, flag[2:].replace("-", "_"))
        assert options[flag](value), (flag, value)


@fuzz
@given(picks=st.lists(st.tuples(st.sampled_from(sorted(TRAIN)), values), min_size=1, max_size=3))
def test_train_options(picks):
    _check("train", TRAIN, picks)


@fuzz
@given(picks=st.lists(st.tuples(st.sampled_from(sorted(TUNE)), values), min_size=1, max_size=3))
def test_tune_options(picks):
    _check("tune", TUNE, picks)


@pytest.mark.parametrize("flag", ["--lr", "--weight-decay", "--dropout", "--validation-split"])
@pytest.mark.parametrize("value", ["inf", "nan", "1e400"])
def test_non_finite_reals_are_rejected_at_parse_time(flag, value):
    args, code, err = _parse(["train", flag, value])
    assert code == 2 and flag in err and "expected" in err, err
