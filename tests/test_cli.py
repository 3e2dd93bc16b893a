"""The command line: `adkit --help` documents every command; `adkit train` trains, saves
and logs, and turns a device it cannot use into a message (exit status 2, no traceback);
`adkit bench` writes a markdown table of adkit/peer ratios."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from data_support import needs_data

from adkit.__main__ import EXAMPLES, main
from adkit.nn.callbacks.summaries import read_summaries

COMMANDS = ("demo", "train", "check", "coverage", "devices", "bench")



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
