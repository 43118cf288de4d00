"""Experiment planning: the paper's grids as septctl command lines (plan), their plan files and
logs (files), and SLURM submission (slurm)."""
