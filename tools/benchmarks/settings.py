"""How long each benchmark section trains: the full run for the docs, ``--quick`` for CI."""

import dataclasses

from tfkd import recipes


@dataclasses.dataclass(frozen=True)
class Settings:
    """Training lengths and sample counts of one benchmark run.

    ``train_samples``/``test_samples``: None for the whole split, else the first that many
    (the quick run trains on a slice; ``tfkd.data`` splits are already shuffled).
    """

    recipe: recipes.Recipe
    # Iris (112 training samples, 4 steps per epoch): the image recipe's epochs leave its MLPs
    # far from trained (the teacher below the student), so it gets its own lengths.
    tabular_recipe: recipes.Recipe = recipes.Recipe(teacher_epochs=300, student_epochs=150, teacher_learning_rate=1e-2)
    train_samples: int = None
    test_samples: int = None
    second_teacher_width: int = 16
    # The reference student has ~1.9k parameters: at 0.75 sparsity (demo's setting) a full run
    # lost 5.8 points of accuracy when pruned (BENCHMARKS.md keeps that run's ladder too).
    target_sparsity: float = 0.5
    n_clusters: int = 16
    prune_epochs: int = 10
    cluster_epochs: int = 4
    qat_epochs: int = 4
    speed_epochs: int = 5
    speed_repeats: int = 3
    latency_samples: int = 300


# The reference recipe (tfkd.recipes.FULL) and demo's compression lengths, with the teacher at a
# constant rate: the quality tables in BENCHMARKS.md were measured with that teacher, before the demo's
# teacher switched to a decayed rate (BENCHMARKS.md gives the rerun with the decayed one beside them).
FULL = Settings(recipe=dataclasses.replace(recipes.FULL, teacher_schedule="constant"))
# Every section still runs end to end, but on a slice of data for a few epochs:
# the numbers only show that each row is produced and sane.
QUICK = Settings(
    recipe=dataclasses.replace(recipes.FULL, teacher_epochs=6, student_epochs=3),
    tabular_recipe=recipes.Recipe(teacher_epochs=30, student_epochs=5, teacher_learning_rate=1e-2),
    train_samples=320,
    test_samples=200,
    second_teacher_width=8,
    prune_epochs=1,
    cluster_epochs=1,
    qat_epochs=1,
    speed_epochs=1,
    speed_repeats=1,
    latency_samples=20,
)
