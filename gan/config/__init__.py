"""Typed configuration: dataclass schemas, safe YAML files and dotted command-line overrides.

A config is a tree of dataclasses. Values from a YAML file and from ``key=value`` overrides go
through the same checks: unknown keys, wrong types, invalid choices and out-of-range values raise
:class:`gan.errors.ConfigError` with one line naming the key, the bad value and what is allowed, when the
config is loaded (so ``--dry-run`` catches them). Nothing in a config can name a class or function
to import; YAML is read with safe tags only, refusing repeated keys and alias bombs (``safe_yaml``).

Each section is a :class:`Section` whose ``checks()`` lists its range checks. Settings that may
change when a run is resumed are marked where they are declared, with :func:`resumable`.

This package holds the machinery (``schema``: sections, checks, resumable fields; ``loading``: YAML
and overrides) and the sections shared by the jobs (``sections``); each job's own schema lives with
the job (``gan.generation.config``, ``gan.seg.config``).
"""
from ..names import MAX_CHANNELS, MAX_LATENT
from .loading import coerce, flatten, from_dict, load_config, parse_override, read_config_file, to_dict, to_yaml, typed_dict
from .schema import (
    MIN_EVAL_IMAGES, RESUMABLE, Check, IntOrAuto, Section, adam_checks, check_section,
    finite_positive, is_resumable, positive, resumable, sections, valid_cpu_threads, validate,
)
from .sections import CheckpointConfig, DataConfig, EvalConfig, LogConfig, RunConfig, TrainConfig

__all__ = [
    "MAX_CHANNELS", "MAX_LATENT", "MIN_EVAL_IMAGES", "RESUMABLE", "Check", "CheckpointConfig", "DataConfig",
    "EvalConfig", "IntOrAuto", "LogConfig", "RunConfig", "Section", "TrainConfig", "adam_checks", "check_section", "coerce",
    "finite_positive", "flatten", "from_dict", "is_resumable", "load_config", "parse_override", "positive",
    "read_config_file", "resumable", "sections", "to_dict", "to_yaml", "typed_dict", "valid_cpu_threads", "validate",
]
