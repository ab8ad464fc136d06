"""The hardware-aware configuration search: search."""
from __future__ import annotations

from pathlib import Path

import click

from edgebert.cli.options import emit, json_option, load_hw, task_option


@click.command()
@click.option("--board", required=True, help="Board whose build the search sizes (pynq-z2, kv260, zcu104).")
@task_option(required=False, help=None)
@click.option("--latency-target-ms", type=float, default=None,
              help="p99 dev latency at the board's top clock (default: the board's default target).")
@click.option("--trials", type=int, default=12, show_default=True, help="Feasible points to train.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Search folder (default reports/search-<board>); a search there resumes.")
@click.option("--teacher-run", type=click.Path(file_okay=False), default=None,
              help="Run folder whose teacher, teacher logits and embedding the trials reuse "
                   "(default runs/<task>_tiny: `edgebert train --config configs/train/<task>_tiny.json "
                   "--steps teacher,embedding,distill_data` makes it).")
@click.option("--data", "glue_dir", type=click.Path(file_okay=False), default=None,
              help="Training data folder (default $EDGEBERT_DATA).")
@click.option("--steps", "trial_steps", type=int, default=1200, show_default=True,
              help="Stage-1 steps of a trial (batch 32).")
@click.option("--reports", type=int, default=4, show_default=True,
              help="Validations per trial: the early-stopping scheduler's rungs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the point sampling.")
@click.option("--space", "space_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Search space (default configs/search/space.json).")
@click.option("--scheduler", type=click.Choice(["pareto", "asha", "none"]), default="pareto", show_default=True,
              help="Early stopping: successive halving with a Pareto rule, Ray's ASHA on accuracy, or none.")
@click.option("--address", default=None, help="Join this Ray cluster (default: a local Ray on this machine).")
@click.option("--cpus-per-trial", type=int, default=1, show_default=True)
@json_option("Print the result (Pareto front) as one JSON line.")
def search(board, task, latency_target_ms, trials, out, teacher_run, glue_dir, trial_steps, reports, seed, space_path,
           scheduler, address, cpus_per_trial, as_json):
    """Search model configurations and array sizes for a board and latency target (Ray Tune)."""
    from edgebert.core.paths import training_glue_dir
    from edgebert.core.tasks import get_task
    from edgebert.runtime.boards import get_board
    from edgebert.search.driver import search as run_search
    from edgebert.search.reference import dev_lengths, shipped_point
    from edgebert.search.space import SPACE_JSON
    board_ = get_board(board)
    if trials < 1 or trial_steps < reports or reports < 2:
        raise click.BadParameter("need --trials >= 1, --reports >= 2 and --steps >= --reports")
    target = latency_target_ms or board_.default_target_ms
    if target <= 0:
        raise click.BadParameter("the latency target must be > 0", param_hint="--latency-target-ms")
    task_ = get_task(task)
    teacher = Path(teacher_run or Path("runs") / f"{task_.name}_tiny")
    if not (teacher / "reports" / "distill_data.json").is_file():
        from edgebert.core.errors import MissingFileError
        raise MissingFileError(
            f"no finished teacher run at {teacher} (its distill_data step): make it with `edgebert train --config "
            f"configs/train/{task_.name}_tiny.json --steps teacher,embedding,distill_data`, or pass --teacher-run")
    glue = training_glue_dir(glue_dir)
    result = run_search(board_.name, target, trials, Path(out or Path("reports") / f"search-{board_.name}"),
                        teacher, glue, trial_steps, reports, seed, dev_lengths(task_), address, cpus_per_trial,
                        lambda: shipped_point(load_hw(task_.name), task_, board_.name),
                        Path(space_path) if space_path else SPACE_JSON, scheduler)
    if not as_json:
        click.echo(f"{result['trials']} trials ({result['rejected_before_training']} points rejected before "
                   f"training), {len(result['pareto'])} on the front; best: {result['best']}; in {result['out']}")
    emit(result, as_json)


COMMANDS = (search,)
