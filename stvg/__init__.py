"""STVG toolkit core: structures, data, features, evaluation, and the pipeline joining the stages."""
__version__ = "0.1.0"
