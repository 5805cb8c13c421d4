"""FAL / FAL+ (fal.md): block stacks, Megatron tensor parallelism, all-reduce counting, the C9
character-level GPT, its training (optax AdamW) and the tensor-parallel training step.
"""

from .model import FALConfig as FALConfig
from .model import fal_forward as fal_forward
from .model import fal_init as fal_init
from .model import fal_param_specs as fal_param_specs
from .counts import allreduce_counts as allreduce_counts
from .counts import iter_eqns as iter_eqns
from .counts import matmul_flops as matmul_flops
from .counts import tp_forward as tp_forward
from .corpus import CharCorpus as CharCorpus
from .corpus import char_corpus as char_corpus
from .gpt import GPTConfig as GPTConfig
from .gpt import VARIANTS as VARIANTS
from .gpt import gpt_config as gpt_config
from .gpt import gpt_init as gpt_init
from .gpt import gpt_logits as gpt_logits
from .gpt import gpt_nll as gpt_nll
from .gpt import gpt_param_specs as gpt_param_specs
from .analysis import attention_grad_norms as attention_grad_norms
from .analysis import cka_matrices as cka_matrices
from .analysis import linear_cka as linear_cka
from .analysis import primacy_ablation as primacy_ablation
from .comm_model import GPT2_SHAPES as GPT2_SHAPES
from .comm_model import LINKS as LINKS
from .comm_model import Link as Link
from .comm_model import PAPER_SAVING as PAPER_SAVING
from .comm_model import comm_counts as comm_counts
from .comm_model import gpt2_step_flops as gpt2_step_flops
from .comm_model import measure_step_time as measure_step_time
from .comm_model import predicted_saving as predicted_saving
from .comm_model import required_comm_fraction as required_comm_fraction
from .comm_model import ring_allreduce_time as ring_allreduce_time
from .comm_model import saving_ceiling as saving_ceiling
from .comm_model import savings_grid as savings_grid
from .tp_step import STEP_VARIANTS as STEP_VARIANTS
from .tp_step import allreduce_law as allreduce_law
from .tp_step import call_with_devices as call_with_devices
from .tp_step import hlo_allreduces as hlo_allreduces
from .tp_step import sharded_training_losses as sharded_training_losses
from .tp_step import step_allreduce_counts as step_allreduce_counts
from .tp_step import tp_mesh as tp_mesh
from .tp_step import tp_train_step as tp_train_step
from .train import DECIDE_PROTOCOL as DECIDE_PROTOCOL
from .train import FULL_PROTOCOL as FULL_PROTOCOL
from .train import QUICK_PROTOCOL as QUICK_PROTOCOL
from .train import REDUCED_PROTOCOL as REDUCED_PROTOCOL
from .train import TrainProtocol as TrainProtocol
from .train import evaluate_nll as evaluate_nll
from .train import make_optimizer as make_optimizer
from .train import make_train_step as make_train_step
from .train import train_batch as train_batch
from .train import train_seeds as train_seeds
from .train import val_windows as val_windows

__all__ = [
    'CharCorpus',
    'FALConfig',
    'DECIDE_PROTOCOL',
    'FULL_PROTOCOL',
    'GPT2_SHAPES',
    'GPTConfig',
    'LINKS',
    'Link',
    'PAPER_SAVING',
    'QUICK_PROTOCOL',
    'REDUCED_PROTOCOL',
    'STEP_VARIANTS',
    'TrainProtocol',
    'VARIANTS',
    'allreduce_counts',
    'allreduce_law',
    'attention_grad_norms',
    'call_with_devices',
    'char_corpus',
    'cka_matrices',
    'comm_counts',
    'evaluate_nll',
    'fal_forward',
    'fal_init',
    'fal_param_specs',
    'gpt2_step_flops',
    'gpt_config',
    'gpt_init',
    'gpt_logits',
    'gpt_nll',
    'gpt_param_specs',
    'hlo_allreduces',
    'iter_eqns',
    'linear_cka',
    'make_optimizer',
    'make_train_step',
    'matmul_flops',
    'measure_step_time',
    'predicted_saving',
    'primacy_ablation',
    'required_comm_fraction',
    'ring_allreduce_time',
    'saving_ceiling',
    'savings_grid',
    'sharded_training_losses',
    'step_allreduce_counts',
    'tp_forward',
    'tp_mesh',
    'tp_train_step',
    'train_batch',
    'train_seeds',
    'val_windows',
]
