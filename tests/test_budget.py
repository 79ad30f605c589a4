"""The memory budget (issue 26): known from the layer spec before anything runs, and held.

Every accepted spec's inference pass must stay within arch.BLOCK_BYTES of NumPy allocations
beyond its parameters (measured with tracemalloc, which sees NumPy's buffers), whatever the
batch size; specs that cannot are refused with one line that names the layer.
"""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnmnist.core import arch
from nnmnist.core.network import Network, forward, init_layers
from nnmnist.training.trainer import TrainConfig, budget_problem

MB = 1 << 20


def _extra_peak(net: Network, images: int) -> int:
    """Bytes NumPy allocated at most while one forward pass ran, beyond what was there."""
    x = np.random.default_rng(0).integers(0, 256, (images, 784), dtype=np.uint8)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        forward(net, x)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _largest_weights(net: Network) -> int:
    return max(w.nbytes for w in net.weights)  # a conv's filters are rearranged once per block


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (  # padding grows the picture: 45 layers of conv1k1p64 (issue 26: 430 MB an image)
            "-".join(["conv1k1p64"] * 45 + ["pool64", "affine10"]),
            "layer 9 (conv1k1p64) needs 40 MB for one image (its input is 1052x1052x1); nnmnist allows 32 MB",
        ),
        ("conv64k1p64-conv64k3-pool2-affine10", "layer 2 (conv64k3) needs 128 MB for one image"),
        ("affine21000-relu-affine10", "the network has 16,695,010 parameters"),
        ("conv4096k5-affine10", "parameters; nnmnist allows at most 16,000,000"),
    ],
)
def test_specs_past_the_budget_are_refused_before_anything_runs(spec, fragment):
    with pytest.raises(arch.SpecError, match=re.escape(fragment)):
        arch.parse(spec)


def test_a_wide_network_runs_in_smaller_blocks_within_the_budget():
    layers = arch.parse("conv4096k1-pool28-affine10")  # 12 MB an image in float32
    assert arch.block_images(layers, 4, 32) == 2
    net = init_layers(layers, rng=np.random.default_rng(0))
    peak = _extra_peak(net, 128)
    assert peak <= arch.BLOCK_BYTES + _largest_weights(net), f"{peak / MB:.0f} MB"
    # the same images in blocks of 32, as before the budget: four times as much
    assert arch.image_values(layers) * 4 * 32 > 4 * arch.BLOCK_BYTES


def test_the_shipped_layouts_keep_their_blocks():
    for spec in (
        *arch.BOOK_NETWORKS.values(),
        "conv32k5-relu-pool2-conv64k5-relu-pool2-affine256-relu-dropout0.5-affine10",
    ):
        layers = arch.parse(spec)
        assert arch.block_images(layers, 4, 32) == 32
        assert arch.block_images(layers, 4, 16, train=True) == 16


def test_a_wide_mlp_runs_in_fewer_rows_a_block():
    rng = np.random.default_rng(0)
    sizes = (784, 15_000, 10)
    net = Network(
        tuple(
            rng.standard_normal((a, b), dtype=np.float32) * 0.01
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        ),
        tuple(np.zeros(b, np.float32) for b in sizes[1:]),
        hidden="relu",
    )
    assert arch.images_per_block(arch.mlp_row_values(sizes), 4, 1024) < 1024
    assert _extra_peak(net, 3000) <= arch.BLOCK_BYTES + 3000 * 10 * 4 + MB


_LAYER = st.one_of(
    st.builds(
        lambda f, k, p, s: f"conv{f}k{k}p{p}s{s}",
        st.sampled_from([1, 8, 64, 256, 1024]),
        st.integers(1, 7),
        st.sampled_from([0, 1, 4, 16, 40]),
        st.sampled_from([1, 1, 2]),
    ),
    st.sampled_from(["pool2", "pool3s1", "relu", "sigmoid", "tanh", "dropout0.5book"]),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    st.lists(_LAYER, min_size=1, max_size=5),
    st.sampled_from(["", "affine64-relu-", "affine2000-sigmoid-"]),
    st.integers(1, 80),
)
def test_fuzz_every_accepted_spec_runs_within_the_budget(image_layers, head, images):
    spec = "-".join(image_layers) + "-" + head + "affine10"
    try:
        layers = arch.parse(spec)
    except arch.SpecError:
        return  # refused: one line, before anything was allocated
    net = init_layers(layers, rng=np.random.default_rng(0))
    peak = _extra_peak(net, images)
    assert peak <= arch.BLOCK_BYTES + _largest_weights(net) + MB, (spec, peak / MB)


def test_training_refuses_an_mlp_batch_that_cannot_fit_and_names_the_largest_that_does():
    problem = budget_problem(TrainConfig(hidden=(4000,), batch_size=60_000))
    assert problem is not None and problem.startswith("--batch-size 60000: a batch of this")
    most = int(problem.split("at most ")[1].split(" ")[0].replace(",", ""))
    assert budget_problem(TrainConfig(hidden=(4000,), batch_size=most)) is None
    assert budget_problem(TrainConfig(hidden=(4000,), batch_size=most + 1)) is not None
    assert "parameters" in budget_problem(TrainConfig(hidden=(100_000,) * 3))
    assert budget_problem(TrainConfig()) is None  # the default


def test_a_checkpoint_whose_config_passes_the_budget_is_refused():
    config = TrainConfig(hidden=(100_000,) * 32).to_dict()
    with pytest.raises(ValueError, match="parameters; nnmnist allows at most"):
        TrainConfig.from_dict(config)
