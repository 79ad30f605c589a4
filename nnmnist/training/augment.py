"""Augmentations for training, each on a batch of MNIST-style pixels with the trainer's seeded
generator: shifts, rotation, scaling and elastic distortion, thicker or thinner strokes, noise."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray


def shift_images(
    x: NDArray[np.uint8], max_shift: int, rng: np.random.Generator
) -> NDArray[np.uint8]:
    """Move each (784,) image by a random whole-pixel offset in [-max_shift, max_shift]^2."""
    n = len(x)
    pad = max_shift
    padded = np.pad(x.reshape(n, 28, 28), ((0, 0), (pad, pad), (pad, pad)))  # (n, 28+2p, 28+2p)
    dy, dx = rng.integers(-max_shift, max_shift + 1, size=(2, n))
    rows = np.arange(28)[None, :] + pad - dy[:, None]  # (n, 28)
    cols = np.arange(28)[None, :] + pad - dx[:, None]  # (n, 28)
    out: NDArray[np.uint8] = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.reshape(n, 784)  # gathered as (n, 28, 28)


def _unit_pixels(x: NDArray[Any]) -> NDArray[np.float32]:
    """A float32 copy of pixels: uint8 scaled to [0, 1], floats (already there) as they are."""
    out: NDArray[np.float32] = x.astype(np.float32)
    if x.dtype == np.uint8:
        out /= 255
    return out


ELASTIC_SIGMA = 4.0  # smoothness of the elastic displacement fields, in pixels (Simard et al.)


def distort_images(
    x: NDArray[Any], rotate: float, scale: float, elastic: float, rng: np.random.Generator
) -> NDArray[np.float32]:
    """Random rotations (up to rotate degrees either way), scalings (by 1 +- scale) about the
    centre, and elastic distortions (Simard, Steinkraus and Platt, 2003: a random displacement
    field smoothed by a Gaussian of ELASTIC_SIGMA, times elastic), bilinear, one call for the
    whole batch. (n, 784) pixels in, (n, 784) float32 in [0, 1] out. Draws in a fixed order."""
    from scipy import ndimage

    n = len(x)
    images = _unit_pixels(x).reshape(n, 28, 28)
    angle = np.deg2rad(rng.uniform(-rotate, rotate, n)) if rotate else np.zeros(n)
    zoom = rng.uniform(1 - scale, 1 + scale, n) if scale else np.ones(n)
    centre = 13.5
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float64) - centre  # output pixel, from the centre
    cos = (np.cos(angle) / zoom)[:, None, None]
    sin = (np.sin(angle) / zoom)[:, None, None]
    src_y = cos * yy - sin * xx + centre  # (n, 28, 28): where each output pixel reads from
    src_x = sin * yy + cos * xx + centre
    if elastic:
        field = rng.uniform(-1, 1, (2, n, 28, 28))
        field = ndimage.gaussian_filter(field, sigma=(0, 0, ELASTIC_SIGMA, ELASTIC_SIGMA))
        field *= elastic
        src_y += field[0]
        src_x += field[1]
    which = np.broadcast_to(np.arange(n, dtype=np.float64)[:, None, None], src_y.shape)
    out: NDArray[np.float32] = ndimage.map_coordinates(
        images, [which, src_y, src_x], order=1, cval=0.0
    )
    return np.clip(out, 0, 1).reshape(n, 784)


MAX_THICKNESS = 3.0


def change_thickness(
    x: NDArray[Any], thickness: float, rng: np.random.Generator
) -> NDArray[np.float32]:
    """Strokes made thicker or thinner at random, as different pens write: each image gets an
    amount drawn from [-thickness, thickness]; each whole unit is one grey dilation (positive)
    or erosion (negative) with a 3x3 cross, and the fraction left blends the image towards one
    more; each image's brightest pixel is then as bright as before (a thin pen's line is thin,
    not faint, once predict has stretched its contrast). (n, 784) pixels in, (n, 784) float32
    in [0, 1] out."""
    from scipy import ndimage

    n = len(x)
    images = _unit_pixels(x).reshape(n, 28, 28)
    amount = rng.uniform(-thickness, thickness, n)
    cross = np.zeros((1, 3, 3), bool)
    cross[0, 1, :] = cross[0, :, 1] = True
    for step in range(math.ceil(thickness)):
        share = np.clip(np.abs(amount) - step, 0, 1).astype(np.float32)
        if not share.any():
            break
        grown = ndimage.grey_dilation(images, footprint=cross)
        shrunk = ndimage.grey_erosion(images, footprint=cross)
        target = np.where((amount > 0)[:, None, None], grown, shrunk)
        images += share[:, None, None] * (target - images)
    before = _unit_pixels(x.reshape(n, 784).max(axis=1))
    after = images.reshape(n, 784).max(axis=1)
    gain = np.where(after > 0, before / np.maximum(after, 1e-6), 1).astype(np.float32)
    out: NDArray[np.float32] = np.clip(images.reshape(n, 784) * gain[:, None], 0, 1)
    return out


def add_noise(x: NDArray[Any], noise: float, rng: np.random.Generator) -> NDArray[np.float32]:
    """Gaussian pixel noise of a sigma drawn from [0, noise] per image, clipped to [0, 1]."""
    n = len(x)
    images = _unit_pixels(x)
    sigma = rng.uniform(0, noise, n).astype(np.float32)
    images += sigma[:, None] * rng.standard_normal(images.shape, dtype=np.float32)
    out: NDArray[np.float32] = np.clip(images, 0, 1)
    return out
