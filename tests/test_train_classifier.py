"""`ganforge train-classifier` end to end on a few hundred images (the real run takes minutes)."""

from pathlib import Path

import pytest
import torch

from ganforge.cli import main
from ganforge.metrics.classifier import FMNISTClassifier, load_classifier

FULL = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not (FULL / "t10k-images-idx3-ubyte.gz").exists(),
                    reason="needs the Fashion-MNIST test split")
def test_train_classifier_cli_writes_loadable_weights_and_reports_accuracy(tmp_path, capsys):
    out = tmp_path / "clf.pt"
    assert main(["train-classifier", "--limit", "256", "--epochs", "1", "--batch-size", "64",
                 "--out", str(out), "--threads", "2"]) == 0
    err = capsys.readouterr().err
    assert "test accuracy" in err and "10,000 images" in err
    state = torch.load(out, weights_only=True)
    assert 0.1 < state["meta"]["test_accuracy"] <= 1 and state["meta"]["train_images"] == 256
    net = load_classifier(out)
    assert isinstance(net, FMNISTClassifier) and not net.training


def test_train_classifier_bad_root(tmp_path, capsys):
    assert main(["train-classifier", "--root", str(tmp_path), "--out",
                 str(tmp_path / "x.pt")]) == 2
    assert "no Fashion-MNIST train files" in capsys.readouterr().err
