"""atomic_write under faults: a writer killed mid-write (kill -9) leaves the old file intact,
and the next write to the same destination removes the killed writer's temporary, but
never one that a live writer still holds. Data and rename are fsynced."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from adkit.nn import files
from adkit.nn.files import atomic_write

pytestmark = pytest.mark.skipif(files.fcntl is None, reason="leftover cleanup needs flock (POSIX)")

# Writes "new" in 1 MiB chunks, says so after the first one, then keeps going slowly.
WRITER = textwrap.dedent("""
    import sys, time
    from adkit.nn.files import atomic_write
    with atomic_write(sys.argv[1], "wb") as f:
        for i in range(10_000):
            f.write(b"new" * 349_525)
            f.flush()
            if i == 0:
                print("writing", flush=True)
            time.sleep(0.05)
""")


def _start_writer(path):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "writing"
    return proc


def _temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(files.PREFIX))


def test_a_killed_writer_leaves_the_old_file_and_its_temporary_goes_on_the_next_write(tmp_path):
    path = tmp_path / "model.adkit"
    path.write_bytes(b"old")
    for _ in range(3):   # each writer removes the leftover of the one killed before it
        proc = _start_writer(path)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert path.read_bytes() == b"old"
    leftovers = _temporaries(tmp_path)
    assert len(leftovers) == 1 and leftovers[0].endswith("-model.adkit")
    with atomic_write(path, "wb") as f:
        f.write(b"next")
    assert path.read_bytes() == b"next"
    assert _temporaries(tmp_path) == []


def test_the_temporary_of_a_live_writer_or_another_destination_is_left_alone(tmp_path):
    path, other = tmp_path / "a.adkit", tmp_path / "b.adkit"
    other_proc = _start_writer(other)
    os.kill(other_proc.pid, signal.SIGKILL)
    other_proc.wait(timeout=10)
    live = _start_writer(path)
    try:
        before = _temporaries(tmp_path)
        with atomic_write(path, "wb") as f:
            f.write(b"mine")
        assert _temporaries(tmp_path) == before   # the live one, and b's leftover
        assert path.read_bytes() == b"mine"
    finally:
        live.kill()
        live.wait(timeout=10)
    with atomic_write(other, "wb") as f:   # b's own next write removes b's leftover
        f.write(b"b")
    assert [n for n in _temporaries(tmp_path) if n.endswith("-b.adkit")] == []


def test_data_is_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        kind = "folder" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"
        events.append(f"fsync {kind}")
        real_fsync(fd)

    def replace(a, b):
        events.append("rename")
        real_replace(a, b)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    with atomic_write(tmp_path / "x.txt") as f:
        f.write("data")
        f.close()   # closing inside the block still gets the data fsynced
    assert events == ["fsync file", "rename", "fsync folder"]
    assert (tmp_path / "x.txt").read_text() == "data"


def test_an_error_inside_the_block_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write("half")
            raise RuntimeError("boom")
    assert path.read_text() == "old" and _temporaries(tmp_path) == []


def test_a_long_destination_name_still_fits(tmp_path):
    path = tmp_path / ("m" * 250)
    with atomic_write(path) as f:
        f.write("ok")
    assert path.read_text() == "ok"


def test_model_save_after_a_killed_save_cleans_up(tmp_path):
    """The issue's probe: kill -9 during model.save, 5 times (it found 172 MB of leftovers
    after 40); at most the last killed save's temporary remains, and the next save removes it."""
    code = textwrap.dedent("""
        import sys, time
        from adkit.nn import Sequential, model_file
        from adkit.nn.layers import Dense
        model = Sequential([Dense(512, input_shape=(512,))], seed=0)
        real = model_file.np.lib.format.write_array
        def slow(*a, **k):
            print("saving", flush=True); time.sleep(60); real(*a, **k)
        model_file.np.lib.format.write_array = slow
        model.save(sys.argv[1])
    """)
    path = tmp_path / "m.adkit"
    from adkit.nn import Sequential, load_model
    from adkit.nn.layers import Dense
    Sequential([Dense(2, input_shape=(3,))], seed=0).save(path)
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", code, str(path)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "saving"
        time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert load_model(path).count_params() == 8
    assert len(_temporaries(tmp_path)) == 1   # the last one; each save removed the one before
    Sequential([Dense(2, input_shape=(3,))], seed=1).save(path)
    assert _temporaries(tmp_path) == []
