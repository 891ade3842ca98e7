"""The pure rule engine: `evaluate(catalog, facts) -> Evaluation`."""

from refcamp.engine.core import evaluate
from refcamp.engine.types import Check, Context, Evaluation, Facts, RuleResult

__all__ = ["Check", "Context", "Evaluation", "Facts", "RuleResult", "evaluate"]
