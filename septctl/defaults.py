"""Defaults every command shares, in one torch-free place (importing septctl.backbones loads torch)."""

DEFAULT_BACKBONE = "pengi"
"""The paper's ALM. `tiny` (random weights) is for tests and the demo, and only when asked for."""
