"""Pretraining mLUKE and XLM: the objectives' masking (:mod:`.masking`), applied per example by the
corpus loaders' ``transform`` (see :mod:`mluke_jax.corpus`)."""

from mluke_jax.pretrain.masking import LukeMasking, XLMMasking, continuation_table

__all__ = ["LukeMasking", "XLMMasking", "continuation_table"]
