"""Stopping a run cleanly when the machine is taken away: SIGTERM (spot / preemptible TPU VMs,
SLURM, Kubernetes, all with a short grace period) or SIGINT (Ctrl-C).

With one process, the first signal sets a flag; the training loop sees it after the step under
way, saves a checkpoint with the data position, waits for the save and stops with
:class:`Preempted`; the command lines then exit with :data:`EXIT_PREEMPTED`. Running the same
command again resumes to the same parameters, bit for bit. Further signals during the save are
reported and ignored (only SIGKILL stops it, and a checkpoint cut short by SIGKILL is never picked
on resume: Orbax commits a step directory only when it is complete).

With several processes (``jax.distributed``), every process must stop at the same step. JAX's
preemption service (its SIGTERM notifier and the coordination service) agrees on the step:
:func:`jax.experimental.multihost_utils.reached_preemption_sync_point` is asked every step and
turns true on all processes at once. There no Python handler is installed (one would replace
JAX's notifier, and a SIGINT seen by one process alone would stop it at another step than the
others): send SIGTERM.
"""

import itertools
import signal
import sys
import threading
import time

# The exit status of a command line stopped by a signal after saving its checkpoint: EX_TEMPFAIL
# ("try again later") from sysexits.h; the same command resumes.
EXIT_PREEMPTED = 75


class Preempted(Exception):
    """The run stopped at ``step`` on ``signal_name`` after saving a checkpoint there."""

    def __init__(self, step: int, signal_name: str, seconds: float | None):
        where = f"checkpoint saved at step {step}"
        timing = f" ({seconds:.1f} s after the signal)" if seconds is not None else ""
        super().__init__(f"stopped by {signal_name}: {where}{timing}; run the same command again to resume")
        self.step, self.signal_name, self.seconds = step, signal_name, seconds


_active: list["PreemptionWatch"] = []
# Every process asks JAX's sync point once per step, in the same order: this count is the same on
# all of them and keeps growing over the loops of one process (the pretraining stages), as the
# preemption service wants of its step ids.
_sync_calls = itertools.count(1)


def requested() -> str | None:
    """The signal (``"SIGTERM"``) that asked the running training loop to stop, if one did: for a
    callback (``fit(on_step=...)``) that wants to cut its own work short."""
    return _active[-1].received if _active else None


class PreemptionWatch:
    """Signal handlers for a training loop (a context manager); :meth:`should_stop` each step.

    Installs handlers only in the main thread (where Python delivers signals) and restores the
    previous ones on exit.
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)):
        self.signals = signals
        self.received: str | None = None
        self.received_at: float | None = None
        self.saving = False
        self._previous: dict[int, object] = {}

    def _multiprocess(self) -> bool:
        import jax

        return jax.process_count() > 1

    def __enter__(self):
        _active.append(self)
        if threading.current_thread() is not threading.main_thread():
            return self
        if self._multiprocess():  # signals stay with JAX's preemption notifier
            return self
        for number in self.signals:
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self in _active:
            _active.remove(self)
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def _handle(self, number: int, frame) -> None:
        name = signal.Signals(number).name
        if self.received is None:
            self.received, self.received_at = name, time.monotonic()
            print(f"{name} received: saving a checkpoint after this step, then stopping", file=sys.stderr, flush=True)
        else:
            doing = "saving the checkpoint" if self.saving else "stopping after this step"
            print(f"{name} received again: still {doing} (ignored)", file=sys.stderr, flush=True)

    def should_stop(self, step: int) -> bool:
        """Whether to save and stop after ``step``: a signal this process received, or (several
        processes) the step JAX's preemption service agreed on."""
        if self._multiprocess():
            from jax.experimental import multihost_utils

            if multihost_utils.reached_preemption_sync_point(next(_sync_calls)):
                if self.received is None:
                    self.received, self.received_at = "SIGTERM", time.monotonic()
                return True
        return self.received is not None

    def stopped(self, step: int) -> Preempted:
        seconds = None if self.received_at is None else time.monotonic() - self.received_at
        return Preempted(step, self.received or "a signal", seconds)
