"""The collapse experiment of hybrid linear + sliding-window attention (hybrid_linear.md C9, C10):
MQAR teacher, three conversion arms and a linear-only student, component ablations, r_n, gamma_h."""

from .protocol import PROTOCOLS as PROTOCOLS
from .protocol import Protocol as Protocol
from .evaluate import evaluate_student as evaluate_student
from .study import hybrid_experiment as hybrid_experiment
from .study import run_collapse as run_collapse
