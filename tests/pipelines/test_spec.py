"""Bad pipeline specs and parameters: each is reported before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbmlops.errors import PipelineError, SpecError, ValidationError
from nbmlops.pipelines.notebooks import check_param_overrides, validate_notebooks
from nbmlops.pipelines.params import parse_params
from nbmlops.pipelines.spec import load_spec

GOOD = """\
name: basic
params: {alpha: 0.1, scale: 1.0}
steps:
  prep:
    notebook: prep.ipynb
    parameters: {scale: "${params.scale}"}
  train:
    notebook: train.ipynb
    needs: [prep]
    parameters:
      alpha: "${params.alpha}"
      n_rows: "${steps.prep.outputs.n_rows}"
"""


def write(folder: Path, text: str) -> Path:
    path = folder / "pipeline.yaml"
    path.write_text(text)
    return path


def test_good_spec_parses_in_dependency_order(basic: Path) -> None:
    spec = load_spec(basic / "pipeline.yaml")
    assert spec.order == ("prep", "train", "evaluate")
    assert spec.steps["train"].notebook == basic / "train.ipynb"
    assert set(validate_notebooks(spec)) == {"prep", "train", "evaluate"}


@pytest.mark.parametrize(("text", "line", "message"), [
    (GOOD.replace("notebook: train.ipynb", "notebook: train.ipynb: x"), 8,
     "YAML syntax error: mapping values are not allowed here"),
    (GOOD.replace("    needs: [prep]", "    need: [prep]"), 9,
     "unknown key 'need' in step 'train' (did you mean 'needs'?)"),
    (GOOD.replace("params:", "parms:"), 2, "unknown key 'parms' in the pipeline"),
    (GOOD.replace("notebook: prep.ipynb", "notebook: prep.ipynb\n    needs: [train]"), 4,
     "cycle: prep -> train -> prep"),
    (GOOD.replace("needs: [prep]", "needs: [prepp]"), 7,
     "needs unknown step 'prepp' (did you mean 'prep'?)"),
    (GOOD.replace("${params.alpha}", "${params.beta}"), 11, "unknown pipeline param 'beta'"),
    (GOOD.replace("needs: [prep]", "needs: []"), 12, "'prep' is not upstream of 'train'"),
    (GOOD.replace("${params.alpha}", "${alpha}"), 11, "bad reference ${alpha}"),
    (GOOD.replace("    needs: [prep]", "    needs: [prep]\n    retries: -1"), 10,
     "'retries' must be a whole number >= 0"),
    (GOOD.replace("    needs: [prep]", "    needs: [prep]\n    timeout: soon"), 10,
     "'timeout' must be a positive number"),
    (GOOD.replace("name: basic", "name: bad name"), 1, "'name' must be a name"),
])
def test_spec_errors_name_the_line(basic: Path, text: str, line: int, message: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(write(basic, text))
    assert info.value.line == line
    assert message in str(info.value)
    assert str(info.value).startswith(f"{basic / 'pipeline.yaml'}:{line}: ")


@pytest.mark.parametrize(("text", "message"), [
    (GOOD.replace("notebook: train.ipynb", "notebook: missing.ipynb"),
     "notebook {root}/missing.ipynb does not exist"),
    (GOOD.replace("n_rows:", "n_row:"),
     "train.ipynb has no parameter 'n_row' (its parameters cell defines: alpha, n_rows)"),
    (GOOD.replace('"${params.scale}"', '"big"'),
     "step 'prep' parameter 'scale' is 'big' (str) but prep.ipynb's parameters cell has "
     "scale = 1.0 (float)"),
])
def test_notebook_errors_before_running(basic: Path, text: str, message: str) -> None:
    spec = load_spec(write(basic, text))
    with pytest.raises(SpecError) as info:
        validate_notebooks(spec)
    assert message.format(root=basic) in str(info.value)


def test_parameters_without_parameters_cell(basic: Path) -> None:
    nb = json.loads((basic / "prep.ipynb").read_text())
    for cell in nb["cells"]:
        cell["metadata"].pop("tags", None)
    (basic / "prep.ipynb").write_text(json.dumps(nb))
    with pytest.raises(SpecError, match="prep.ipynb has no cell tagged 'parameters'"):
        validate_notebooks(load_spec(basic / "pipeline.yaml"))


def test_pipeline_param_overrides_are_checked(basic: Path) -> None:
    spec = load_spec(basic / "pipeline.yaml")
    assert check_param_overrides(spec, {"alpha": 1})["alpha"] == 1  # int where float is ok
    with pytest.raises(PipelineError, match="unknown pipeline param 'gamma'; pipeline.yaml "
                                            "declares: alpha, scale"):
        check_param_overrides(spec, {"gamma": 1})
    with pytest.raises(PipelineError, match=r"'alpha' is 0.1 \(float\); got 'x' \(str\)"):
        check_param_overrides(spec, {"alpha": "x"})


def test_run_pipeline_rejects_wrong_type_reaching_a_step(basic: Path) -> None:
    import nbmlops

    text = GOOD.replace("scale: 1.0}", "scale: 1.0, label: x}").replace(
        '"${params.scale}"', '"${params.label}"')
    with pytest.raises(PipelineError, match="parameter 'scale' is 'x' \\(str\\)"):
        nbmlops.run_pipeline(write(basic, text), progress=False)
    assert nbmlops.runs().empty  # nothing ran, no run was recorded


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="must be a mapping"):
        load_spec(write(tmp_path, "- a\n- b\n"))


def test_parse_params() -> None:
    assert parse_params(["n=200", "alpha=0.5", "flag=true", "name=rf", "e="]) == \
        {"n": 200, "alpha": 0.5, "flag": True, "name": "rf", "e": ""}
    with pytest.raises(ValidationError, match="must look like key=value"):
        parse_params(["alpha"])
