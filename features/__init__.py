"""Dosewise data layer: the contract (`schemas`), settings, IO, labels and the feature pipeline."""

from features.pipeline import FEATURE_SET, FeatureSet, build

__all__ = ["FEATURE_SET", "FeatureSet", "build"]
