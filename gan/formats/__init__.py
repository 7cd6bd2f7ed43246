"""The on-disk formats, below every other layer: file names (:mod:`.layout`), atomic writers
(:mod:`.atomic`) and export readers/writers (:mod:`.exports`).

Nothing here imports the config, Accelerate or another part of the toolkit (only :mod:`gan.errors`
and :mod:`gan.names`), so that data, engine, evaluation, deploy and inference code can all read
and write files without depending on each other. Everything is written atomically and read
without executing code.
"""
from .atomic import (
    WRITE_ERRORS, WriteError, free_mib, replace_folder, save_safetensors_atomic, write_failure, write_json_atomic,
)
from .exports import (
    check_state_fits, export_files, find_export, hub_config, hub_kind, load_export, load_safetensors, meta_of_hub_config, read_export_meta,
    write_export,
)
from .layout import (
    ABANDONED_DIR, BEST_DIR, BEST_JSON, CHECKPOINT_PREFIX, CHECKPOINTS_DIR, DISCRIMINATOR_WEIGHTS, EVAL_DIR,
    EVALUATION_JSON, EXPORT_DIR, EXTRA_STATE_FILE, GENERATOR, HUB, HUB_CARD, HUB_FILES, HUB_KIND_KEY, HUB_META_KEY, HUB_SAMPLE,
    HUB_TRAIN_CONFIG, LOSS_PLOT, METRICS_LOG, OLD_PREFIX, OVERLAYS_DIR, RUN_CONFIG, RUN_OUTPUTS, RUNTIME_META_KEY,
    RUNTIME_SUFFIXES, SAMPLES_DIR, SEG_EVAL_LOG, SEG_EVAL_PLOT, SEGMENTER, STATE_FILE, TIMELINE_FILE, TMP_PREFIX,
    ExportKind, checkpoint_step, kind_name, list_checkpoints, rng_file, runtime_file, user_cache_dir,
)

__all__ = [
    "ABANDONED_DIR", "BEST_DIR", "BEST_JSON", "CHECKPOINT_PREFIX", "CHECKPOINTS_DIR", "DISCRIMINATOR_WEIGHTS",
    "EVAL_DIR", "EVALUATION_JSON", "EXPORT_DIR", "EXTRA_STATE_FILE", "GENERATOR", "HUB", "HUB_CARD", "HUB_FILES", "HUB_KIND_KEY", "HUB_META_KEY",
    "HUB_SAMPLE", "HUB_TRAIN_CONFIG", "LOSS_PLOT", "METRICS_LOG", "OLD_PREFIX", "OVERLAYS_DIR", "RUN_CONFIG",
    "RUN_OUTPUTS", "RUNTIME_META_KEY", "RUNTIME_SUFFIXES", "SAMPLES_DIR", "SEG_EVAL_LOG", "SEG_EVAL_PLOT",
    "SEGMENTER", "STATE_FILE", "TIMELINE_FILE", "TMP_PREFIX", "WRITE_ERRORS", "ExportKind", "WriteError",
    "check_state_fits", "checkpoint_step", "export_files", "find_export", "free_mib", "hub_config", "hub_kind", "kind_name",
    "list_checkpoints", "load_export", "load_safetensors", "meta_of_hub_config", "read_export_meta", "replace_folder", "rng_file",
    "runtime_file", "save_safetensors_atomic", "user_cache_dir", "write_export", "write_failure", "write_json_atomic",
]
