"""Several hosts for the command lines: ``--distributed`` (``jax.distributed.initialize()`` finds
the cluster itself: TPU pod slices, SLURM, ...) or ``--coordinator HOST:PORT --num-processes N
--process-id I``. Initialising also starts JAX's preemption service, with which every process
stops at the same step on SIGTERM (:mod:`mluke_jax.train.preemption`)."""

import argparse


def is_main_process() -> bool:
    """Process 0 writes a run's files (logs, records, the model); with one process, it is the one."""
    import jax

    return jax.process_index() == 0


def add_host_arguments(parser: argparse.ArgumentParser) -> None:
    hosts = parser.add_argument_group("several hosts (jax.distributed)")
    hosts.add_argument("--distributed", action="store_true", help="jax.distributed.initialize() from the cluster")
    hosts.add_argument("--coordinator", help="HOST:PORT of process 0")
    hosts.add_argument("--num-processes", type=int, help="processes in all")
    hosts.add_argument("--process-id", type=int, help="this process's index")


def initialize_from_args(args: argparse.Namespace) -> None:
    """``jax.distributed.initialize`` as the arguments of :func:`add_host_arguments` say (nothing
    when none is given)."""
    given = [args.coordinator, args.num_processes, args.process_id]
    if not args.distributed and all(x is None for x in given):
        return
    if not args.distributed and any(x is None for x in given):
        raise ValueError("several hosts need all of --coordinator, --num-processes and --process-id (or --distributed)")
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes' collectives (others: unused)
    if args.distributed:
        jax.distributed.initialize()
    else:
        jax.distributed.initialize(
            coordinator_address=args.coordinator, num_processes=args.num_processes, process_id=args.process_id
        )
