"""Evaluation metrics, one per file, and the feature networks they measure in.

Feature-set metrics take 2-D float tensors or numpy arrays, rows are samples:
``fid(a, b)``, ``kid(a, b)``, ``precision_recall(real, fake, k=3)``,
``density_coverage(real, fake, k=5)``. From classifier probabilities: ``inception_score``,
``class_stats``. On 2-D mixture samples: ``mixture_modes``. See docs/metrics.md.
"""

from .classes import class_stats
from .classifier import FMNISTClassifier, load_classifier
from .features import FeatureNet, extract_features, load_feature_net, weights_sha256
from .fid import fid, frechet_distance, gaussian_stats
from .inception_score import inception_score
from .kid import kid, mmd2_unbiased
from .mixture import mixture_modes
from .prdc import density_coverage, precision_recall
from .provenance import MetricValue, Provenance, check_all_comparable, check_comparable
from .refstats import reference_stats

__all__ = [
    "FMNISTClassifier", "FeatureNet", "MetricValue", "Provenance", "check_all_comparable",
    "check_comparable", "class_stats", "density_coverage", "extract_features", "fid",
    "frechet_distance", "gaussian_stats", "inception_score", "kid", "load_classifier",
    "load_feature_net", "mixture_modes", "mmd2_unbiased", "precision_recall",
    "reference_stats", "weights_sha256",
]
