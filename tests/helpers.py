"""Shared test helpers: run the CLI in a subprocess and read saved weights."""

import os
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

# 40 drug-like molecules, canonical RDKit SMILES: 39 from the MOSES test split, and paracetamol
DRUG_SMILES = """CC1C2CCC(C2)C1CN(CCO)C(=O)c1ccc(Cl)cc1 COc1ccc(-c2cc(=O)c3c(O)c(OC)c(OC)cc3o2)cc1O
CCOC(=O)c1ncn2c1CN(C)C(=O)c1cc(F)ccc1-2 Clc1ccccc1-c1nc(-c2ccncc2)no1 CC(C)(Oc1ccc(Cl)cc1)C(=O)OCc1cccc(CO)n1
Cc1nc2c(OCc3ccccc3)cccn2c1CC#N O=C1c2cccnc2CN1Cc1ccccc1Cl O=C(NC1CCc2ccccc2C1)c1ccncc1
OC(Cn1cncn1)(Cn1cncn1)c1ccc(F)cc1F Cc1[nH]cnc1Cc1nc(-c2ccccc2)cs1 COc1ccc(-c2nc3n(c2-c2ccncc2)CCC3)cc1
CC(=O)NC(C(=O)NCc1ccccc1)c1ccco1 COc1ccc(C2CNC(=O)C2)cc1OC1CCCC1 CCCn1c(=O)c2[nH]c(C3CCC(=O)C3)nc2n(CCC)c1=O
C=C1C(CO)C(O)CC1n1cnc2c(=O)[nH]c(N)nc21 COc1cc(CNc2ccc(C)cc2)cc(OC)c1OC O=C(NCCc1cccc2ccccc12)C1CCC1
O=C1c2ccccc2-c2c3c(cc4ccnc1c24)OCO3 O=C(CN1C(=O)c2ccccc2S1(=O)=O)Nc1ccc(O)cc1 Cc1ccc(Sc2cncc3sc(C(N)=O)cc23)cc1
Cc1ccc2nc(N)[nH]c(=O)c2c1Sc1ccncc1 COc1cc2ncc(NC3CCC(O)CC3)nc2cc1OC Nc1cnc(-c2cc(Cl)cc(Cl)c2Cl)c(N)n1
CC(C(=O)NC1CC1)S(=O)(=O)c1ccccc1Br Nc1nnc(-c2ccc(N)c(Cl)c2Cl)c(N)n1 Cc1cc(NC(=O)Nc2ccc3c(ccn3C)c2)on1
NS(=O)(=O)c1cc(C2(O)NC(=O)c3ccccc32)ccc1Cl c1ccc2[nH]c(CSc3ncnc4ccccc34)nc2c1 CN(C)c1ncnc2c1ncn2C1OC(CO)C(O)C1O
CNC(=O)OCc1c2ccncc2c(C)c2c1[nH]c1ccccc12 COc1ccc(-c2cc(C(F)(F)F)n3nc(C(N)=O)cc3n2)cc1
Cc1cc(C)n(-c2nc(N3CCOCC3)nc(N3CCOCC3)n2)n1 Cc1ccc(S(=O)(=O)NCc2ccccc2)cc1 CC(=O)Nc1ccc(S(=O)(=O)NC2CCCCC2)cc1
O=C(Nc1nnc(C2CC2)s1)c1csc2ccccc12 CCN(CC)C(=O)c1ccc(NC(C)=O)c(Cl)c1 Cc1ccccc1C(=O)Nc1ccccc1C(=O)N1CCCC1
Fc1ccccc1CSc1nnnn1-c1ccc2c(c1)OCO2 CS(=O)(=O)N(Cc1ccccc1)Cc1ccccc1 CC(=O)Nc1ccc(O)cc1""".split()

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def gensdk(*args, check=False, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "gensdk", *map(str, args)], capture_output=True, text=True,
                            env=ENV, **kw)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """The CLI's answer to a user's mistake: exit code 2 and one line on stderr, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def weights(run: Path) -> dict:
    return load_file(str(run / "model" / "model.safetensors"))


def write_recipe(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
