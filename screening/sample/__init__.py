"""Synthetic "sample county" generator: a bundle in the data contract's format, with
planted hidden chemical workshops and honest look-alikes, and the truth kept beside it.

Entry point: :func:`generate`. Modules: config (tunables per size), geography and address
(places and how agencies spell them), industries and entities (the ordinary population),
scenarios (planted cases), load (power curves), tracks (GPS), mess (agency habits and bad
rows) and writer (reproducible files); bundle ties them together. styles (world styles drawn
per seed) and adversary (the real world's look-alikes and harder workshops) are used only
when a style other than ``default`` is asked for.
"""

from __future__ import annotations

from .bundle import generate
from .config import SIZES

__all__ = ["SIZES", "generate"]
