"""Classifier models: torchvision ResNets with a two-class head, their checkpoints and cards."""
