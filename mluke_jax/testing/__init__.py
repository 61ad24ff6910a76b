"""Test and demo material, kept apart from the library proper (as gemma's ``gm.testing``).

- :mod:`mluke_jax.testing.toy_data`: a generated multilingual corpus with entity mentions and small
  tokenizer files learned from it (sentencepiece, BPE, an entity vocabulary): what the tests, the
  tokenizer benchmark and the demo use where no real vocabulary can be downloaded.
- :mod:`mluke_jax.testing.demo`: ``mluke-jax demo`` and the small random models of the notebooks
  (needs the ``torch`` extra: it builds transformers reference models).

Nothing in the library imports these modules; running a converted model never needs them.
"""
