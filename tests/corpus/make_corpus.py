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


DTYPE_F4 = (
    b"cnumpy\ndtype\n(Vf4\nK\x00K\x01tR(K\x03V<\nNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
)


def hostile_pickles(w) -> None:
    """The pickles of issue 10: each uses only globals the old allow-list let through."""
    # a void scalar over 8 chosen bytes (NumPy wrote through them as an object pointer)
    w(
        "void-scalar.pkl",
        b"\x80\x04cnumpy.core.multiarray\nscalar\n(cnumpy\ndtype\n(VV8\nK\x00K\x01tR"
        b"(K\x03V|\nNNNJ\x08\x00\x00\x00K\x01K\x3ftbC\x08AAAAAAAAtR.",
    )
    # BUILD with a chosen state on a datetime dtype (a NULL dereference)
    w(
        "datetime-build.pkl",
        b"\x80\x04cnumpy\ndtype\n(VM8\nK\x00K\x01tR(K\x04V<\nNNN"
        b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb.",
    )
    # REDUCE on numpy.ndarray with zero strides: a 784-1000000-10 "network" from 266 bytes
    w(
        "zero-strides.pkl",
        b"\x80\x04}(\x8c\x02W1cnumpy\nndarray\n(J\x10\x03\x00\x00J\x40\x42\x0f\x00\x86"
        + DTYPE_F4
        + b"C\x04\x00\x00\x00\x00K\x00K\x00K\x00\x86tRu.",
    )
    w("memo-index.pkl", b"\x80\x04N\x72\x00\x00\x00\x06.")  # took 1.6 GB in pickle
    many = b"".join(b"\x8c\x06k%05d" % i + b"N" for i in range(150_000))
    w("many-keys.pkl", b"\x80\x04}(" + many + b"u.")
    collide = b"".join(
        b"\x8a\x0a" + (i * (2**61 - 1)).to_bytes(10, "little", signed=True) + b"N"
        for i in range(1, 3000)
    )
    w("colliding-int-keys.pkl", b"\x80\x04}(" + collide + b"u.")
    w("deep-list.pkl", b"\x80\x04" + b"]" * 5000 + b"a" * 4999 + b".")
    w("persistent-id.pkl", b"\x80\x04}\x8c\x02W1P1\ns.")
    w("newobj.pkl", b"\x80\x04}\x8c\x02W1cnumpy\nndarray\n)\x81s.")
    w("out-of-band.pkl", b"\x80\x05}\x8c\x02W1\x97s.")
    w("big-int.pkl", b"\x80\x04}\x8c\x02W1\x8a\x10" + b"\xff" * 15 + b"\x7fs.")
    loop: list = []
    loop.append(loop)
    w("self-loop.pkl", pickle.dumps({"W1": loop}, protocol=4))
    d = weights()
    d["W1"] = np.zeros(2, dtype=[("a", "f4"), ("b", "i4")])
    w("structured-dtype.pkl", pickle.dumps(d, protocol=4))
    good = pickle.dumps(weights(), protocol=2)
    w(
        "dtype-state.pkl",
        good.replace(
            b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00",
            b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x3f",
            1,
        ),
    )
    d = {"W1": np.zeros(4, "f4")}
    w("short-data.pkl", pickle.dumps(d, protocol=4).replace(b"(K\x01K\x04\x85", b"(K\x01K\x05\x85"))
    d = weights()
    d["meta"] = {"activation": "\x1b[2J\x1b[31mhacked\nerror: forged"}
    w("escape-meta.pkl", pickle.dumps(d, protocol=4))
    d = weights()
    d["W1"] = d["W1"] * np.float32(3e37)
    d["W2"] = d["W2"] * np.float32(3e37)
    w("huge-weights.pkl", pickle.dumps(d, protocol=4))


def npz_bytes(members: dict[str, bytes], compress: bool = True) -> bytes:
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def npy_bytes(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def hostile_archives(w) -> None:
    arrays = {f"{k}.npy": npy_bytes(v) for k, v in weights().items()}
    # a member that inflates 1000x: declared (and real) size 200 MB of zeros
    bomb = npy_with_header((200 * 2**20 // 784, 784), "|u1") + bytes(200 * 2**20 // 784 * 784)
    w("inflate-bomb.npz", npz_bytes({"x.npy": bomb}))
    w("weights-inflate-bomb.npz", npz_bytes({**arrays, "W1.npy": bomb}))
    w("weights-extra-member.npz", npz_bytes({**arrays, "evil.npy": npy_bytes(np.zeros(3))}))
    w("weights-not-npy-member.npz", npz_bytes({**arrays, "W3.txt": b"hello"}))
    digits = npy_bytes(np.zeros((2, 784), np.uint8))
    w("input-extra-member.npz", npz_bytes({"x.npy": digits, "payload.npy": digits}))
    w("input-not-npy-member.npz", npz_bytes({"x.npy": digits, "notes.txt": b"hi"}))
    w("zero-size-dtype.npy", npy_with_header((10**10, 784), "|V0"))
    # IDX whose header announces far more than its gzip data can hold
    w(
        "gzip-claims-too-much.idx.gz",
        gzip.compress(header(0x0803, 10**8, 28, 28) + bytes(784), mtime=0),
    )
    # an IDX folder whose gzipped images inflate to 100 MB but whose labels say 3
    folder = OUT / "folder-gzip-mismatch"
    folder.mkdir()
    n = 100 * 2**20 // 784
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(header(0x0803, n, 28, 28) + bytes(n * 784), mtime=0)
    )
    (folder / "t10k-labels-idx1-ubyte").write_bytes(header(0x0801, 3) + bytes(3))
    folder = OUT / "folder-too-many"
    folder.mkdir()
    n = 130_000
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(header(0x0803, n, 28, 28) + bytes(n * 784), mtime=0)
    )
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(header(0x0801, n) + bytes(n), mtime=0)
    )
    # images: an ICO whose directory says 16x16 around a 13000x13000 PNG
    big = io.BytesIO()
    Image.new("1", (13000, 13000)).save(big, format="PNG", optimize=True)
    png = big.getvalue()
    ico = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(png), 22)
    w("icon-bomb.ico", ico + png)
    w("icon-bomb.png", ico + png)  # the same, named as a PNG
    Image.new("L", (10_000, 10_000)).save(OUT / "bomb.tiff", compression="tiff_deflate")
    gif = io.BytesIO()
    Image.new("P", (16, 16)).save(gif, format="GIF")
    data = bytearray(gif.getvalue())
    data[6:10] = struct.pack("<HH", 65535, 65535)  # logical screen 65535x65535
    w("bomb.gif", bytes(data))
    (OUT / "latin1.csv").write_bytes(b"\xe9" + b",0" * 783 + b"\n")
    (OUT / "long-line.csv").write_bytes(b"0," * 100_000)
    (OUT / "paths-with-nul.txt").write_bytes(b"seven.png\x00evil\n")


def hostile_state(w) -> None:
    """Checkpoints and an OpenML cache that were edited or damaged."""
    net_arrays = {
        "param0": np.zeros((784, 4), np.float32),
        "param1": np.zeros(4, np.float32),
        "param2": np.zeros((4, 10), np.float32),
        "param3": np.zeros(10, np.float32),
    }
    arrays = {**net_arrays, **{k.replace("param", "best"): v for k, v in net_arrays.items()}}
    arrays["opt_t"] = np.array(1)
    config = {
        "hidden": [4],
        "activation": "relu",
        "init": "he",
        "optimizer": "sgd",
        "lr": 0.1,
        "weight_decay": 0.0,
        "batch_size": 50,
        "epochs": 2,
        "seed": 0,
        "val_size": 20,
        "patience": None,
        "schedule": "constant",
        "augment": 0,
        "dtype": "float32",
    }
    state = {
        "config": config,
        "epoch": 1,
        "best_val": 0.5,
        "best_epoch": 1,
        "rng": np.random.default_rng(0).bit_generator.state,
        "history": [],
    }

    def checkpoint(name: str, arrays: dict, state: dict) -> None:
        buf = io.BytesIO()
        np.savez(buf, **arrays, state=np.array(__import__("json").dumps(state)))
        w(name, buf.getvalue())

    checkpoint("unknown-key.npz.ckpt.npz", arrays, {**state, "config": {**config, "evil": 1}})
    checkpoint("wrong-type.npz.ckpt.npz", arrays, {**state, "config": {**config, "lr": "fast"}})
    checkpoint(
        "huge-batch.npz.ckpt.npz", arrays, {**state, "config": {**config, "batch_size": 10**12}}
    )
    checkpoint("bad-shape.npz.ckpt.npz", {**arrays, "param0": np.zeros((3, 3), np.float32)}, state)
    checkpoint("broadcast.npz.ckpt.npz", {**arrays, "param1": np.zeros(1, np.float32)}, state)
    checkpoint("bad-rng.npz.ckpt.npz", arrays, {**state, "rng": {"bit_generator": "MT19937"}})
    w("garbage.npz.ckpt.npz", b"PK\x03\x04 not really a zip")
    buf = io.BytesIO()
    np.savez(buf, **arrays, state=np.array("{}"), evil=np.zeros(3))
    w("extra-member.npz.ckpt.npz", buf.getvalue())
    # a training folder of 200 blank images for the checkpoints above
    folder = OUT / "train-folder"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte").write_bytes(header(0x0803, 200, 28, 28) + bytes(200 * 784))
    (folder / "train-labels-idx1-ubyte").write_bytes(
        header(0x0801, 200) + bytes(i % 10 for i in range(200))
    )
    # OpenML caches: labels above 9, float pixels, not an archive
    n = 70_000
    for name, images, labels in (
        ("cache-labels", np.zeros((n, 784), np.uint8), np.full(n, 12, np.uint8)),
        ("cache-float", np.full((n, 784), np.nan, np.float32), np.zeros(n, np.uint8)),
        ("cache-int-labels", np.zeros((n, 784), np.uint8), np.zeros(n, np.int64)),
    ):
        (OUT / name).mkdir()
        buf = io.BytesIO()
        np.savez_compressed(buf, images=images, labels=labels)
        (OUT / name / "mnist_784.npz").write_bytes(buf.getvalue())
    (OUT / "cache-garbage").mkdir()
    (OUT / "cache-garbage" / "mnist_784.npz").write_bytes(b"not an archive")


def hostile_safetensors(w) -> None:
    """safetensors files whose header lies (issue 17): sizes, offsets, dtypes."""
    import json

    def st(header: dict, body: bytes = b"", claimed: int | None = None) -> bytes:
        text = json.dumps(header).encode()
        return struct.pack("<Q", len(text) if claimed is None else claimed) + text + body

    w("header-1tb.safetensors", st({}, claimed=1 << 40))
    w(
        "tensor-past-end.safetensors",
        st({"W1": {"dtype": "F32", "shape": [784, 10], "data_offsets": [0, 31360]}}, b"\0" * 64),
    )
    w(
        "tensor-2gb-shape.safetensors",
        st({"0.weight": {"dtype": "F64", "shape": [65536, 32768], "data_offsets": [0, 1 << 34]}}),
    )
    w(
        "tensors-overlap.safetensors",
        st(
            {
                "0.weight": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            b"\0" * 12,
        ),
    )
    w(
        "object-dtype.safetensors",
        st({"W1": {"dtype": "O", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8),
    )


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

    hostile_pickles(w)
    hostile_archives(w)
    hostile_state(w)
    hostile_safetensors(w)

    # --- output targets
    (OUT / "existing.pkl").write_bytes(pk(weights()))
    (OUT / "a-folder").mkdir()
    (OUT / "a-folder" / "keep.txt").write_text("keep me\n")
    print(
        f"wrote {sum(1 for _ in OUT.rglob('*'))} files and folders in {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}"
    )


if __name__ == "__main__":
    sys.exit(main())
