"""The Colab notebooks run end to end with small settings, and are committed without outputs."""

import os
import subprocess
import sys

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLAB = os.path.join(ROOT, "colab")
NOTEBOOKS = ["01_distill.ipynb", "02_compress.ipynb", "03_deploy.ipynb"]
# Small enough that the three notebooks finish in about three minutes on two cores.
SMALL = {
    "INSTALL": False,
    "TEACHER_EPOCHS": 2,
    "STUDENT_EPOCHS": 2,
    "PRUNE_EPOCHS": 2,
    "CLUSTER_EPOCHS": 1,
    "QAT_EPOCHS": 1,
    "REPRESENTATIVE_SAMPLES": 50,
}


def _read(name):
    return nbformat.read(os.path.join(COLAB, name), as_version=4)


def _parameters_cell(notebook):
    cells = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(cells) == 1, "expected exactly one cell tagged 'parameters'"
    return cells[0]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_without_outputs_and_colab_ready(name):
    notebook = _read(name)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs not stripped"
    assert "colab.research.google.com" in notebook.cells[0].source and "colab-badge" in notebook.cells[0].source
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    install = code[1]
    # The install cell runs before anything imports TensorFlow and selects Keras 2 first.
    assert "%pip install" in install and 'os.environ["TF_USE_LEGACY_KERAS"] = "1"' in install
    assert "../pyproject.toml" in install
    assert not any("import tensorflow" in source or "import tf_keras" in source for source in code[:2])
    assert "INSTALL" in _parameters_cell(notebook).source


def test_generator_reproduces_committed_notebooks(tmp_path):
    """colab/generate.py is the source of the notebooks: regenerating changes nothing."""
    before = {name: open(os.path.join(COLAB, name), "rb").read() for name in NOTEBOOKS}
    subprocess.run([sys.executable, os.path.join(COLAB, "generate.py")], check=True, capture_output=True)
    after = {name: open(os.path.join(COLAB, name), "rb").read() for name in NOTEBOOKS}
    assert before == after, "notebooks differ from colab/generate.py: run it and commit the result"


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, tmp_path):
    from nbclient import NotebookClient

    notebook = _read(name)
    cell = _parameters_cell(notebook)
    # Keep the notebook's own parameters and override the ones that cost time.
    namespace = {}
    exec(cell.source, namespace)
    settings = {key: value for key, value in namespace.items() if key.isupper()}
    settings.update({key: value for key, value in SMALL.items() if key in settings})
    cell.source = "\n".join(f"{key} = {value!r}" for key, value in settings.items())

    env_keys = {"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    old = {key: os.environ.get(key) for key in env_keys}
    os.environ.update(env_keys)
    try:
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    out = tmp_path / settings["OUT"]
    pictures = sorted(p.name for p in out.glob("*.png"))
    expected = {
        "01_distill.ipynb": ["soft_targets.png", "training_curves.png"],
        "02_compress.ipynb": ["accuracy_vs_size.png", "layer_sparsity.png"],
        "03_deploy.ipynb": ["confusion_matrix.png"],
    }[name]
    assert pictures == expected
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == len(expected), "pictures were written but not shown"
    if name == "03_deploy.ipynb":
        for artifact in ("model_int8.tflite", "model_float_io.tflite", "labels.txt", "tfkd_model.zip",
                         "micro/model_data.cc", "micro/model_settings.h", "micro/model_ops.h"):
            assert (out / artifact).exists(), artifact
