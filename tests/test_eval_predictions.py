"""The WIDER FACE submission layout: exact text written, read back, and clear
errors for malformed files."""

import numpy as np
import pytest

from facedge.bench.wider.predictions import (check_output_dir, format_prediction, parse_prediction,
                                             read_predictions, write_predictions)
from facedge.base.errors import FacedgeError


def test_format_is_the_submission_layout():
    text = format_prediction("0_Parade_marchingband_1_465", [[10.0, 20.5, 30.25, 40.0, 0.87654321], [1, 2, 3, 4, 0.02]])
    assert text == ("0_Parade_marchingband_1_465\n2\n"
                    "10.00 20.50 30.25 40.00 0.876543\n"
                    "1.00 2.00 3.00 4.00 0.020000\n")
    assert format_prediction("x", np.zeros((0, 5))) == "x\n0\n"


def test_parse_reads_back_what_format_writes():
    rng = np.random.default_rng(0)
    rows = np.column_stack([rng.uniform(0, 1000, (50, 4)), rng.uniform(0, 1, 50)])
    text = format_prediction("img", rows)
    name, parsed = parse_prediction(text, "img.txt")
    assert name == "img"
    np.testing.assert_allclose(parsed, rows, atol=0.005 + 1e-9)
    assert format_prediction("img", parsed) == text  # a fixed point: saving again changes nothing


def test_parse_accepts_the_usual_variants():
    # a path with '.jpg' on the first line, tabs, CRLF, a trailing blank line
    name, rows = parse_prediction("0--Parade/a.jpg\r\n1\r\n1\t2 3 4 0.5\r\n\r\n", "a.txt")
    assert name == "a" and rows.tolist() == [[1, 2, 3, 4, 0.5]]
    name, rows = parse_prediction("a\n0\n", "a.txt")
    assert rows.shape == (0, 5)


@pytest.mark.parametrize("text, message", [
    ("", r"p\.txt:1: expected the image name"),
    ("a\n", r"p\.txt:2: expected the number of boxes, the file ends"),
    ("a\ntwo\n1 2 3 4 0.5\n", r"p\.txt:2: expected the number of boxes, got 'two'"),
    ("a\n2\n1 2 3 4 0.5\n", r"p\.txt:2: says 2 boxes but 1 box lines follow"),
    ("a\n1\n1 2 3 4 0.5\n5 6 7 8 0.1\n", r"p\.txt:2: says 1 boxes but 2 box lines follow"),
    ("a\n2\n1 2 3 4 0.5\n1 2 3 4\n", r"p\.txt:4: expected 5 numbers 'x y w h score', got 4 fields: '1 2 3 4'"),
    ("a\n2\n1 2 3 4 0.5\n1 2 3 4 0.5 9\n", r"p\.txt:4: expected 5 numbers .* got 6 fields"),
    ("a\n2\n1 2 3 4 0.5\n1 2 x 4 0.5\n", r"p\.txt:4: expected 5 numbers 'x y w h score', got '1 2 x 4 0.5'"),
    ("a\n1\n1 2 3 nan 0.5\n", r"p\.txt:3: values must be finite"),
    ("a\n2\n1 2 3 4 0.5\n1 2 -3 4 0.5\n", r"p\.txt:4: width and height must be >= 0"),
])
def test_malformed_files_name_the_file_and_line(text, message):
    with pytest.raises(FacedgeError, match=message):
        parse_prediction(text, "p.txt")


def test_read_a_folder(tmp_path):
    (tmp_path / "1--H").mkdir()
    (tmp_path / "1--H" / "a.txt").write_text("a\n1\n1 2 3 4 0.5\n")
    (tmp_path / "1--H" / "b.txt").write_text("b.jpg\n0\n")
    (tmp_path / "notes.md").write_text("ignored: not in the layout\n")
    preds = read_predictions(tmp_path)
    assert sorted(preds) == [("1--H", "a"), ("1--H", "b")]
    assert preds[("1--H", "a")][1].tolist() == [[1, 2, 3, 4, 0.5]]


def test_read_errors(tmp_path):
    with pytest.raises(FacedgeError, match="no such predictions folder"):
        read_predictions(tmp_path / "nope")
    with pytest.raises(FacedgeError, match=r"no prediction files \(expected <event>/<image>\.txt\)"):
        read_predictions(tmp_path)
    (tmp_path / "1--H").mkdir()
    (tmp_path / "1--H" / "a.txt").write_text("b\n0\n")
    with pytest.raises(FacedgeError, match=r"1--H/a\.txt:1: names image 'b', but the file is for 'a'"):
        read_predictions(tmp_path)


def test_write_is_atomic_and_replaces_an_earlier_folder(tmp_path):
    out = tmp_path / "preds"
    write_predictions(out, [("1--H", "a", "a\n0\n"), ("2--D", "b", "b\n0\n")])
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt")) == ["1--H/a.txt", "2--D/b.txt"]
    write_predictions(out, [("1--H", "c", "c\n0\n")])
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt")) == ["1--H/c.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds"]  # no temporary leftovers

    def failing():
        yield ("1--H", "d", "d\n0\n")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_predictions(out, failing())
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt")) == ["1--H/c.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds"]


def test_refuses_a_folder_holding_other_things(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("precious\n")
    with pytest.raises(FacedgeError, match=r"home: exists and holds other things than predictions \(thesis\.tex\)"):
        check_output_dir(tmp_path / "home")
    with pytest.raises(FacedgeError, match="its parent folder does not exist"):
        check_output_dir(tmp_path / "a" / "b")
