"""The one writer, through the commands: links, inputs, existing files, permissions, names."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

EXE = str(Path(sys.executable).parent / "nnmnist")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


def _digit(path: Path) -> None:
    digit = np.full((40, 30), 255, np.uint8)
    digit[5:35, 12:18] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(digit).save(path)


def test_force_never_replaces_a_symlink_or_writes_through_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (tmp_path / "w.pkl").symlink_to(victim)
    result = run(["init", "-o", "w.pkl", "--force"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "symbolic link" in result.stderr
    assert (tmp_path / "w.pkl").is_symlink() and victim.read_text() == "keep me\n"


def test_force_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    assert run(["init", "-o", "w.pkl"], tmp_path).returncode == 0
    os.chmod(tmp_path / "w.pkl", 0o600)
    assert run(["init", "-o", "w.pkl", "--force", "--seed", "1"], tmp_path).returncode == 0
    assert stat.S_IMODE(os.stat(tmp_path / "w.pkl").st_mode) == 0o600


def test_save_preprocessed_into_the_input_folder_is_refused_and_never_overwrites_an_input(
    tmp_path,
):
    _digit(tmp_path / "photo.png")
    before = (tmp_path / "photo.png").read_bytes()
    refused = run(["predict", "photo.png", "--save-preprocessed", "."], tmp_path)
    assert refused.returncode == 1 and "is not empty" in refused.stderr
    forced = run(["predict", "photo.png", "--save-preprocessed", ".", "--force"], tmp_path)
    assert forced.returncode == 1
    assert "photo.png: is one of this run's inputs" in forced.stderr
    assert (tmp_path / "photo.png").read_bytes() == before


def test_a_hard_link_to_an_input_counts_as_the_input(tmp_path):
    _digit(tmp_path / "in" / "a.png")
    (tmp_path / "out").mkdir()
    os.link(tmp_path / "in" / "a.png", tmp_path / "out" / "in_a.png")
    before = (tmp_path / "in" / "a.png").read_bytes()
    result = run(["predict", "in", "--save-preprocessed", "out", "--force"], tmp_path)
    assert result.returncode == 1 and "is one of this run's inputs" in result.stderr
    assert (tmp_path / "in" / "a.png").read_bytes() == before


def test_distinct_inputs_never_share_an_output_name(tmp_path):
    _digit(tmp_path / "a" / "b.png")
    _digit(tmp_path / "a_b.png")
    result = run(["predict", "a", "a_b.png", "--save-preprocessed", "seen"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "seen").iterdir()) == ["a_b-2.png", "a_b.png"]


def test_a_symlink_in_the_output_folder_is_not_followed(tmp_path):
    _digit(tmp_path / "x.png")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (tmp_path / "seen").mkdir()
    (tmp_path / "seen" / "x.png").symlink_to(victim)
    result = run(["predict", "x.png", "--save-preprocessed", "seen", "--force"], tmp_path)
    assert result.returncode == 1 and "symbolic link" in result.stderr
    assert victim.read_text() == "keep me\n" and (tmp_path / "seen" / "x.png").is_symlink()


def test_train_refuses_a_checkpoint_left_by_another_run(tmp_path, bundled_train_folder):
    (tmp_path / "w.npz.ckpt.npz").write_bytes(b"from an earlier run")
    result = run(
        ["train", "--data", str(bundled_train_folder), "--epochs", "1", "-o", "w.npz"],
        tmp_path,
    )
    assert result.returncode == 1 and "w.npz.ckpt.npz: already exists" in result.stderr
    assert (tmp_path / "w.npz.ckpt.npz").read_bytes() == b"from an earlier run"


def _age(path: Path, seconds: float = 300) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old), follow_symlinks=False)


def test_the_writer_removes_no_file_it_did_not_make_however_it_looks(tmp_path):
    """Issue 26: the input itself and every look-alike of a temporary beside the target (old,
    unlocked, some even with nnmnist's marker) survive every writer."""
    assert run(["init", "-o", ".m.npz.mine.tmp"], tmp_path).returncode == 0
    (tmp_path / ".m.npz.notes.tmp").write_text("my notes\n")
    (tmp_path / ".m.npz.nnmnist-abc123.tmp").write_text("mine, with the marker\n")
    os.link(tmp_path / ".m.npz.notes.tmp", tmp_path / ".m.npz.link.tmp")
    (tmp_path / ".m.npz.sym.tmp").symlink_to(tmp_path / ".m.npz.notes.tmp")
    (tmp_path / ".report.html.x.tmp").write_text("beside the report\n")
    for p in tmp_path.iterdir():
        _age(p)
    before = snapshot(tmp_path)
    exported = run(["export", ".m.npz.mine.tmp", "-o", "m.npz"], tmp_path)
    assert exported.returncode == 0, exported.stderr
    again = run(["export", ".m.npz.mine.tmp", "-o", "m.npz", "--force"], tmp_path)
    assert again.returncode == 0, again.stderr
    reported = run(["evaluate", "--limit", "50", "--report", "report.html"], tmp_path)
    assert reported.returncode == 0, reported.stderr
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(set(after) - set(before)) == ["m.npz", "report.html"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.name: (b"->" + os.readlink(p).encode()) if p.is_symlink() else p.read_bytes()
        for p in folder.iterdir()
    }


TWO_WRITERS = """
import sys, time
from nnmnist.io.atomic import RefusedTarget, write_file
def write(f):
    f.write(sys.argv[2].encode() * 1000)
    f.flush()
    print("writing", flush=True)
    sys.stdin.readline()
try:
    write_file(sys.argv[1], write)
    print("wrote", flush=True)
except RefusedTarget as exc:
    print("refused:", exc.strerror, flush=True)
"""


def test_two_writers_of_one_target_never_share_a_temporary_and_one_wins_whole(tmp_path):
    target = tmp_path / "w.bin"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TWO_WRITERS, str(target), tag],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in "AB"
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    temporaries = [p.name for p in tmp_path.iterdir()]
    assert len(temporaries) == 2 and all(".w.bin.nnmnist-" in n for n in temporaries)
    outcomes = []
    for proc in procs:  # A finishes first, then B finds the target made by another writer
        out, _ = proc.communicate("\n", timeout=30)
        outcomes.append(out.strip())
    assert outcomes == ["wrote", "refused: already exists; pass --force to replace it"]
    assert target.read_bytes() == b"A" * 1000  # whole, and the first writer's
    assert [p.name for p in tmp_path.iterdir()] == ["w.bin"]


def test_remove_own_removes_only_what_this_process_wrote(tmp_path):
    from nnmnist.io import atomic

    theirs = tmp_path / "theirs.bin"
    theirs.write_bytes(b"someone else's")
    assert not atomic.remove_own(theirs) and theirs.exists()
    ours = tmp_path / "ours.bin"
    atomic.write_file(ours, lambda f: f.write(b"ours"))
    os.link(ours, tmp_path / "link.bin")
    ours.unlink()
    (tmp_path / "ours.bin").write_bytes(b"a new file of the same name")  # another inode
    assert not atomic.remove_own(ours) and ours.exists()
    assert atomic.remove_own(tmp_path / "link.bin")  # the inode this process wrote
    assert not (tmp_path / "link.bin").exists()


def test_train_with_force_keeps_a_checkpoint_file_it_never_wrote(tmp_path, bundled_train_folder):
    """--epochs 0 writes no checkpoint: the file that was there before is not 'cleaned up'."""
    ckpt = tmp_path / "w.npz.ckpt.npz"
    ckpt.write_bytes(b"from an earlier run")
    result = run(
        ["train", "--data", str(bundled_train_folder), "--epochs", "0", "-o", "w.npz", "--force"],
        tmp_path,
    )
    assert ckpt.read_bytes() == b"from an earlier run", result.stderr


def test_moving_into_place_never_replaces_a_file_that_appeared_meanwhile(tmp_path):
    """The last step links the temporary to a new name (EEXIST if it is taken), never a plain
    rename, which would replace a file another program made after the last check."""
    from nnmnist.io import atomic

    tmp = tmp_path / ".t.nnmnist-x.tmp"
    tmp.write_bytes(b"ours")
    target = tmp_path / "t.bin"
    target.write_bytes(b"appeared meanwhile")
    with pytest.raises(atomic.RefusedTarget, match="appeared while nnmnist wrote it"):
        atomic._link_new(str(tmp), target)
    assert target.read_bytes() == b"appeared meanwhile" and tmp.read_bytes() == b"ours"
