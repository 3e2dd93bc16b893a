"""The command line: `adkit --help` documents every command; `adkit train` trains, saves
and logs, and turns a device it cannot use, a bad option or bad data into a message (exit
status 2, no traceback); `adkit coverage` prints unless told where to write; `adkit bench`
writes a markdown table of adkit/peer ratios where the user says, or to a temporary file."""

import gzip
import importlib.util
import os
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from data_support import needs_data

import adkit
from adkit.__main__ import DESCRIPTION, EXAMPLES, build_parser, main
from adkit.nn.callbacks.summaries import read_summaries

COMMANDS = ("demo", "train", "check", "coverage", "devices", "bench")



def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"adkit {adkit.__version__}\n"


def test_help_is_headed_by_a_one_line_description(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    blocks = capsys.readouterr().out.split("\n\n")
    assert blocks[0].startswith("usage: adkit") and blocks[1] == DESCRIPTION
    assert "\n" not in DESCRIPTION and len(DESCRIPTION) < 200


def _options(command: str) -> list:
    sub = next(a for a in build_parser()._actions if isinstance(a, type(a)) and a.choices
               and command in (a.choices or {}))
    return [a for a in sub.choices[command]._actions if a.option_strings and a.dest != "help"]


@pytest.mark.parametrize("command", ["train", "demo", "coverage", "bench", "check"])
def test_every_option_has_help_with_its_default(command):
    for action in _options(command):
        if command == "check" and action.dest == "at":
            continue           # required: it has no default
        assert action.help and "default" in action.help, action.option_strings


@pytest.mark.parametrize("option, value, says", [
    ("--epochs", "0", "0 is too small; give a positive integer"),
    ("--batch-size", "0", "0 is too small; give a positive integer"),
    ("--limit", "0", "0 is too small; give a positive integer"),
    ("--limit", "-100", "-100 is too small; give a positive integer"),
    ("--seed", "-1", "-1 is too small; give a non-negative integer"),
    ("--workers", "0", "0 is too small; give a positive integer"),
    ("--epochs", "two", "'two' is not an integer"),
])
def test_train_refuses_a_bad_option_in_the_parser(capsys, option, value, says, monkeypatch):
    import adkit.nn.train
    monkeypatch.setattr(adkit.nn.train, "train", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(SystemExit) as exit_:
        main(["train", "fashion-mnist", option, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"adkit train: error: argument {option}: {says}" in err and "Traceback" not in err


def test_train_seed_zero_is_accepted():
    args = build_parser().parse_args(["train", "fashion-mnist", "--seed", "0", "--limit", "1"])
    assert (args.seed, args.limit, args.epochs, args.batch_size) == (0, 1, 1, 128)


def _fake_fashion_mnist(folder: Path, damage: str | None = None) -> None:
    """Four tiny IDX files; `damage` names one to cut short inside its gzip stream."""
    folder.mkdir(parents=True)
    arrays = {"train-images-idx3-ubyte": (3, 28, 28), "train-labels-idx1-ubyte": (3,),
              "t10k-images-idx3-ubyte": (2, 28, 28), "t10k-labels-idx1-ubyte": (2,)}
    for name, shape in arrays.items():
        data = bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) \
            + bytes(int(__import__("math").prod(shape)))
        packed = gzip.compress(data)
        if name == damage:
            packed = packed[:len(packed) // 2]
        (folder / (name + ".gz")).write_bytes(packed)


def test_train_on_a_damaged_data_set_is_one_message(tmp_path, capsys, monkeypatch):
    _fake_fashion_mnist(tmp_path / "data", damage="train-images-idx3-ubyte")
    monkeypatch.setenv("ADKIT_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("ADKIT_DEVICE", raising=False)
    assert main(["train", "fashion-mnist", "--model", "mlp", "--device", "cpu", "--out",
                 str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("adkit train: error: ") and "train-images-idx3-ubyte" in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()


def test_train_refuses_a_mistyped_data_variable(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ADKIT_DATA", str(tmp_path / "typo"))
    monkeypatch.delenv("ADKIT_DEVICE", raising=False)
    assert main(["train", "fashion-mnist", "--model", "mlp", "--device", "cpu", "--out",
                 str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("adkit train: error: $ADKIT_DATA is ") and "typo" in err
    assert "not a directory" in err and not (tmp_path / "run").exists()


def test_coverage_prints_unless_told_where_to_write(tmp_path, capsys, monkeypatch):
    from adkit.coverage import markdown
    monkeypatch.chdir(tmp_path)
    assert main(["coverage"]) == 0
    assert capsys.readouterr().out == markdown()
    assert list(tmp_path.iterdir()) == []          # nothing written where the user stands
    assert main(["coverage", "--out", "table/coverage.md"]) == 0
    assert (tmp_path / "table" / "coverage.md").read_text() == markdown()
    assert "wrote table/coverage.md" in capsys.readouterr().out


def test_bench_without_out_writes_a_temporary_file(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, **kw: calls.append(cmd) or 0)
    assert main(["bench", "--quick", "--only", "scalar"]) == 0
    out = Path(calls[0][5])           # python -c CHILD ROOT QUICK OUT NAMES...
    assert out.parent == Path(tempfile.gettempdir()).resolve() and out.suffix == ".md"
    assert out.name.startswith("adkit-bench-")
    package = Path(adkit.__file__).resolve().parent.parent
    assert package not in out.parents
    out.unlink()


def test_help_lists_every_command_with_an_example(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    listed = re.findall(r"^    (\w+) +\S", out, re.MULTILINE)   # "    name  its one line"
    assert listed == list(COMMANDS)
    assert set(EXAMPLES) == set(COMMANDS)
    for command, example in EXAMPLES.items():
        assert example.startswith(f"adkit {command}") and f"  {example}\n" in out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--device {cpu,opencl}" in capsys.readouterr().out


@needs_data
def test_train_saves_model_curve_and_logs(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ADKIT_DEVICE", raising=False)
    assert main(["train", "fashion-mnist", "--model", "mlp", "--epochs", "2", "--limit", "256",
                 "--device", "cpu", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert accuracy > 0.3                   # 16 Adam steps on 256 images: ~0.65 (chance 0.1)
    assert (tmp_path / "mlp.adkit").stat().st_size > 1000
    logs = tmp_path / "logs"
    if importlib.util.find_spec("tensorboardX"):      # event files, as TensorBoard reads
        assert any(os.listdir(logs / "train")) and any(os.listdir(logs / "validation"))
        assert "tensorboard --logdir" in out
    else:                                             # the JSON lines summaries
        records = read_summaries(logs)
        assert [r["epoch"] for r in records] == [0, 1]
        assert {"loss", "val_accuracy", "learning_rate"} <= set(records[-1]["scalars"])
        assert any(t.startswith("gradients/") for t in records[-1]["histograms"])
    pytest.importorskip("matplotlib", reason="the PNGs need matplotlib: pip install matplotlib")
    assert (tmp_path / "mlp_learning_curve.png").stat().st_size > 1000


def test_train_turns_a_refused_device_into_a_message(tmp_path, capsys, monkeypatch):
    from adkit.nn.model import Sequential

    def refuse(self, *args, device=None, **kwargs):
        raise ValueError(f"device {device!r}: not here; use device='cpu'")
    monkeypatch.setattr(Sequential, "compile", refuse)
    out = tmp_path / "run"
    assert main(["train", "fashion-mnist", "--device", "opencl", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("adkit train: error: device 'opencl': not here")
    assert not out.exists()                 # refused before anything was written


@needs_data
def test_train_on_opencl_trains_or_says_why(tmp_path):
    """Exit 0 with a saved model where adkit.nn trains on OpenCL here, else exit 2 and one
    line saying why: never a traceback."""
    run = subprocess.run([sys.executable, "-m", "adkit", "train", "fashion-mnist", "--model",
                          "mlp", "--device", "opencl", "--limit", "64", "--out", str(tmp_path),
                          "--quiet"], capture_output=True, text=True, timeout=300,
                         env={k: v for k, v in os.environ.items() if k != "ADKIT_DEVICE"})
    assert "Traceback" not in run.stderr
    if run.returncode == 0:
        assert (tmp_path / "mlp.adkit").exists() and "test accuracy" in run.stdout
    else:
        assert run.returncode == 2
        assert run.stderr.startswith("adkit train: error: ") and "opencl" in run.stderr.lower()


_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def _seconds(cell: str) -> float:
    number, unit = cell.split()[:2]
    return float(number) * _UNITS[unit.split("/")[0]]


def test_bench_writes_a_ratio_table(tmp_path):
    path = tmp_path / "bench.md"
    assert main(["bench", "--quick", "--only", "scalar", "--out", str(path)]) == 0
    text = path.read_text()
    for fact in ("- date: ", "- machine: ", "cores", "- numpy ", "torch", "jax"):
        assert fact in text
    table = text.split("## Ratios", 1)[1].strip().split("\n\n", 1)[0].splitlines()
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header[-1] == "adkit/peer"
    rows = [dict(zip(header, (c.strip() for c in line.strip("|").split("|"))))
            for line in table[2:]]
    # the floor (plain floats) is always there; installed peers add rows of their own
    assert {r["Compared with"] for r in rows} >= {"float (math)", "float (np ufuncs)"}
    for r in rows:
        assert r["Benchmark"] == "scalar"
        expected = _seconds(r["adkit"]) / _seconds(r["Its time"])   # times print 3 digits
        assert float(r["adkit/peer"]) == pytest.approx(expected, rel=0.02)


def test_bench_unknown_name_is_a_message(tmp_path, capfd):
    assert main(["bench", "--only", "scalar,nope", "--out", str(tmp_path / "b.md")]) == 2
    assert "unknown benchmark(s) nope" in capfd.readouterr().err
    assert not (tmp_path / "b.md").exists()


def test_hints_name_the_install_command_that_fits(monkeypatch):
    from adkit import install_hint
    checkout = install_hint.source_checkout()
    assert checkout == Path(adkit.__file__).resolve().parent.parent     # this test's tree
    assert install_hint.pip_install("examples") == f'pip install -e "{checkout}[examples]"'
    monkeypatch.setattr(install_hint, "source_checkout", lambda: None)  # an installed wheel
    assert install_hint.pip_install("examples") == 'pip install "adkit[examples]"'


def test_workers_without_mpiexec_is_one_message_with_a_command(capsys, monkeypatch):
    import adkit.nn.mpi
    from adkit import install_hint
    monkeypatch.setattr(adkit.nn.mpi, "mpiexec", lambda: None)
    monkeypatch.setattr(install_hint, "source_checkout", lambda: None)
    for variable in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        monkeypatch.delenv(variable, raising=False)
    assert main(["train", "fashion-mnist", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("adkit train: error: --workers 2 needs mpiexec")
    assert 'pip install "adkit[distributed]"' in err and err.count("\n") == 1
