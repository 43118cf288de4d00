"""Help panels, in pipeline order: `septctl --help` groups commands by stage (each command names its own)."""

DATA = "Data"
BACKBONES = "Backbones"
SEPT = "SEPT files"
TRAIN = "Train and evaluate"
RESULTS = "Results"
GRIDS = "Experiment grids"
MAINTENANCE = "Maintenance"
