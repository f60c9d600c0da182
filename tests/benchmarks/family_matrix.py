"""Every registered adapter on every model family of bench.core.conformance.FAMILIES, as one Markdown matrix:
pass (a finite map of the input's shape, model unchanged), refused (with the reason) or FAIL.

Run:  .venv/bin/python tests/benchmarks/family_matrix.py > results/conformance/families.md
"""

from __future__ import annotations

from bench.core import registry
from bench.core.conformance import FAMILIES, check_on_architecture

# Parameters that keep one call cheap on 2 CPU cores; everything else runs at its defaults.
CHEAP = {"steps": 4, "samples": 4, "masks": 200, "window": 8, "stride": 8}


def cheap_params(name: str) -> dict:
    """The cheap values of the parameters this adapter takes."""
    return {k: v for k, v in CHEAP.items() if k in registry.parameters(registry.get(name))}


def main() -> None:
    """Print the matrix and the refusal reasons below it."""
    print("# Every adapter on every model family\n")
    print("`pass`: a finite map of the input's shape at the family's default layer, the model left as it was; `refused`: a clear")
    print("NotSupported or head error (reason below); `FAIL`: anything else. Untrained models, 2 inputs, parameters "
          f"{CHEAP} where the adapter takes them. Made by `.venv/bin/python tests/benchmarks/family_matrix.py`.\n")
    print("| adapter | " + " | ".join(FAMILIES) + " |\n|---|" + "---|" * len(FAMILIES))
    reasons: dict[str, set[str]] = {}
    for name in registry.names():
        cells = []
        for arch in FAMILIES:
            check = check_on_architecture(name, arch, params=cheap_params(name))
            cells.append({"pass": "pass", "skip": "refused", "fail": "**FAIL**"}[check.status])
            if check.status != "pass":
                reasons.setdefault(f"{name}: {check.detail.split(': ', 2)[-1][:160]}", set()).add(arch)
        print(f"| `{name}` | " + " | ".join(cells) + " |", flush=True)
    print("\nReasons:\n")
    for reason, archs in sorted(reasons.items()):
        print(f"- {reason} ({', '.join(a for a in FAMILIES if a in archs)})")


if __name__ == "__main__":
    main()
