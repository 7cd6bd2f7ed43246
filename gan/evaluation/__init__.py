"""Evaluation with torch-fidelity: FID, KID, IS, precision/recall, cached real statistics, offline weights."""
from .evaluator import EvalResult, Evaluator, check_eval_config, default_cache_dir, user_cache_dir, write_result
from .extractors import ExtractorSpec, register_module_extractor, resolve_extractor, save_module_weights
from .metrics import METRICS, format_table, parse_metrics
from .weights import EvalError, MissingWeightsError, hub_weights_path, resolve_inception_weights, write_random_inception_weights

__all__ = [
    "EvalError", "EvalResult", "Evaluator", "ExtractorSpec", "METRICS", "MissingWeightsError", "check_eval_config",
    "default_cache_dir", "format_table", "hub_weights_path", "parse_metrics", "register_module_extractor",
    "resolve_extractor", "resolve_inception_weights", "save_module_weights", "user_cache_dir", "write_random_inception_weights",
    "write_result",
]
