"""SEPT: semantic neighbors, prompt templates, margins (eq. 4) and the semantic-expansion loss (eqs. 7-9).

Submodules are imported directly (septctl.sept.loss, ...); this package stays empty so
that the CLI can read neighbor files without importing torch.
"""
