"""FAL / FAL+ (fal.md): block stacks, Megatron tensor parallelism, all-reduce counting.
"""

from .model import FALConfig as FALConfig
from .model import fal_forward as fal_forward
from .model import fal_init as fal_init
from .model import fal_param_specs as fal_param_specs
from .counts import allreduce_counts as allreduce_counts
from .counts import iter_eqns as iter_eqns
from .counts import matmul_flops as matmul_flops
from .counts import tp_forward as tp_forward

__all__ = ['FALConfig', 'allreduce_counts', 'fal_forward', 'fal_init', 'fal_param_specs', 'iter_eqns', 'matmul_flops', 'tp_forward']
