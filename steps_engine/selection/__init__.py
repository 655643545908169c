"""Stage 4, selection: a taxonomy in, skill combinations out.

Takes an encoding tree and its graph; gives combinations of k skills that maximise the
conditional structural entropy H(Y | {x}) inside a coherent subtree (`search`: context,
scopes, constraints, the exact tree-knapsack DP and the beam, numba kernels in `_kernels`),
runs over many starts (`combos`), a dataset of N combinations chosen together for a
submodular objective (`budget`), baselines and dataset metrics (`strategies`), why a
combination was picked (`explain`) and embedding coherence (`coherence`). `warm` compiles
the numba kernels (`_kernels`, the dataset mode's exact search in `_exact_kernels`) ahead of use.
"""

from steps_engine.selection.budget import BudgetState, dataset_objective, select_budget
from steps_engine.selection.combos import SelectionRun, select_combinations, write_jsonl
from steps_engine.selection.search import Combination, Constraints, SelectionContext, parse_scope, prepare
from steps_engine.selection.explain import explain_combination
from steps_engine.selection.strategies import STRATEGIES, combination_metrics
from steps_engine.selection.warm import warm_up

__all__ = [
    "STRATEGIES",
    "BudgetState",
    "Combination",
    "Constraints",
    "SelectionContext",
    "SelectionRun",
    "combination_metrics",
    "dataset_objective",
    "explain_combination",
    "parse_scope",
    "prepare",
    "select_budget",
    "select_combinations",
    "warm_up",
    "write_jsonl",
]
