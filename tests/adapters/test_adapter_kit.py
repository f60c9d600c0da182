"""The adapter kit: the template passes the conformance check, and a plugin package registers through entry points."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from adapters._template import GradientNorm
from bench.core.conformance import check_adapter


def test_template_passes_the_conformance_check() -> None:
    checks = check_adapter(GradientNorm)
    assert not [c for c in checks if c.status == "fail"]
    assert sum(c.status == "pass" for c in checks) >= 21


def test_template_computes_the_gradient_norm() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 3, 2)).eval()
    x = torch.randn(1, 2, 3)
    out = GradientNorm(model).attribute(x, torch.tensor([1]))
    torch.testing.assert_close(out[0], model[1].weight[1].detach().view(2, 3).norm(dim=0))


def test_plugin_package_registers_through_entry_points(tmp_path: Path) -> None:
    package = tmp_path / "plugin"
    (package / "fake_xai_plugin").mkdir(parents=True)
    (package / "fake_xai_plugin" / "__init__.py").write_text(textwrap.dedent('''
        import torch
        from bench.core.explainer import Explainer

        class Ones(Explainer):
            name, method, library = "fakelab.ones", "ones", "fakelab"

            def _attribute(self, x, target, seeds):
                return torch.ones(x.shape[0], *x.shape[2:], device=x.device)
    '''))
    (package / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "fake-xai-plugin"
        version = "0.0.1"

        [project.entry-points."xai_bench.adapters"]
        "fakelab.ones" = "fake_xai_plugin:Ones"
    '''))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(target), str(package)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(Path.cwd())])}
    listing = subprocess.run([sys.executable, "-m", "bench.cli", "ls", "methods"], env=env, capture_output=True, text=True, check=True)
    assert "fakelab.ones" in listing.stdout and "library=fakelab" in listing.stdout
    check = subprocess.run([sys.executable, "-m", "bench.cli", "check-adapter", "fakelab.ones"], env=env, capture_output=True, text=True)
    assert check.returncode == 0 and "0 failed" in check.stdout
    plain = subprocess.run([sys.executable, "-m", "bench.cli", "ls", "methods"], capture_output=True, text=True, check=True)
    assert "fakelab.ones" not in plain.stdout
