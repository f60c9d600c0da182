"""Explainer adapters over every implementation; BUILTIN maps registry names to 'module:Class'.

Entries are strings so that importing this package imports no third-party explanation library.
Outside packages add adapters through the entry-point group named in bench.registry.
"""

BUILTIN: dict[str, str] = {
    "inhouse.gradcam": "adapters.inhouse.gradcam:GradCAM",
    "baseline.random": "adapters.baselines:RandomMap",
    "baseline.centre": "adapters.baselines:CentrePrior",
    "baseline.constant": "adapters.baselines:ConstantMap",
}
