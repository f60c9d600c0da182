"""Deterministic 8-class texture images in the Kather colorectal histology set's format (150x150 RGB, 8 classes).

Every image is a class-independent pink background with one smooth blob (25-60% of the image) filled with a
class-specific texture. Inside the blob the texture is normalised to zero mean and unit variance before it is
coloured, so the blob's mean colour and contrast follow the same per-image jitter for every class: the class is
in the spatial structure only, and the blob's mask (written next to each image) is exactly where that is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from bench.data.generated import already_generated, staged, write_png
from bench.data.layout import SPLITS
from bench.utils.progress import progress

GENERATOR_VERSION = 1
STAMP = "textures.json"
# Kather et al. 2016's eight tissue classes, in index order.
CLASSES = ("tumor", "stroma", "complex", "lympho", "debris", "mucosa", "adipose", "empty")
# Lengths below are in pixels of a 150-pixel image (the Kather tile size) and scale with the image size, so that a
# smaller generated image looks like the 150-pixel one resized; the finest period (7 px) stays >= 3 px at 64 px.
REFERENCE_SIZE = 150
COVERAGE_RANGE = (0.3, 0.55)  # drawn blob coverage: inside the 25-60% the masks promise, with room to spare
# Blob colour: a haematoxylin-like purple; the texture varies it along a darker-purple stain direction.
REGION_BASE = np.array([0.66, 0.45, 0.70])
REGION_STAIN = np.array([0.55, 0.62, 0.40]) / np.linalg.norm([0.55, 0.62, 0.40])
BACKGROUND_BASE = np.array([0.92, 0.70, 0.80])  # eosin-like pink
BACKGROUND_STAIN = np.array([0.25, 0.55, 0.35]) / np.linalg.norm([0.25, 0.55, 0.35])


def default_counts() -> dict[str, int]:
    """Images per class and split: 480 images in all over the 8 classes."""
    return {"train": 40, "val": 10, "test": 10}


@dataclass(frozen=True)
class TextureSpec:
    """What to generate: image size, images per class in each split, and the seed."""

    image_size: int = REFERENCE_SIZE
    counts: dict[str, int] = field(default_factory=default_counts)
    seed: int = 0

    def fingerprint(self) -> str:
        """Stable hash of the spec, the class list and the generator version."""
        blob = json.dumps({"v": GENERATOR_VERSION, "classes": CLASSES, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- building blocks


@lru_cache(maxsize=8)
def _frequencies(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Radial frequency (cycles per pixel) and angle in [0, pi) of every bin of an rfft2 of a size x size image."""
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.rfftfreq(size), indexing="ij")
    # The angle is taken mod pi so that a filter of it is symmetric under f -> -f, as irfft2 assumes of a real image.
    radius, angle = np.hypot(fx, fy), np.mod(np.arctan2(fy, fx), np.pi)
    radius.flags.writeable = angle.flags.writeable = False  # cached and shared: nobody may change them
    return radius, angle


def _filtered_noise(rng: np.random.Generator, size: int, gain: np.ndarray) -> np.ndarray:
    """White noise shaped by a point-symmetric frequency gain (on the rfft2 grid), scaled to zero mean and unit variance."""
    noise = np.fft.irfft2(np.fft.rfft2(rng.standard_normal((size, size))) * gain, s=(size, size))
    return (noise - noise.mean()) / (noise.std() + 1e-12)


def _band(radius: np.ndarray, period: float, width: float = 0.35) -> np.ndarray:
    """Log-Gaussian radial band around 1/period cycles per pixel (width in natural-log units)."""
    with np.errstate(divide="ignore"):
        log_ratio = np.log(radius * period)
    gain = np.exp(-0.5 * (log_ratio / width) ** 2)
    gain[radius == 0] = 0.0
    return gain


def _orientation(angle: np.ndarray, theta: float, spread: float) -> np.ndarray:
    """Angular Gaussian around theta (mod pi): keeps the Fourier bins of structures running across theta."""
    delta = np.mod(angle - theta + np.pi / 2, np.pi) - np.pi / 2
    return np.exp(-0.5 * (delta / spread) ** 2)


def _stamp(rng: np.random.Generator, size: int, count: int, kernel: np.ndarray) -> np.ndarray:
    """`count` Poisson-placed copies of kernel (centred on pixel 0,0, periodic) summed by one FFT convolution."""
    impulses = np.bincount(rng.integers(0, size * size, count), minlength=size * size).reshape(size, size).astype(np.float64)
    return np.fft.irfft2(np.fft.rfft2(impulses) * np.fft.rfft2(kernel), s=(size, size))


@lru_cache(maxsize=8)
def _wrapped_distance(size: int) -> np.ndarray:
    """Distance of each pixel from pixel (0, 0) on the torus: the centre of a kernel for _stamp."""
    d = np.minimum(np.arange(size), size - np.arange(size)).astype(np.float64)
    distance = np.hypot(d[:, None], d[None, :])
    distance.flags.writeable = False
    return distance


def _disc(size: int, radius: float) -> np.ndarray:
    """Antialiased filled disc kernel."""
    return np.clip(radius - _wrapped_distance(size) + 0.5, 0.0, 1.0)


def _ring(size: int, radius: float, thickness: float) -> np.ndarray:
    """Antialiased annulus kernel."""
    return np.clip(thickness / 2 - np.abs(_wrapped_distance(size) - radius) + 0.5, 0.0, 1.0)


def _nuclei(rng: np.random.Generator, size: int, scale: float, radius: float, cover: float) -> np.ndarray:
    """Randomly placed round nuclei of about `radius` covering about `cover` of the area (overlaps merge)."""
    r = radius * scale * rng.uniform(0.9, 1.1)
    # Coverage of a Boolean disc model is 1 - exp(-density * pi r^2): solve for the density.
    count = int(round(-np.log(1 - cover) * size * size / (np.pi * r * r)))
    return np.minimum(_stamp(rng, size, count, _disc(size, r)), 1.0)


def _cells(rng: np.random.Generator, size: int, scale: float, spacing: float, wall: float) -> np.ndarray:
    """Voronoi cell walls: thin lines between seeds about `spacing` apart (fat-cell membranes)."""
    spacing = spacing * scale * rng.uniform(0.9, 1.1)
    # Seeds on a jittered grid with one cell of margin, so cells stay similar in size and fill the edges too.
    grid = np.arange(-spacing, size + spacing, spacing)
    sy, sx = (g.ravel() for g in np.meshgrid(grid, grid, indexing="ij"))
    seeds = np.stack([sy, sx], 1) + rng.uniform(-0.4, 0.4, (sy.size, 2)) * spacing
    pixels = np.arange(size, dtype=np.float32)
    # Squared distances in float32 over (y, x, seed): the partition over seeds is the costly step, so keep it small.
    squared = (pixels[:, None, None] - seeds[:, 0].astype(np.float32)) ** 2 + (pixels[None, :, None] - seeds[:, 1].astype(np.float32)) ** 2
    two = np.sqrt(np.partition(squared, 1, axis=2)[..., :2]).astype(np.float64)
    # The gap d2 - d1 is about twice the distance to the wall between the two nearest seeds.
    return np.clip(wall * scale - (two[..., 1] - two[..., 0]) / 2 + 0.5, 0.0, 1.0)


# --------------------------------------------------------------------------- the classes' textures


def _texture(rng: np.random.Generator, class_index: int, size: int) -> np.ndarray:
    """The class's raw texture field over the whole image (any scale; it is normalised inside the blob later)."""
    scale = size / REFERENCE_SIZE
    radius, angle = _frequencies(size)
    name = CLASSES[class_index]
    theta = rng.uniform(0, np.pi)  # every oriented texture takes a random orientation, so orientation alone is no cue
    if name == "tumor":
        # Large, densely packed nuclei.
        return _nuclei(rng, size, scale, radius=6.0, cover=0.5)
    if name == "stroma":
        # Long parallel fibres: narrow-angle band-pass noise, period ~10 px, one orientation.
        return _filtered_noise(rng, size, _band(radius, 10.0 * scale) * _orientation(angle, theta, 0.12))
    if name == "complex":
        # Two crossing fibre families (a woven, disordered stroma), coarser than stroma.
        cross = theta + np.pi / 2 + rng.uniform(-0.25, 0.25)
        gain = _band(radius, 16.0 * scale) * (_orientation(angle, theta, 0.12) + _orientation(angle, cross, 0.12))
        return _filtered_noise(rng, size, gain)
    if name == "lympho":
        # Many small round nuclei.
        return _nuclei(rng, size, scale, radius=2.6, cover=0.45)
    if name == "debris":
        # Irregular fragments: isotropic band-pass noise (period ~22 px) cut at a random level into blotches.
        noise = _filtered_noise(rng, size, _band(radius, 22.0 * scale, width=0.3))
        return (noise > rng.uniform(0.2, 0.6)).astype(np.float64)
    if name == "mucosa":
        # Gland-like rings: annuli of radius ~8 px, loosely packed (some touch or overlap).
        r = 8.0 * scale * rng.uniform(0.9, 1.1)
        count = int(round(0.6 * size * size / (np.pi * r * r)))
        return np.minimum(_stamp(rng, size, count, _ring(size, r, max(2.5 * scale, 1.2))), 1.0)
    if name == "adipose":
        # Large empty cells with thin membranes.
        return _cells(rng, size, scale, spacing=28.0, wall=1.2)
    # empty: only slow isotropic shading (periods ~60 px), no structure.
    return _filtered_noise(rng, size, _band(radius, 60.0 * scale, width=0.4))


def _blob(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random smooth blob covering a drawn fraction of the image exactly (to the pixel)."""
    radius, _ = _frequencies(size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    cy, cx = rng.uniform(0.35, 0.65, 2)
    stretch, tilt = rng.uniform(0.7, 1.4), rng.uniform(0, np.pi)
    u = (xx - cx) * np.cos(tilt) + (yy - cy) * np.sin(tilt)
    v = -(xx - cx) * np.sin(tilt) + (yy - cy) * np.cos(tilt)
    # An ellipse bent by low-frequency noise: one smooth lobed region rather than scattered islands.
    field = -np.hypot(u * stretch, v / stretch) + 0.08 * _filtered_noise(rng, size, _band(radius, 0.6 * size, width=0.5))
    coverage = rng.uniform(*COVERAGE_RANGE)
    # Thresholding at a quantile pins the area; the field is continuous, so ties are (almost surely) absent.
    threshold = np.sort(field.ravel())[::-1][int(round(coverage * size * size)) - 1]
    return field >= threshold


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Class-independent eosin-pink background: two octaves of band-limited noise with jittered colour."""
    scale = size / REFERENCE_SIZE
    radius, _ = _frequencies(size)
    shade = 0.7 * _filtered_noise(rng, size, _band(radius, 40.0 * scale, 0.5)) + 0.3 * _filtered_noise(rng, size, _band(radius, 9.0 * scale, 0.5))
    base = BACKGROUND_BASE * rng.uniform(0.94, 1.04, 3)
    return np.clip(base + rng.uniform(0.04, 0.07) * shade[..., None] * -BACKGROUND_STAIN, 0.0, 1.0)


def render_texture(rng: np.random.Generator, class_index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One uint8 RGB image (S,S,3) and a boolean mask (S,S) of the class-specific region."""
    if not 0 <= class_index < len(CLASSES):
        raise ValueError(f"class_index {class_index} not in 0..{len(CLASSES) - 1}")
    # Class-independent draws first (background, blob, colours), so they follow the same distribution for every class.
    image = _background(rng, size)
    mask = _blob(rng, size)
    base = REGION_BASE * rng.uniform(0.92, 1.08, 3)
    stain = REGION_STAIN * rng.uniform(0.85, 1.15, 3)
    contrast = rng.uniform(0.08, 0.11)
    pixel_noise = rng.normal(0.0, 0.012, (size, size, 3))
    texture = _texture(rng, class_index, size)
    # Zero mean and unit variance over the blob: its mean colour is `base` and its contrast `contrast` for every class.
    inside = texture[mask]
    texture = (texture - inside.mean()) / (inside.std() + 1e-12)
    region = base - contrast * texture[..., None] * stain
    image = np.where(mask[..., None], region, image) + pixel_noise
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8), mask


# --------------------------------------------------------------------------- the data set on disk


def _image_rng(seed: int, split: str, class_index: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS.index(split), class_index, index])


def generate_textures(root: Path, spec: TextureSpec) -> Path:
    """Write the set under root as ROOT/{split}/{class}/NAME.png with masks under ROOT/masks/... (skipped when already there)."""
    root = Path(root)
    if already_generated(root, STAMP, spec.fingerprint(), "texture set"):
        return root
    unknown = sorted(set(spec.counts) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown splits {unknown} in counts; expected some of {list(SPLITS)}")
    jobs = [(split, c, i) for split in SPLITS for c in range(len(CLASSES)) for i in range(spec.counts.get(split, 0))]
    with staged(root) as staging:
        for split, c, i in progress(jobs, desc="texture set", unit="img"):
            image, mask = render_texture(_image_rng(spec.seed, split, c, i), c, spec.image_size)
            name = f"{split}-{CLASSES[c]}-{i:04d}.png"
            write_png(image, staging / split / CLASSES[c] / name)
            write_png(mask.astype(np.uint8) * 255, staging / "masks" / split / CLASSES[c] / name)
        record = {"fingerprint": spec.fingerprint(), "spec": asdict(spec), "classes": list(CLASSES), "generator_version": GENERATOR_VERSION}
        (staging / STAMP).write_text(json.dumps(record, indent=2))
    return root
