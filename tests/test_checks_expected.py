"""Reference: record/replay round trip, lookup order, missing values, file format."""

import contextvars
import os
import textwrap
import types
import zipfile

import numpy as np
import pytest

from autograder.checks import (
    MissingExpectedValue,
    Reference,
    assert_close,
    load_expected,
    recording,
    save_expected,
)

TEST_FILE = textwrap.dedent('''
    import numpy as np
    from autograder.checks import Reference

    def case(X):
        ref = Reference("q1")
        a = ref.call("design", "design_matrix", X)
        b = ref.compute("pair", lambda ns: (ns.design_matrix(X).sum(), {"n": 3, "ok": True}))
        return a, b
''')


def _solutions():
    def design_matrix(X):
        out = np.hstack([X, np.ones((X.shape[0], 1))])
        X[0, 0] = 99.0  # a careless reference must not corrupt the caller's input
        return out

    return types.SimpleNamespace(design_matrix=design_matrix)


def _load_case(tmp_path, hw="hw1"):
    tests = tmp_path / hw / "tests"
    tests.mkdir(parents=True)
    path = tests / "q1.py"
    path.write_text(TEST_FILE)
    env: dict = {}
    exec(compile(TEST_FILE, str(path), "exec"), env)  # as otter loads test files
    return env["case"], tmp_path / hw / "expected" / "q1.npz"


def test_record_then_replay_round_trip(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOGRADER_EXPECTED_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    case, npz = _load_case(tmp_path)
    X = np.arange(6.0).reshape(3, 2)
    with recording(_solutions()) as store:
        recorded = case(X)
    np.testing.assert_array_equal(X, np.arange(6.0).reshape(3, 2))  # args were deep-copied
    assert set(store) == {("q1", "design"), ("q1", "pair")}
    save_expected(npz, {key: value for (_, key), value in store.items()})

    replayed = case(X)  # found through <dir of the test file>/../expected
    assert_close(replayed, recorded, rtol=0)
    a, (total, info) = replayed
    assert a.shape == (3, 3) and type(total) is float and info == {"n": 3, "ok": True}

    a[:] = -1  # replay returns fresh copies
    assert_close(case(X)[0], recorded[0], rtol=0)


def test_record_mode_does_not_leak_outside_the_context(tmp_path):
    ref = Reference("q9", test_file=tmp_path / "hw" / "tests" / "q9.py")
    with recording({"f": lambda x: x + 1}) as store:
        assert ref.call("k", "f", 1) == 2
        assert contextvars.copy_context().run(lambda: ref.call("k2", "f", 2)) == 3
    assert store == {("q9", "k"): 2, ("q9", "k2"): 3}
    with pytest.raises(MissingExpectedValue):
        ref.call("k", "f", 1)


def test_key_recorded_twice_with_different_values_is_an_error(tmp_path):
    ref = Reference("q1", test_file=tmp_path / "t.py")
    with recording({"f": lambda x: x}):
        ref.call("same", "f", 1.0)
        ref.call("same", "f", 1.0)
        with pytest.raises(ValueError, match="recorded twice"):
            ref.call("same", "f", 2.0)


def test_unstorable_values_are_refused_at_record_time(tmp_path):
    ref = Reference("q1", test_file=tmp_path / "t.py")
    with recording({"f": lambda: object()}):
        with pytest.raises(TypeError, match="cannot store"):
            ref.call("k", "f")


def test_missing_file_and_missing_key_say_run_build(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOGRADER_EXPECTED_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    test_file = tmp_path / "hw2_layer_gradient" / "tests" / "q3.py"
    ref = Reference("q3", test_file=test_file)
    with pytest.raises(MissingExpectedValue, match=r"run `autograder build hw2_layer_gradient`"):
        ref.call("k", "sigmoid", 0.0)
    save_expected(tmp_path / "hw2_layer_gradient" / "expected" / "q3.npz", {"other": 1.0})
    ref = Reference("q3", test_file=test_file)
    with pytest.raises(MissingExpectedValue) as info:
        ref.compute("k", lambda ns: 0)
    assert "'k'" in str(info.value) and "autograder build hw2_layer_gradient" in str(info.value)
    assert isinstance(info.value, LookupError)


def test_lookup_order(tmp_path, monkeypatch):
    test_file = tmp_path / "hw" / "tests" / "q1.py"
    save_expected(tmp_path / "hw" / "expected" / "q1.npz", {"k": 2.0})
    save_expected(tmp_path / "env" / "q1.npz", {"k": 1.0})
    save_expected(tmp_path / "cwd" / "expected" / "q1.npz", {"k": 3.0})
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("AUTOGRADER_EXPECTED_DIR", str(tmp_path / "env"))
    assert Reference("q1", test_file=test_file).call("k", "f") == 1.0
    monkeypatch.delenv("AUTOGRADER_EXPECTED_DIR")
    assert Reference("q1", test_file=test_file).call("k", "f") == 2.0
    assert Reference("q1", test_file=tmp_path / "nowhere" / "tests" / "q1.py").call("k", "f") == 3.0


def test_rebuilt_file_is_read_again_and_cached_values_cannot_be_corrupted(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_EXPECTED_DIR", str(tmp_path))
    path = tmp_path / "q1.npz"
    save_expected(path, {"k": np.array([1.0, 2.0])})
    first = Reference("q1").call("k", "f")
    first[0] = 99.0  # a test scribbling on its expected value
    np.testing.assert_array_equal(Reference("q1").call("k", "f"), [1.0, 2.0])
    save_expected(path, {"k": np.array([5.0, 6.0, 7.0])})
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    np.testing.assert_array_equal(Reference("q1").call("k", "f"), [5.0, 6.0, 7.0])


def test_reference_remembers_the_constructing_file(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOGRADER_EXPECTED_DIR", raising=False)
    here = Reference("q1")
    expected_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "expected")
    assert str(here.candidate_paths()[0]) == os.path.join(expected_dir, "q1.npz")


def test_file_format_round_trip_and_determinism(tmp_path):
    values = {
        "f": 1.5,
        "i": 7,
        "b": False,
        "none": None,
        "s": "text",
        "np_scalar": np.float64(2.25),
        "arr0": np.array(3.0),
        "ints": np.arange(4),
        "nan": np.array([np.nan, np.inf, -0.0]),
        "nested": {"W1": np.eye(2), "list": [1.0, (2, np.ones(3))], 3: "int key"},
        "tuple": (np.zeros((0, 2)), 1e-300),
    }
    p1, p2 = tmp_path / "a.npz", tmp_path / "b.npz"
    save_expected(p1, values)
    save_expected(p2, dict(reversed(list(values.items()))))
    assert p1.read_bytes() == p2.read_bytes()
    back = load_expected(p1)
    assert back["np_scalar"] == 2.25 and type(back["np_scalar"]) is float
    assert type(back["i"]) is int and back["b"] is False and back["none"] is None
    assert back["arr0"].shape == () and back["ints"].dtype == np.int64
    assert type(back["tuple"]) is tuple and back["tuple"][0].shape == (0, 2)
    assert back["nested"][3] == "int key"
    assert_close(back["nested"]["list"], [1.0, (2, np.ones(3))], rtol=0)
    np.testing.assert_array_equal(back["nan"], values["nan"])
    with zipfile.ZipFile(p1) as zf:
        names = zf.namelist()
    assert "__structure__.npy" in names and all(n.endswith(".npy") for n in names)
    with np.load(p1, allow_pickle=False) as data:  # readable without pickle
        assert all(data[n].dtype != object for n in data.files)


def test_load_rejects_foreign_files(tmp_path):
    p = tmp_path / "plain.npz"
    np.savez(p, a=np.ones(2))
    with pytest.raises(ValueError, match="not an expected-values file"):
        load_expected(p)
