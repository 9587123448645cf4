"""One report from the stages' results: ``report.json``, ``report.md`` and the plots.

``Report`` holds the run's settings, one section per stage (``Stage.report(result)``,
keyed by stage name), the timings and the plot paths; ``tfkd.report.markdown`` renders
the Markdown and ``tfkd.report.plots`` draws the figures.
"""

import dataclasses
import json
import os

from tfkd import files
from tfkd.pipeline.stage import plain


@dataclasses.dataclass
class Report:
    settings: dict
    sections: dict
    timings_s: dict
    plots: list = dataclasses.field(default_factory=list)

    def to_dict(self):
        return plain({"settings": self.settings, **self.sections, "timings_s": self.timings_s, "plots": self.plots})

    def write(self, folder):
        """Writes ``report.json`` and ``report.md`` into ``folder``; returns the dict written."""
        from tfkd.report import markdown

        data = self.to_dict()
        files.atomic_write_text(os.path.join(folder, "report.md"), markdown.render(data))
        files.atomic_write_text(os.path.join(folder, "report.json"), json.dumps(data, indent=2) + "\n")
        return data


# (plot label, report section, accuracy key) of the accuracy-vs-size figure, in pipeline order.
LADDER = (
    ("teacher fp32", "teacher", "accuracy"),
    ("student fp32", "student_distilled", "accuracy"),
    ("pruned", "student_pruned", "accuracy"),
    ("clustered", "student_clustered", "accuracy"),
    ("QAT", "student_qat", "accuracy"),
    ("int8 (TFLite Micro)", "int8", "tflm_accuracy"),
)


def write_plots(folder, report, histories, pruned_summary, y_test, predictions, class_names):
    """Training curves, accuracy vs size, per-layer sparsity and the int8 confusion matrix; returns their paths
    relative to ``folder`` (they go in ``folder/plots``)."""
    from tfkd.report import plots

    plot_dir = os.path.join(folder, "plots")
    os.makedirs(plot_dir, exist_ok=True)
    stages = [{"name": name, "bytes": report.sections[key]["gzip_bytes"], "accuracy": report.sections[key][accuracy]}
              for name, key, accuracy in LADDER if key in report.sections]
    paths = [
        plots.training_curves(histories, os.path.join(plot_dir, "training_curves.png")),
        plots.accuracy_vs_size(stages, os.path.join(plot_dir, "accuracy_vs_size.png")),
        plots.layer_sparsity(pruned_summary, os.path.join(plot_dir, "layer_sparsity.png")),
        plots.confusion_matrix(y_test, predictions, class_names, os.path.join(plot_dir, "confusion_matrix_int8.png")),
    ]
    return [os.path.join("plots", os.path.basename(p)) for p in paths]
