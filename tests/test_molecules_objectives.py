from __future__ import annotations

import csv
import math
import multiprocessing
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rdkit")

from rdkit import Chem, RDConfig  # noqa: E402
from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors  # noqa: E402

from gensdk.errors import UserError  # noqa: E402
from gensdk_plugins.molecules import objectives  # noqa: E402
from gensdk_plugins.molecules.objectives import (  # noqa: E402
    NAMED_MOLECULES,
    PLOGP_NORMALIZATION,
    STANDARD_TASKS,
    Component,
    Objective,
    Transform,
    build_component,
)

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def raw(spec: str, smiles: str) -> float:
    objective = Objective.parse([spec])
    return float(objective.score([smiles], workers=1).raw[objective.names[0]][0])


def test_qed_of_aspirin_matches_rdkit():
    value = raw("qed", ASPIRIN)
    assert value == pytest.approx(QED.qed(Chem.MolFromSmiles(ASPIRIN)))
    assert value == pytest.approx(0.55, abs=0.01)


def test_sa_matches_rdkit_reference_values_and_benzene():
    assert raw("sa", "c1ccccc1") == 1.0  # the scorer's floor: benzene is as easy as it gets
    reference = Path(RDConfig.RDContribDir) / "SA_Score" / "data" / "zim.100.txt"
    with reference.open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))[:10]
    table = Objective.parse(["sa"]).score([r["smiles"] for r in rows], workers=1)
    assert table.raw["sa"] == pytest.approx([float(r["sa_score"]) for r in rows], abs=1e-3)
    # desirability (10 - sa) / 9 by default
    assert table.desirability["sa"] == pytest.approx((10 - table.raw["sa"]) / 9)


def test_plogp_from_its_components():
    cyclooctane = "C1CCCCCCC1"
    mol = Chem.MolFromSmiles(cyclooctane)
    sa = raw("sa", cyclooctane)
    assert raw("plogp", cyclooctane) == pytest.approx(Crippen.MolLogP(mol) - sa - 2)  # 8-ring: 8 - 6
    # the penalty is the largest ring's excess, not a count: two 7-rings cost 1
    spiro = "C1CCCC2(CC1)CCCCCC2"
    expected = Crippen.MolLogP(Chem.MolFromSmiles(spiro)) - raw("sa", spiro) - 1
    assert raw("plogp", spiro) == pytest.approx(expected)
    (lm, ls), (sm, ss), (cm, cs) = PLOGP_NORMALIZATION.values()
    normalized = (Crippen.MolLogP(mol) - lm) / ls + (-sa - sm) / ss + (-2 - cm) / cs
    assert raw("plogp_norm", cyclooctane) == pytest.approx(normalized)
    assert raw("plogp", "c1ccccc1") == pytest.approx(Crippen.MolLogP(Chem.MolFromSmiles("c1ccccc1")) - 1.0)


def test_similarity_substructure_and_descriptors():
    assert raw(f"similarity:{ASPIRIN}", "O=C(O)c1ccccc1OC(C)=O") == 1.0  # same molecule, other SMILES
    assert raw("similarity:celecoxib", NAMED_MOLECULES["celecoxib"]) == 1.0
    assert 0 < raw("similarity:celecoxib", ASPIRIN) < 0.3
    assert raw("smarts:c1ccccc1", ASPIRIN) == 1.0
    assert raw("smarts:[N+](=O)[O-]", ASPIRIN) == 0.0
    assert raw("!smarts:[N+](=O)[O-]", ASPIRIN) == 1.0
    assert raw("!smarts:C(=O)O", ASPIRIN) == 0.0
    mol = Chem.MolFromSmiles(ASPIRIN)
    assert raw("mw", ASPIRIN) == pytest.approx(Descriptors.MolWt(mol))
    assert raw("TPSA", ASPIRIN) == pytest.approx(rdMolDescriptors.CalcTPSA(mol))
    assert raw("logp", ASPIRIN) == pytest.approx(Crippen.MolLogP(mol))


def test_transforms():
    x = np.array([0.0, 5.0, 10.0, np.nan])
    clip = Transform.from_dict({"type": "clip", "low": 0, "high": 10}, "t")
    np.testing.assert_allclose(clip(x), [0, 0.5, 1, np.nan])
    np.testing.assert_allclose(clip(np.array([-5.0, 20.0])), [0, 1])
    falling = Transform.from_dict({"type": "clip", "low": 10, "high": 1}, "t")
    np.testing.assert_allclose(falling(np.array([1.0, 4.0, 10.0])), [1, 6 / 9, 0])
    sigmoid = Transform.from_dict({"type": "sigmoid", "low": 0, "high": 10}, "t")
    s = sigmoid(x)
    assert s[1] == pytest.approx(0.5) and s[0] < 0.01 and s[2] > 0.99 and np.isnan(s[3])
    reverse = Transform.from_dict({"type": "sigmoid", "low": 10, "high": 0, "k": 0.25}, "t")
    assert reverse(np.array([0.0]))[0] > 0.9 and reverse(np.array([1e6]))[0] == pytest.approx(0)
    gauss = Transform.from_dict({"type": "gaussian", "mu": 350, "sigma": 50}, "t")
    np.testing.assert_allclose(gauss(np.array([350.0, 400.0, 300.0])), [1, math.exp(-0.5), math.exp(-0.5)])
    step = Transform.from_dict({"type": "step", "threshold": 5}, "t")
    np.testing.assert_allclose(step(x), [0, 1, 1, np.nan])
    below = Transform.from_dict({"type": "step", "threshold": 5, "above": False}, "t")
    np.testing.assert_allclose(below(x), [1, 1, 0, np.nan])


@pytest.mark.parametrize("data, message", [
    ({"type": "cosine"}, "unknown transform type 'cosine'"),
    ({"type": "gaussian", "mu": 1}, "gaussian transform needs 'sigma'"),
    ({"type": "gaussian", "mu": 1, "sigma": 0}, "needs sigma > 0"),
    ({"type": "clip", "low": 1, "high": 1}, "needs low != high"),
    ({"type": "clip", "low": 0, "high": "x"}, "'high' must be a finite number"),
    ({"type": "step", "threshold": 1, "width": 2}, "has no parameter(s) width"),
    ({"type": "sigmoid", "low": 0, "high": 1, "k": -1}, "sigmoid transform needs k > 0"),
])
def test_transform_errors(data, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Transform.from_dict(data, "t")


def constant(name: str, value: float, weight: float = 1.0) -> Component:
    return Component(name, name, lambda mol: value, weight, unit_range=True)


def test_sum_and_mpo_arithmetic():
    parts = [constant("a", 0.5, 2.0), constant("b", 0.25, 1.0)]
    total = Objective(parts, "sum").score(["C"], workers=1)
    assert total.score[0] == pytest.approx(2 * 0.5 + 0.25)
    mpo = Objective(parts, "mpo").score(["C"], workers=1)
    assert mpo.score[0] == pytest.approx((0.5**2 * 0.25) ** (1 / 3))
    assert Objective([constant("a", 0.0), constant("b", 1.0)], "mpo").score(["C"]).score[0] == 0.0
    failing = Component("fails", "fails", lambda mol: 1 / 0, unit_range=True)
    table = Objective([constant("a", 0.5), failing], "mpo").score(["C", "CC"], workers=1)
    assert table.score.tolist() == [0.0, 0.0] and table.desirability["fails"].tolist() == [0.0, 0.0]
    assert table.error_messages() == [
        "objective 'fails' raised ZeroDivisionError: division by zero on 2 of 2 molecules (first: C)"]


def test_standard_tasks():
    assert set(STANDARD_TASKS) == {"qed", "plogp", "mpo"}
    mpo = Objective.standard("mpo")
    assert mpo.combine == "mpo" and mpo.names == ["qed", "sa", "similarity:celecoxib"]
    table = mpo.score([ASPIRIN], workers=1)
    q, sa, sim = (table.raw[n][0] for n in mpo.names)
    assert table.score[0] == pytest.approx((q * (10 - sa) / 9 * sim) ** (1 / 3))
    assert Objective.standard("plogp").score([ASPIRIN]).score[0] == pytest.approx(raw("plogp", ASPIRIN))
    with pytest.raises(UserError, match="unknown standard task 'logd'"):
        Objective.standard("logd")


def test_parse_weights():
    objective = Objective.parse(["qed@2", "similarity:C[C@H](N)C(=O)O", "sa@0.5"])
    assert [c.weight for c in objective.components] == [2.0, 1.0, 0.5]
    assert objective.names == ["qed", "similarity:C[C@H](N)C(=O)O", "sa"]
    assert [c.weight for c in Objective.parse(["qed", "mw"], weights=[1, -0.01]).components] == [1, -0.01]
    assert Objective.parse(["similarity:C[C@@H](N)C(=O)O@3"]).components[0].weight == 3.0


@pytest.mark.parametrize("specs, kwargs, message", [
    (["qedd"], {}, "unknown objective 'qedd'"),
    (["similarity:C1CC"], {}, "objective 'similarity:C1CC': cannot parse target SMILES 'C1CC'"),
    (["smarts:[C"], {}, "objective 'smarts:[C': cannot parse SMARTS '[C'"),
    (["python:nowhere.py:score"], {}, "objective 'python:nowhere.py:score': no file"),
    (["python:no_such_module_xyz:score"], {}, "importing no_such_module_xyz raised ModuleNotFoundError"),
    (["python:score"], {}, "expected python:FILE.py:FUNCTION"),
    (["qed@2", "sa"], {"weights": [1, 1]}, "give weights inline"),
    (["qed"], {"weights": [1, 2]}, "2 weight(s) for 1 objective(s)"),
    (["qed", "qed"], {}, "objective 'qed' given twice"),
    (["qed", "plogp"], {"combine": "mpo"}, "objective 'plogp' is not in [0, 1]: mpo needs a transform"),
    (["qed@-1"], {"combine": "mpo"}, "mpo needs positive weights"),
    (["qed"], {"combine": "max"}, "unknown combine 'max'"),
    ([], {}, "no objective given"),
])
def test_parse_errors(specs, kwargs, message):
    with pytest.raises(UserError) as error:
        Objective.parse(specs, **kwargs)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


USER_FILE = """
import math

def heavy_atoms(mol):
    return mol.GetNumHeavyAtoms()

def inverse_oxygens(mol):
    return 1 / sum(a.GetSymbol() == "O" for a in mol.GetAtoms())

def nan_for_nitrogen(mol):
    return math.nan if any(a.GetSymbol() == "N" for a in mol.GetAtoms()) else 1.0

def text(mol):
    return "high"

def kekulize_in_place(mol):
    from rdkit import Chem
    Chem.Kekulize(mol, clearAromaticFlags=True)
    return 0.0

not_a_function = 3
"""


@pytest.fixture()
def user_file(tmp_path, monkeypatch) -> str:
    (tmp_path / "my.py").write_text(USER_FILE)
    monkeypatch.chdir(tmp_path)
    return "my.py"


SMILES = ["CCO", "CCN", "CC", "not a smiles", "c1ccccc1O", "", "C1=CC=CC=C1C(=O)N"]


def test_user_function_file(user_file):
    objective = Objective.parse([f"python:{user_file}:heavy_atoms", f"python:{user_file}:inverse_oxygens",
                                 f"python:{user_file}:nan_for_nitrogen", f"python:{user_file}:text"])
    table = objective.score(SMILES, workers=1)
    assert table.valid.tolist() == [True, True, True, False, True, False, True]
    assert table.raw["python:my.py:heavy_atoms"][[0, 1, 2, 4]].tolist() == [3, 3, 2, 7]
    assert table.score[3] == 0.0 and table.score[5] == 0.0
    assert np.isnan(table.raw["python:my.py:heavy_atoms"][3])
    inverse = table.raw["python:my.py:inverse_oxygens"]
    assert np.isnan(inverse[1]) and inverse[0] == 1.0
    assert table.desirability["python:my.py:inverse_oxygens"][1] == 0.0  # failed: 0, not NaN
    assert table.error_messages() == [
        "objective 'python:my.py:inverse_oxygens' raised ZeroDivisionError: division by zero on 2 of 5 "
        "molecules (first: CCN)",
        "objective 'python:my.py:nan_for_nitrogen' returned nan (not a finite number) on 2 of 5 molecules "
        "(first: CCN)",
        "objective 'python:my.py:text' returned 'high' (not a finite number) on 5 of 5 molecules (first: CCO)",
    ]
    # the sum counts a failed component as 0: CCN = 3 heavy atoms + 0 + 0 + 0
    assert table.score[1] == 3.0


def test_user_function_gets_a_copy_and_module_path(user_file, tmp_path, monkeypatch):
    objective = Objective.parse([f"python:{user_file}:kekulize_in_place", "smarts:c1ccccc1"])
    assert objective.score(["c1ccccc1"], workers=1).raw["smarts:c1ccccc1"][0] == 1.0
    package = tmp_path / "scorers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "size.py").write_text("def atoms(mol):\n    return mol.GetNumAtoms() / 10\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert Objective.parse(["python:scorers.size:atoms"]).score(["CCCC"]).score[0] == pytest.approx(0.4)


def test_user_function_errors_at_parse(user_file, tmp_path):
    with pytest.raises(UserError, match="objective 'python:my.py:missing': my.py has no function 'missing'"):
        Objective.parse(["python:my.py:missing"])
    with pytest.raises(UserError, match="my.py.not_a_function is not callable"):
        Objective.parse(["python:my.py:not_a_function"])
    (tmp_path / "broken.py").write_text("import not_a_module_xyz\n")
    with pytest.raises(UserError, match="importing .*broken.py raised ModuleNotFoundError"):
        Objective.parse(["python:broken.py:f"])


def test_yaml_spec(tmp_path, user_file):
    spec = tmp_path / "objective.yaml"
    spec.write_text("combine: mpo\n"
                    "objectives:\n"
                    "  - qed\n"
                    "  - sa@2\n"
                    "  - name: mw\n"
                    "    transform: {type: gaussian, mu: 350, sigma: 50}\n"
                    "  - name: python:my.py:heavy_atoms\n"
                    "    weight: 0.5\n"
                    "    transform: {type: clip, low: 0, high: 20}\n")
    objective = Objective.from_yaml(spec)
    assert objective.combine == "mpo" and [c.weight for c in objective.components] == [1, 2, 1, 0.5]
    table = objective.score([ASPIRIN], workers=1)
    d = [table.desirability[n][0] for n in objective.names]
    assert d[2] == pytest.approx(math.exp(-0.5 * ((Descriptors.MolWt(Chem.MolFromSmiles(ASPIRIN)) - 350) / 50) ** 2))
    assert d[3] == pytest.approx(13 / 20)
    assert table.score[0] == pytest.approx((d[0] * d[1] ** 2 * d[2] * d[3] ** 0.5) ** (1 / 4.5))
    again = Objective.from_dict(objective.to_dict()).score([ASPIRIN], workers=1)
    assert again.score[0] == pytest.approx(table.score[0])
    frame = table.to_frame()
    assert list(frame.columns[:4]) == ["smiles", "canonical", "valid", "score"]
    assert "mw desirability" in frame.columns


@pytest.mark.parametrize("text, message", [
    ("objectives: [qed]\nweights: [1]\n", "unknown key(s) weights"),
    ("objectives: []\n", "'objectives' must be a non-empty list"),
    ("objectives:\n  - name: qed\n    transform: {type: wave}\n", "objective 'qed': unknown transform type 'wave'"),
    ("objectives:\n  - {name: qed, weight: high}\n", "weight must be a number"),
    ("objectives: [qed\n", "not valid YAML"),
])
def test_yaml_errors(tmp_path, text, message):
    spec = tmp_path / "objective.yaml"
    spec.write_text(text)
    with pytest.raises(UserError) as error:
        Objective.from_yaml(spec)
    assert message in str(error.value) and str(spec) in str(error.value)
    with pytest.raises(UserError, match="cannot read objective spec"):
        Objective.from_yaml(tmp_path / "missing.yaml")


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_workers_match_in_process(user_file, start_method, monkeypatch):
    if start_method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {start_method} here")
    # spawn imports the user file afresh in each worker: nothing of the function is pickled
    monkeypatch.setattr(objectives, "_START_METHOD", start_method)
    objective = Objective.parse(["qed", "sa", "similarity:aspirin", f"python:{user_file}:inverse_oxygens@2"])
    smiles = SMILES * 6
    one = objective.score(smiles, workers=1)
    with objective:
        two = objective.score(smiles, workers=2)
    np.testing.assert_array_equal(one.valid, two.valid)
    np.testing.assert_array_equal(one.score, two.score)
    for name in objective.names:
        np.testing.assert_array_equal(one.raw[name], two.raw[name])
    assert one.canonical == two.canonical
    assert one.error_messages() == two.error_messages()
    assert "on 12 of 30 molecules" in two.error_messages()[0]
    with pytest.raises(UserError, match="workers must be at least 1"):
        objective.score(smiles, workers=0)


def test_build_component_default_desirability():
    assert build_component("sa").transform == Transform("clip", {"low": 10.0, "high": 1.0})
    assert build_component("qed").transform.type == "identity"
