"""The pure rule engine: `evaluate(catalog, facts) -> Evaluation`."""

from refcamp.engine.core import Check, Context, Evaluation, Facts, RuleResult, evaluate

__all__ = ["Check", "Context", "Evaluation", "Facts", "RuleResult", "evaluate"]
