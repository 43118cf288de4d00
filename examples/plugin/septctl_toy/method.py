"""ScaledCoOp: CoOp whose learned context starts `init_scale` times larger."""

from septctl.defaults import N_CTX
from septctl.methods.coop import CoOp


class ScaledCoOp(CoOp):
    def __init__(self, backbone, classnames, n_ctx: int = N_CTX, init_scale: float = 1.0, logit_scale=100.0):
        super().__init__(backbone, classnames, n_ctx, logit_scale)
        self.ctx.data *= init_scale
