"""bench/report.py: a filtered run never overwrites bench/RESULTS.md unless asked."""
import pytest
import report


def test_output_path():
    assert report.output_path("") == report.RESULTS
    assert report.output_path("sgd_step") == report.PARTIAL
    assert report.output_path("sgd_step", write=True) == report.RESULTS
    assert str(report.output_path("sgd_step", out="x.md")) == "x.md"
    assert report.PARTIAL.parent == report.RESULTS.parent and report.PARTIAL != report.RESULTS


def test_unmatched_filter_writes_nothing(capsys):
    before = report.RESULTS.read_bytes()
    with pytest.raises(SystemExit) as exc:
        report.main(["-k", "no-case-has-this-id"])
    assert exc.value.code == 2
    assert "matches no case id" in capsys.readouterr().err
    assert report.RESULTS.read_bytes() == before and not report.PARTIAL.exists()
