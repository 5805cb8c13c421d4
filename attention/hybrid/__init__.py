"""Hybrid linear + sliding-window attention (hybrid_linear.md): operators, recurrent decode, Hedgehog
features, SSD schedules; causal linear attention and the hybrid in parallel, chunked and recurrent
forms with explicit state; the MQAR collapse toy (task, model, attention transfer, LoRA stage 2); layers of a
real Gemma 3 converted into the hybrid by attention transfer on cached activations (:mod:`.gemma_convert`).
"""

from .operators import HybridParts as HybridParts
from .operators import causal_linear_attention as causal_linear_attention
from .operators import causal_linear_attention_recurrent as causal_linear_attention_recurrent
from .operators import hybrid_attention as hybrid_attention
from .operators import hybrid_attention_recurrent as hybrid_attention_recurrent
from .operators import hybrid_from_parts as hybrid_from_parts
from .operators import hybrid_parts as hybrid_parts
from .operators import window_weight as window_weight
from .features import hedgehog_features as hedgehog_features
from .features import hedgehog_init as hedgehog_init
from .features import ssd_draws as ssd_draws
from .features import ssd_schedule as ssd_schedule
from .linear_forms import LinearState as LinearState
from .linear_forms import empty_linear_state as empty_linear_state
from .linear_forms import linear_attention_chunked as linear_attention_chunked
from .linear_forms import linear_attention_parallel as linear_attention_parallel
from .linear_forms import linear_attention_recurrent as linear_attention_recurrent
from .hybrid_forms import HybridState as HybridState
from .hybrid_forms import hybrid_attention_chunked as hybrid_attention_chunked
from .hybrid_forms import hybrid_attention_decode as hybrid_attention_decode
from .hybrid_forms import hybrid_decode_init as hybrid_decode_init
from .hybrid_forms import hybrid_decode_step as hybrid_decode_step
from .recall_task import RecallBatch as RecallBatch
from .recall_task import RecallConfig as RecallConfig
from .recall_task import query_accuracy as query_accuracy
from .recall_task import recall_batch as recall_batch
from .toy_model import ToyConfig as ToyConfig
from .toy_model import init_student as init_student
from .toy_model import init_teacher as init_teacher
from .toy_model import toy_forward as toy_forward
from .convert import HybridSettings as HybridSettings
from .convert import hybrid_override as hybrid_override
from .distill import TrainConfig as TrainConfig
from .distill import attention_transfer as attention_transfer
from .distill import finetune_lora as finetune_lora
from .distill import train_teacher as train_teacher
from .gemma_convert import ConvertConfig as ConvertConfig
from .gemma_convert import collect_activations as collect_activations
from .gemma_convert import convert_layers as convert_layers

__all__ = ['ConvertConfig', 'HybridParts', 'HybridSettings', 'HybridState', 'LinearState', 'RecallBatch', 'RecallConfig', 'ToyConfig', 'TrainConfig',
           'attention_transfer', 'causal_linear_attention', 'collect_activations', 'convert_layers', 'causal_linear_attention_recurrent', 'empty_linear_state',
           'finetune_lora', 'hedgehog_features', 'hedgehog_init', 'hybrid_attention', 'hybrid_attention_chunked',
           'hybrid_attention_decode', 'hybrid_attention_recurrent', 'hybrid_decode_init', 'hybrid_decode_step',
           'hybrid_from_parts', 'hybrid_override', 'hybrid_parts', 'init_student', 'init_teacher', 'linear_attention_chunked',
           'linear_attention_parallel', 'linear_attention_recurrent', 'query_accuracy', 'recall_batch', 'ssd_draws',
           'ssd_schedule', 'toy_forward', 'train_teacher', 'window_weight']
