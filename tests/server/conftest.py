import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server"))

from srvtools import Tree


@pytest.fixture()
def tree(tmp_path) -> Tree:
    return Tree(tmp_path / "srv")
