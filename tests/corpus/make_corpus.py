"""Write the bad-input corpus into tests/corpus/files/ (run from the repository root).

    python tests/corpus/make_corpus.py

Every file is small (the decompression bomb and the gzip bomb compress to a few kB), so the
output is committed; this script documents how each was made and can remake them.
"""

from __future__ import annotations

import gzip
import io
import pickle
import shutil
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
OUT = HERE / "files"


def header(magic: int, *dims: int) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims)


def global_call(module: str, name: str, arg: str, with_dict: bool = False) -> bytes:
    """A protocol-0 pickle that calls module.name(arg[, {}]) when loaded."""
    extra = b"(d" if with_dict else b""
    return b"c%s\n%s\n(V%s\n%stR." % (module.encode(), name.encode(), arg.encode(), extra)


def weights(sizes=(784, 20, 10), dtype=np.float32) -> dict:
    rng = np.random.RandomState(0)
    d = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        d[f"W{i}"] = (rng.randn(a, b) * 0.1).astype(dtype)
        d[f"b{i}"] = np.zeros(b, dtype=dtype)
    return d


def npy_with_header(shape: tuple[int, ...], dtype: str = "<f4", data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue() + data


def seven() -> Image.Image:
    im = Image.new("L", (120, 160), 255)
    d = ImageDraw.Draw(im)
    d.line((20, 20, 100, 20), fill=0, width=12)
    d.line((100, 20, 50, 140), fill=0, width=12)
    return im


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    w = lambda name, data: (OUT / name).write_bytes(data)  # noqa: E731
    pk = lambda obj: pickle.dumps(obj, protocol=4)  # noqa: E731

    # --- weight files
    sentinel = "/tmp/nnmnist-corpus-pwned"
    w("evil-os-system.pkl", global_call("os", "system", f"touch {sentinel}"))
    w("evil-eval.pkl", global_call("builtins", "eval", f"open({sentinel!r}, 'w').close()"))
    w("evil-subprocess.pkl", global_call("subprocess", "check_call", f"touch {sentinel}"))
    w(
        "evil-runstring.pkl",
        global_call(
            "numpy.testing._private.utils", "runstring", f"open({sentinel!r}, 'w').close()", True
        ),
    )
    w("list.pkl", pk([1, 2, 3]))
    d = weights()
    del d["b2"]
    w("missing-key.pkl", pk(d))
    d = weights()
    d["W9x"] = 1
    w("extra-key.pkl", pk(d))
    d = weights((784, 20, 10))
    d["W3"], d["b3"] = d.pop("W2"), d.pop("b2")
    w("misnumbered.pkl", pk(d))
    d = weights((784, 20, 10))
    d["W2"] = np.zeros((21, 10), np.float32)
    w("broken-chain.pkl", pk(d))
    d = weights()
    d["W2"][0, 0] = np.nan
    w("nan.pkl", pk(d))
    d = weights()
    d["b1"][3] = np.inf
    buf = io.BytesIO()
    np.savez(buf, **d)
    w("inf.npz", buf.getvalue())
    w("int-dtype.pkl", pk(weights(dtype=np.int64)))
    w("complex.pkl", pk(weights(dtype=np.complex64)))
    d = weights()
    d["W1"] = d["W1"].astype(object)
    w("object-dtype.pkl", pk(d))
    w("empty.pkl", b"")
    w("truncated.pkl", pk(weights())[:500])
    png = io.BytesIO()
    seven().save(png, format="PNG")
    w("png-renamed.pkl", png.getvalue())
    with zipfile.ZipFile(OUT / "object-member.npz", "w") as zf:
        for k, v in weights().items():
            with zf.open(f"{k}.npy", "w") as f:
                np.lib.format.write_array(f, v)
        with zf.open("meta.npy", "w") as f:
            f.write(npy_with_header((1,), "|O") + b"\x80\x04N.")
    with zipfile.ZipFile(OUT / "huge-header.npz", "w") as zf:
        for k, v in weights().items():
            with zf.open(f"{k}.npy", "w") as f:
                if k == "W1":
                    f.write(npy_with_header((10**6, 10**6)) + b"\0" * 64)
                else:
                    np.lib.format.write_array(f, v)

    # --- IDX and gzip (given to predict)
    digit = np.zeros((28, 28), np.uint8)
    digit[5:23, 12:16] = 255
    w("labels-as-images.idx", header(0x0801, 3) + bytes([1, 2, 3]))
    w("count-larger.idx", header(0x0803, 3, 28, 28) + digit.tobytes() * 2)
    w("count-smaller.idx", header(0x0803, 1, 28, 28) + digit.tobytes() * 2)
    w("trailing-bytes.idx", header(0x0803, 1, 28, 28) + digit.tobytes() + b"junk")
    good = gzip.compress(header(0x0803, 2, 28, 28) + digit.tobytes() * 2, mtime=0)
    w("truncated.idx.gz", good[: len(good) - 20])
    bad_crc = bytearray(good)
    bad_crc[-8] ^= 0xFF
    w("bad-crc.idx.gz", bytes(bad_crc))
    w("gzip-bomb.idx.gz", gzip.compress(header(0x0803, 1, 28, 28) + bytes(100 * 2**20), mtime=0))

    # --- IDX folders (given to evaluate --data)
    def idx_folder(name: str, images: bytes, labels: bytes) -> None:
        folder = OUT / name
        folder.mkdir()
        (folder / "t10k-images-idx3-ubyte").write_bytes(images)
        (folder / "t10k-labels-idx1-ubyte").write_bytes(labels)

    idx_folder(
        "folder-count-mismatch",
        header(0x0803, 2, 28, 28) + digit.tobytes() * 2,
        header(0x0801, 3) + bytes([1, 1, 1]),
    )
    idx_folder(
        "folder-bad-label",
        header(0x0803, 2, 28, 28) + digit.tobytes() * 2,
        header(0x0801, 2) + bytes([1, 10]),
    )
    (OUT / "folder-empty").mkdir()
    (OUT / "folder-empty" / "README").write_text("no IDX files here\n")

    # --- arrays and CSV (given to predict)
    np.save(OUT / "shape-783.npy", np.zeros((2, 783), np.uint8))
    np.save(OUT / "shape-28x27.npy", np.zeros((2, 28, 27), np.uint8))
    np.save(OUT / "over-255.npy", np.full((2, 784), 300, np.int32))
    np.save(OUT / "nan.npy", np.full((2, 784), np.nan, np.float32))
    np.save(OUT / "inf.npy", np.full((2, 784), np.inf, np.float64))
    w("huge-header.npy", npy_with_header((10**7, 784), "|u1") + bytes(784))
    zero_row = ",".join(["0"] * 783)
    (OUT / "1e309.csv").write_text(f"1e309,{zero_row}\n")
    (OUT / "underscore.csv").write_text(f"1_000,{zero_row}\n")
    (OUT / "non-ascii-digits.csv").write_text(f"\u0663,{zero_row}\n", encoding="utf-8")
    (OUT / "negative.csv").write_text(f"-1,{zero_row}\n")
    (OUT / "wrong-count.csv").write_text(f"0,{zero_row}\n0,{zero_row}\n0,0,0\n")
    (OUT / "empty.csv").write_text("")
    (OUT / "bom.csv").write_bytes(b"\xef\xbb\xbf" + f"0,{zero_row}\n".encode())
    w("garbage.dat", bytes(range(256)) * 4)

    # --- images (given to predict)
    Image.new("1", (10_000, 10_000)).save(OUT / "bomb.png", optimize=True)
    w("truncated.png", png.getvalue()[: len(png.getvalue()) // 2])
    (OUT / "text.png").write_text("this is not an image\n")
    Image.new("L", (64, 64), 255).save(OUT / "blank.png")
    w("photoshop.tiff", b"8BPS\x00\x01" + bytes(100))
    seven().save(OUT / "seven.png")

    # --- output targets
    (OUT / "existing.pkl").write_bytes(pk(weights()))
    (OUT / "a-folder").mkdir()
    (OUT / "a-folder" / "keep.txt").write_text("keep me\n")
    print(
        f"wrote {sum(1 for _ in OUT.rglob('*'))} files and folders in {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}"
    )


if __name__ == "__main__":
    sys.exit(main())
