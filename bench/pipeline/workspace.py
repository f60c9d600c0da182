"""What the units of one suite read, loaded at most once per process: the explained split, the models, the targets."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import torch
from torch import nn

from bench.core.config import SuiteConfig
from bench.data.images import SplitData
from bench.data.suite_data import SuiteData, training_data
from bench.models.checkpoint import file_digest
from bench.models.layers import default_layer
from bench.models.model_store import checkpoint_weights, ensure_trained, is_trained, load_model
from bench.models.training import predict
from bench.pipeline.records import ModelInfo
from bench.pipeline.store import RecordStore
from bench.pipeline.units import ModelRef
from bench.utils.measure import device_description


class Workspace:
    """A cache of a suite's immutable inputs for the units run in this process (no unit leaves state here)."""

    def __init__(self, cfg: SuiteConfig, data: SuiteData, device: torch.device, refs: dict[str, ModelRef]) -> None:
        self.cfg, self.data, self.device, self.refs = cfg, data, device, refs
        self.device_text = device_description(device)
        self.store = RecordStore(cfg.results_dir() / "records", expected_digest=self.weights_digest)
        self._models: dict[str, tuple[nn.Module, dict, ModelInfo]] = {}
        self._targets: dict[str, torch.Tensor] = {}
        self._digests: dict[str, str] = {}

    @cached_property
    def split(self) -> SplitData:
        """The explained split (limited as the suite asks)."""
        return self.data.split(self.cfg.data.split, self.cfg.data.limit)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {sid: i for i, sid in enumerate(self.split.ids)}

    def samples(self, ids: tuple[str, ...] | list[str]) -> SplitData:
        """The samples with these ids, in this order."""
        return self.split.subset(torch.tensor(self.positions(ids), dtype=torch.long))

    def positions(self, ids: tuple[str, ...] | list[str]) -> list[int]:
        """Where the samples with these ids stand in the explained split."""
        return [self._index[s] for s in ids]

    def train(self, ref: ModelRef) -> Path:
        """The model's trained directory, training it (once, under a lock) if it is not there."""
        if is_trained(Path(ref.directory)):
            return Path(ref.directory)
        return ensure_trained(ref.config, Path(ref.directory), training_data(ref.config, self.cfg, self.data), self.device)

    def weights_digest(self, name: str) -> str | None:
        """SHA-256 of the model's weights file once it exists (None before it is trained: nothing to check yet), or "" for a
        name the plan does not hold, so that a record of a model since renamed (say, into a grid) is not taken as stored."""
        ref = self.refs.get(name)
        if ref is None:
            return ""
        if name not in self._digests and (not ref.trained_here or is_trained(Path(ref.directory))):
            path = Path(ref.directory) if ref.trained_here else Path(ref.config.checkpoint)
            self._digests[name] = file_digest(checkpoint_weights(path, ref.config.checkpoint_epoch))
        return self._digests.get(name)

    def model(self, ref: ModelRef) -> tuple[nn.Module, dict, ModelInfo]:
        """(model in eval mode on the device, model card, identity for records)."""
        if ref.name not in self._models:
            if ref.trained_here:
                self.train(ref)
            model, card, _ = load_model(ref.config, Path(ref.directory), ref.trained_here, self.data)
            layer = ref.config.target_layer or default_layer(model)
            info = ModelInfo(ref.name, ref.fingerprint, self.weights_digest(ref.name), layer,
                             ref.config.setting if ref.config.factors else "", dict(ref.config.factors))
            self._models[ref.name] = (model.to(self.device).eval(), card, info)
        return self._models[ref.name]

    def probabilities(self, ref: ModelRef) -> torch.Tensor:
        """Softmax probabilities of the model over the explained split (N, classes), on the CPU."""
        model, _, _ = self.model(ref)
        return predict(model, self.split.inputs, batch_size=self.cfg.run.batch_size, device=self.device)

    def targets_of(self, ref: ModelRef, ids: tuple[str, ...] | list[str]) -> torch.Tensor:
        """The explained class of the samples with these ids, in this order."""
        return self.targets(ref)[self.positions(ids)]

    def targets(self, ref: ModelRef) -> torch.Tensor:
        """The class explained for each sample of the split: its label, the model's prediction, or one fixed class."""
        if ref.name not in self._targets:
            target = self.cfg.run.target
            if target == "label":
                chosen = self.split.labels
            elif target == "predicted":
                chosen = self.probabilities(ref).argmax(1)
            else:
                chosen = torch.full_like(self.split.labels, int(target))
            self._targets[ref.name] = chosen
        return self._targets[ref.name]
