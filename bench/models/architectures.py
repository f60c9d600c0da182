"""The classifier architectures a suite may name, as a registry of lazy constructor paths (so config checks names without torch)."""

from __future__ import annotations

from bench.core.registry import Registry

ARCHITECTURES: Registry = Registry("architecture", lambda: {name: f"torchvision.models:{name}" for name in ("resnet18", "resnet34", "resnet50")})
