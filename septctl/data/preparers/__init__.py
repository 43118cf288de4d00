"""One module per release: it declares its dataset(s) (`DATASETS`) and turns the release into a Plan (`plan`).

septctl/data/registry.py collects the declarations; septctl/data/prepare.py runs the plans.
"""
