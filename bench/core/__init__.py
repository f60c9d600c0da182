"""Contracts every layer shares: errors, the registry type, the Explainer interface, suite files and their validation."""
