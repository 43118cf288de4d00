"""An example septctl plug-in (docs/extending.md): a method, a backbone and a dataset.

Each kind is declared in its own torch-free module that imports only the registry it
declares into (method_spec.py, backbone_spec.py, toy_tones.py): septctl imports these at
every start-up, while its registries are being built. The code they name by import path
(method.py, backbone.py, and torch with them) is imported only when a run or model is built.
"""
