"""The one writer, through the commands: links, inputs, existing files, permissions, names."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
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
