"""Entities from raw text: mention databases, surface forms, the entity linker.

:class:`EntityLinker` (:mod:`.linker`) finds mentions and their entities with a mention database
(:class:`MentionDB`, :mod:`.mention_db`; built by ``python -m mluke_jax.corpus mention-db``), whose
surface forms are compared as :mod:`.surface` normalises them.
"""

from mluke_jax.linking.linker import EntityCandidate, EntityLinker, Linking, Mention
from mluke_jax.linking.mention_db import Candidate, MentionDB

__all__ = ["Candidate", "EntityCandidate", "EntityLinker", "Linking", "Mention", "MentionDB"]
