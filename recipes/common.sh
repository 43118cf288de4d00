# Shared by the recipes (sourced, not run). Knobs are environment variables, read by `septctl grid`:
#   BACKBONE (pengi; tiny for tests)  EPOCHS (50)  SEEDS ("0 1 2")  FOLDS (all, or "1,2")
#   METHODS ("coop cocoop kgcoop dept")  SHOTS ("2 4 8 16")  CROSS_PAIRS ("src:tgt ...")
#   DATA_ROOT (prepared datasets; same as SEPTCTL_DATA)  RUNS (runs)  SEPT_DIR (sept)  DEVICE (cpu)
#   SEPTCTL (the command to call, default: septctl)
# Flags after the recipe's arguments go to `septctl grid`: --quick, --plan, --stage prep|runs.
if [ -n "${DATA_ROOT:-}" ]; then export SEPTCTL_DATA="$DATA_ROOT"; fi
read -r -a SEPTCTL_CMD <<< "${SEPTCTL:-septctl}"
septctl_() { "${SEPTCTL_CMD[@]}" "$@"; }
