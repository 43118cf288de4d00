"""The method's declaration, exactly as septctl's own entries in septctl/methods/registry.py."""

from septctl.methods.registry import MethodOption, MethodSpec

SCALED_COOP = MethodSpec(
    "scaled-coop", "septctl_toy.method:ScaledCoOp", "CoOp whose context starts init_scale times larger",
    (MethodOption("init_scale", "--init-scale", 1.0, "Scaled CoOp: scale of the initial context.", float),),
)
