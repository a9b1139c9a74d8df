"""Evaluation metrics, one per file, and the feature networks they measure in.

Feature-set metrics take 2-D float tensors or numpy arrays, rows are samples:
``fid(a, b)``, ``kid(a, b)``, ``precision_recall(real, fake, k=3)``,
``density_coverage(real, fake, k=5)``. From classifier probabilities: ``inception_score``,
``class_stats``. On 2-D mixture samples: ``mixture_modes``. For class-conditional
generators: ``conditional_accuracy``, ``per_class_accuracy`` and ``confusion`` (logits and
the labels the samples were generated for), ``intra_fid`` (features and labels of both
sides). See docs/metrics.md.
Names are imported on first use (see ``ganforge/_lazy.py``).
"""

from ganforge._lazy import lazy_exports

# Functions named like their own module are imported here: once any code imports the submodule
# ``metrics.fid``, the package attribute ``fid`` would be the module, not the function.
from .fid import fid  # noqa: E402,F401
from .inception_score import inception_score  # noqa: E402,F401
from .kid import kid  # noqa: E402,F401

_EXPORTS = {
    "class_stats": ".classes", "conditional_accuracy": ".conditional",
    "confusion": ".conditional", "intra_fid": ".conditional",
    "per_class_accuracy": ".conditional", "FMNISTClassifier": ".classifier",
    "load_classifier": ".classifier", "FeatureNet": ".features",
    "extract_features": ".features", "load_feature_net": ".features",
    "weights_sha256": ".features", "frechet_distance": ".fid",
    "gaussian_stats": ".fid",
    "mmd2_unbiased": ".kid", "mixture_modes": ".mixture", "density_coverage": ".prdc",
    "precision_recall": ".prdc", "MetricValue": ".provenance", "Provenance": ".provenance",
    "check_all_comparable": ".provenance", "check_comparable": ".provenance",
    "reference_stats": ".refstats",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted([*_EXPORTS, "fid", "inception_score", "kid"])
