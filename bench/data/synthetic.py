"""Deterministic synthetic fundus photographs written in the glaucoma set's folder layout."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from bench.data.generated import already_generated, staged, write_png
from bench.data.layout import REGION_SUFFIX, SPLITS
from bench.utils.progress import progress

GENERATOR_VERSION = 1
# The shortcut's layout (marker in train and val, on every test image, the test variants) changed after version 1;
# only sets with a shortcut carry this in their fingerprint, so every other set keeps its fingerprint.
SHORTCUT_VERSION = 2
STAMP = "synthetic.json"
# Where a shortcut set keeps the marker's masks (a region the localisation metrics can score) and its test variants.
MARKER_REGION = "shortcut"
VARIANTS_DIR = "shortcut_variants"
# The test images again, differing only in the marker: label-correlated as in training, removed, or moved to the
# opposite corner (still label-correlated); what a model's accuracy on each says about its reliance on the marker.
VARIANTS = ("correlated", "removed", "moved")
# The classes in index order: 0 = health, 1 = glaucoma (the positive class of the binary report).
LABELS = ("health", "glaucoma")

# Vertical cup-to-disc ratio ranges: the clinical rule the labels follow.
CDR_RANGE = {"glaucoma": (0.6, 0.8), "health": (0.25, 0.45)}


def default_counts() -> dict[str, dict[str, int]]:
    """Images per split and label: 40% glaucoma, scaled down for CPU training."""
    return {
        "train": {"glaucoma": 160, "health": 240},
        "val": {"glaucoma": 40, "health": 60},
        "test": {"glaucoma": 40, "health": 60},
    }


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate: image size, counts per split and label, seed and the shortcut option.

    With shortcut, a marker goes on train and val images with probability shortcut_strength for glaucoma and
    1 - shortcut_strength for health (what a model learns from), on every test image (what is explained: each model
    sees it, only one has learnt it), and the test variants are written under shortcut_variants/.
    """

    image_size: int = 224
    counts: dict[str, dict[str, int]] = field(default_factory=default_counts)
    seed: int = 0
    shortcut: bool = False
    shortcut_strength: float = 0.9

    def fingerprint(self) -> str:
        """Stable hash of the spec and the generator version."""
        blob = json.dumps({"v": GENERATOR_VERSION, **asdict(self), **({"shortcut_v": SHORTCUT_VERSION} if self.shortcut else {})}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FundusParams:
    """The random draws that define one image; kept so tests can check the label rule."""

    disc_centre: tuple[float, float]
    disc_radius: float
    cup_ratio: float
    shortcut: bool


def _smoothstep(edge: float, d: np.ndarray, soft: float) -> np.ndarray:
    return np.clip((edge - d) / soft + 0.5, 0.0, 1.0)


def _vessel_points(rng: np.random.Generator, start: np.ndarray, size: int) -> np.ndarray:
    """Branching random-walk vessel tree as (x, y, width) points leaving the optic disc."""
    points = []
    temporal = rng.choice([-1.0, 1.0])
    stack = []
    for vertical in (-1.0, 1.0):
        for side, width in ((temporal, 0.016 * size), (-temporal, 0.011 * size)):
            angle = np.arctan2(vertical * rng.uniform(0.6, 1.4), side)
            stack.append((start.copy(), angle, width, side * vertical, 0))
    step = max(size / 150.0, 1.0)
    while stack and len(points) < 6000:
        pos, angle, width, bend, depth = stack.pop()
        for _ in range(int(rng.integers(40, 90))):
            angle += bend * 0.025 + rng.normal(0.0, 0.09)
            pos = pos + step * np.array([np.cos(angle), np.sin(angle)])
            width *= 0.993
            points.append((pos[0], pos[1], width))
            if width < 0.004 * size or not (0 <= pos[0] < size and 0 <= pos[1] < size):
                break
            if depth < 3 and rng.random() < 0.03:
                turn = rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 0.9)
                stack.append((pos.copy(), angle + turn, width * 0.7, bend, depth + 1))
    return np.asarray(points, dtype=np.float64).reshape(-1, 3)


def _stamp_vessels(points: np.ndarray, size: int) -> np.ndarray:
    """Rasterise vessel points as soft discs into a [0, 1] strength image."""
    strength = np.zeros((size, size))
    if len(points) == 0:
        return strength
    reach = int(np.ceil(points[:, 2].max())) + 1
    offsets = np.arange(-reach, reach + 1)
    oy, ox = np.meshgrid(offsets, offsets, indexing="ij")
    cx = np.round(points[:, 0]).astype(int)[:, None] + ox.ravel()[None]
    cy = np.round(points[:, 1]).astype(int)[:, None] + oy.ravel()[None]
    dist = np.hypot(cx - points[:, 0:1], cy - points[:, 1:2])
    value = np.clip(points[:, 2:3] / 2 - dist + 0.5, 0.0, 1.0)
    keep = (cx >= 0) & (cx < size) & (cy >= 0) & (cy < size) & (value > 0)
    np.maximum.at(strength, (cy[keep], cx[keep]), value[keep])
    return strength


def render_fundus(rng: np.random.Generator, label: str, spec: SyntheticSpec, marker_at: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray | None, FundusParams]:
    """One fundus image (uint8 RGB), its optic-disc mask, the shortcut marker's mask and its draws.

    marker_at: "" for no marker, "in_place" for the field's lower-left corner (where training puts it), "moved" for the
    opposite, upper-right corner. The marker draws nothing from rng, so the same
    rng state renders the same image with the marker anywhere or nowhere.
    """
    size = spec.image_size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    centre = size / 2 + rng.normal(0, 0.015 * size, 2)
    fov_radius = size * rng.uniform(0.44, 0.48)
    r_fov = np.hypot(xx - centre[0], yy - centre[1])
    fov = _smoothstep(fov_radius, r_fov, 1.5)

    base = np.array([0.78, 0.30, 0.12]) * rng.uniform(0.85, 1.1, 3)
    vignette = 1.0 - rng.uniform(0.35, 0.6) * (r_fov / fov_radius) ** 2
    direction = rng.uniform(0, 2 * np.pi)
    ramp = 1.0 + rng.uniform(0.0, 0.25) * ((xx - centre[0]) * np.cos(direction) + (yy - centre[1]) * np.sin(direction)) / fov_radius
    blob_c = centre + rng.normal(0, 0.2 * size, 2)
    blob = 1.0 + rng.uniform(-0.15, 0.15) * np.exp(-((xx - blob_c[0]) ** 2 + (yy - blob_c[1]) ** 2) / (2 * (0.25 * size) ** 2))
    light = np.clip(vignette * ramp * blob * rng.uniform(0.8, 1.1), 0.05, None)[..., None]
    img = base[None, None, :] * light

    # The disc sits nasally (left or right eye) with a vertical jitter; it is slightly taller than wide.
    side = rng.choice([-1.0, 1.0])
    disc_r = size * rng.uniform(0.075, 0.1)
    disc_c = centre + np.array([side * size * rng.uniform(0.12, 0.24), rng.normal(0, 0.06 * size)])
    stretch = rng.uniform(1.03, 1.12)
    d_disc = np.hypot(xx - disc_c[0], (yy - disc_c[1]) / stretch)
    disc = _smoothstep(disc_r, d_disc, 1.5)
    cdr = rng.uniform(*CDR_RANGE[label])
    cup_c = disc_c + rng.normal(0, 0.04 * disc_r, 2)
    d_cup = np.hypot(xx - cup_c[0], (yy - cup_c[1]) / stretch)
    cup = _smoothstep(cdr * disc_r, d_cup, 0.12 * disc_r + 1.0)
    disc_colour = np.array([0.97, 0.66, 0.36]) * rng.uniform(0.9, 1.05)
    cup_colour = np.array([1.0, 0.92, 0.78])
    img = img * (1 - disc[..., None]) + disc_colour * disc[..., None] * light
    img = img * (1 - cup[..., None]) + cup_colour * cup[..., None] * np.sqrt(light)

    vessels = _stamp_vessels(_vessel_points(rng, disc_c, size), size) * (1 - 0.5 * cup)
    img = img * (1 - vessels[..., None] * np.array([0.45, 0.7, 0.7]))

    # Class-independent distractors: bright exudate-like spots and dark haemorrhages.
    for colour, count in ((np.array([1.0, 0.85, 0.45]), rng.integers(0, 6)), (np.array([0.35, 0.05, 0.03]), rng.integers(0, 4))):
        for _ in range(int(count)):
            angle, radius = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.85) * fov_radius
            spot_c = centre + radius * np.array([np.cos(angle), np.sin(angle)])
            spot = _smoothstep(rng.uniform(0.006, 0.02) * size, np.hypot(xx - spot_c[0], yy - spot_c[1]), 1.0)
            img = img * (1 - spot[..., None]) + colour * spot[..., None] * light

    marker = None
    if marker_at:
        # A bright square in a fixed corner of the field: spurious, and easy to learn.
        half = max(int(0.03 * size), 2)
        sign = {"in_place": 1.0, "moved": -1.0}[marker_at]
        mx, my = int(centre[0] - sign * 0.5 * fov_radius), int(centre[1] + sign * 0.5 * fov_radius)
        marker = np.zeros((size, size), dtype=bool)
        marker[my - half:my + half, mx - half:mx + half] = True
        img[marker] = np.array([0.2, 0.9, 0.9])

    img = img * fov[..., None] + rng.normal(0, 0.02, img.shape) * (0.3 + 0.7 * fov[..., None])
    pixels = Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8))
    if rng.random() < 0.3:
        pixels = pixels.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.5)))
    params = FundusParams((float(disc_c[0]), float(disc_c[1])), float(disc_r), float(cdr), bool(marker_at))
    return np.asarray(pixels), disc > 0.5, marker, params


def _image_rng(seed: int, split: str, label: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS.index(split), LABELS.index(label), index])


def _correlated_marker(spec: SyntheticSpec, split: str, label: str, index: int) -> bool:
    """Whether a label-correlated marker goes on this image; drawn apart from the image's rng so its twins stay equal."""
    p = spec.shortcut_strength if label == "glaucoma" else 1.0 - spec.shortcut_strength
    return bool(np.random.default_rng([spec.seed, SPLITS.index(split), LABELS.index(label), index, 1]).random() < p)


def _marker_at(spec: SyntheticSpec, split: str, label: str, index: int) -> str:
    """Where the marker goes on an image of the set: nowhere without a shortcut, always at test, label-correlated before."""
    if not spec.shortcut:
        return ""
    if split == "test":
        return "in_place"
    return "in_place" if _correlated_marker(spec, split, label, index) else ""


def _variant_marker(spec: SyntheticSpec, variant: str, label: str, index: int) -> str:
    """Where a test variant puts the marker of test image `index`."""
    if variant == "removed":
        return ""
    placed = _correlated_marker(spec, "test", label, index)
    return ("in_place" if variant == "correlated" else "moved") if placed else ""


def _write_image(root: Path, spec: SyntheticSpec, split: str, label: str, index: int, marker_at: str) -> None:
    """Render one image of the set and write it, its disc mask and its marker's mask (if it has one) under root."""
    image, mask, marker, _ = render_fundus(_image_rng(spec.seed, split, label, index), label, spec, marker_at)
    name = f"{split}-{label}-{index:04d}.png"
    write_png(image, root / split / label / name)
    write_png(mask.astype(np.uint8) * 255, root / "masks" / split / label / name)
    if marker is not None:
        write_png(marker.astype(np.uint8) * 255, root / f"{MARKER_REGION}{REGION_SUFFIX}" / split / label / name)


def variant_root(root: Path, variant: str) -> Path:
    """Where a shortcut set keeps one test variant (a folder-layout set with a test split only)."""
    return Path(root) / VARIANTS_DIR / variant


def generate(root: Path, spec: SyntheticSpec) -> Path:
    """Write the synthetic set under root (skipped when root already holds this spec's set)."""
    root = Path(root)
    if already_generated(root, STAMP, spec.fingerprint(), "synthetic set"):
        return root
    jobs = [(split, label, i) for split in SPLITS for label in LABELS for i in range(spec.counts.get(split, {}).get(label, 0))]
    with staged(root) as staging:
        for split, label, i in progress(jobs, desc="synthetic fundus set", unit="img"):
            _write_image(staging, spec, split, label, i, _marker_at(spec, split, label, i))
            if spec.shortcut and split == "test":
                for variant in VARIANTS:
                    _write_image(staging / VARIANTS_DIR / variant, spec, split, label, i, _variant_marker(spec, variant, label, i))
        record = {"fingerprint": spec.fingerprint(), "spec": asdict(spec), "generator_version": GENERATOR_VERSION}
        (staging / STAMP).write_text(json.dumps(record, indent=2))
    return root
