"""Every parser and file reader, fed generated bad input (random and mutated valid files), answers
with its result or a one-line ``UserError``: never another exception, never a hang.

The properties live in ``reader_properties.py``; ``benchmarks/reader_properties.py`` runs them with
many more examples. Here each runs ``GENSDK_PROPERTY_EXAMPLES`` examples (default 200), derandomized
so that CI sees the same inputs every run; ``-m "not properties"`` leaves them out.
"""

import os

import pytest
from hypothesis import HealthCheck, given, settings

import reader_properties as rp

pytestmark = pytest.mark.properties

CI = settings(max_examples=int(os.environ.get("GENSDK_PROPERTY_EXAMPLES", 200)), deadline=None,
              derandomize=True, database=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
# deadline=None: timings on 2 shared cores are noisy; rp.clean's SIGALRM guard catches real hangs


def run(prop):
    strategy, check = prop
    given(strategy)(CI(check))()


def test_architecture_text():
    run(rp.arch_property())


def test_architecture_json():
    run(rp.arch_json_property())


@pytest.fixture(scope="module")
def codecs(tmp_path_factory):
    return rp.tiny_codecs(tmp_path_factory.mktemp("codecs"))


def test_gsdk_files(codecs):
    run(rp.gsdk_property(codecs))


def test_recipes():
    run(rp.recipe_property())


def test_csv_tables():
    run(rp.table_property())


def test_table_metadata():
    run(rp.metadata_property())


def test_smiles_files():
    pytest.importorskip("rdkit")
    run(rp.smiles_property())


def test_fuzzing_corpus():
    pytest.importorskip("tree_sitter_c")
    run(rp.corpus_property())


def test_augmentation_pipelines():
    pytest.importorskip("albumentations")
    run(rp.pipeline_property())


def test_model_folders(tmp_path):
    run(rp.model_property(rp.tiny_model(tmp_path / "model")))
