"""XLM's SQuAD head with beam search over start and end positions, as transformers' XLMForQuestionAnswering."""

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from mluke_jax import losses
from mluke_jax import outputs as o
from mluke_jax import validation as v
from mluke_jax.config import XLMConfig
from mluke_jax.layers.squad import SquadAnswerClass, SquadEndLogits, SquadStartLogits, gather_positions
from mluke_jax.models.task_heads import batch_length
from mluke_jax.models.xlm_heads import XLMTaskHead
from mluke_jax.outputs import ModelOutput


class XLMForQuestionAnswering(XLMTaskHead):
    """XLM's SQuAD head with beam search over start and end positions (XLNet style).

    Training (``start_positions`` and ``end_positions`` given): ``loss`` only, the mean of the start
    and end cross entropies, plus half the answerability BCE when ``cls_index`` and
    ``is_impossible`` are given. Inference: the top ``start_n_top`` starts, for each the top
    ``end_n_top`` ends, and ``cls_logits``; see :class:`~mluke_jax.outputs.XLMForQuestionAnsweringOutput`.
    ``p_mask`` ``(B, L)`` marks positions (1.0) that cannot be in the answer.
    """

    head_inputs = ("start_positions", "end_positions", "cls_index", "is_impossible", "p_mask")

    def __init__(self, config: XLMConfig, *, rngs: nnx.Rngs):
        super().__init__(config, rngs=rngs)
        kw = dict(**self.layer_dtypes, rngs=rngs)
        self.start_logits = SquadStartLogits(config.emb_dim, **kw)
        self.end_logits = SquadEndLogits(config.emb_dim, config.layer_norm_eps, **kw)
        self.answer_class = SquadAnswerClass(config.emb_dim, **kw)

    def prepare_inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        a = super().prepare_inputs(raw)
        batch, length = batch_length(a)
        a.update(v.span_positions(raw, batch))
        a.update(v.span_positions(raw, batch, ("cls_index",)))
        for name in ("start_positions", "end_positions", "cls_index"):
            if a[name] is not None:
                a[name] = a[name].reshape(batch)
                # transformers gathers the start state at start_positions: -100 would crash there.
                v.check_range(name, a[name], 0, length, "the sequence")
        a["is_impossible"] = v.to_array("is_impossible", raw.get("is_impossible"), "float")
        if a["is_impossible"] is not None:
            if a["is_impossible"].size != batch:
                raise ValueError(
                    f"is_impossible must have shape (batch,) = ({batch},), got {tuple(a['is_impossible'].shape)}"
                )
            a["is_impossible"] = a["is_impossible"].reshape(batch)
        a["p_mask"] = v.to_array("p_mask", raw.get("p_mask"), "float")
        v.check_shape("p_mask", a["p_mask"], (batch, length), "(batch, length)")
        return a

    def forward(
        self,
        start_positions: jax.Array | None = None,
        end_positions: jax.Array | None = None,
        cls_index: jax.Array | None = None,
        is_impossible: jax.Array | None = None,
        p_mask: jax.Array | None = None,
        *,
        dropout_key: jax.Array | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        **inputs: jax.Array | None,
    ) -> ModelOutput:
        out = self.encode(inputs, dropout_key, output_attentions, output_hidden_states)
        h = out.last_hidden_state
        start_logits = self.start_logits(h, p_mask)
        if start_positions is not None and end_positions is not None:
            start_states = jnp.broadcast_to(gather_positions(h, jnp.maximum(start_positions, 0)[:, None]), h.shape)
            end_logits = self.end_logits(h, start_states, p_mask)
            loss = (
                losses.cross_entropy(start_logits, start_positions) + losses.cross_entropy(end_logits, end_positions)
            ) / 2
            if cls_index is not None and is_impossible is not None:
                start_state = gather_positions(h, jnp.maximum(start_positions, 0)[:, None])[:, 0]
                cls_logits = self.answer_class(h, start_state, cls_index)
                loss = loss + 0.5 * losses.binary_cross_entropy_with_logits(cls_logits, is_impossible)
            return o.XLMForQuestionAnsweringOutput(loss=loss, **self.layer_outputs(out))

        batch, length, hidden = h.shape
        start_n_top, end_n_top = self.config.start_n_top, self.config.end_n_top
        start_probs = jax.nn.softmax(start_logits, axis=-1)  # (B, L)
        start_top_probs, start_top_index = jax.lax.top_k(start_probs, start_n_top)  # (B, K)
        top_states = gather_positions(h, start_top_index)  # (B, K, D)
        start_states = jnp.broadcast_to(top_states[:, None], (batch, length, start_n_top, hidden))
        expanded = jnp.broadcast_to(h[:, :, None], start_states.shape)
        end_logits = self.end_logits(expanded, start_states, None if p_mask is None else p_mask[..., None])  # (B, L, K)
        end_probs = jax.nn.softmax(end_logits, axis=1)
        end_top_probs, end_top_index = jax.lax.top_k(jnp.swapaxes(end_probs, 1, 2), end_n_top)  # (B, K, E)
        # transformers' layout: (B, E, K) flattened, so entry e * K + k is start k's e-th best end.
        end_top_probs = jnp.swapaxes(end_top_probs, 1, 2).reshape(batch, end_n_top * start_n_top)
        end_top_index = jnp.swapaxes(end_top_index, 1, 2).reshape(batch, end_n_top * start_n_top)
        weighted_start = jnp.einsum("BLD,BL->BD", h.astype(jnp.float32), start_probs).astype(h.dtype)
        cls_logits = self.answer_class(h, weighted_start, cls_index)
        return o.XLMForQuestionAnsweringOutput(
            start_top_log_probs=start_top_probs,
            start_top_index=start_top_index,
            end_top_log_probs=end_top_probs,
            end_top_index=end_top_index,
            cls_logits=cls_logits,
            **self.layer_outputs(out),
        )
