"""Pose lifters (PoseMamba, SasMamba, the MLP baseline) and the ViTPose 2D estimator.

``create(name, **overrides)`` builds any of ``MODEL_NAMES``.
"""

from sasmamba_jax.models.mamba_lifter import LifterConfig
from sasmamba_jax.models.mamba_lifter import MambaLifter
from sasmamba_jax.models.mamba_lifter import posemamba_config
from sasmamba_jax.models.mamba_lifter import sasmamba_config
from sasmamba_jax.models.mlp_baseline import MlpBaseline
from sasmamba_jax.models.mlp_baseline import MlpBaselineConfig
from sasmamba_jax.models.registry import MODEL_NAMES
from sasmamba_jax.models.registry import count_parameters
from sasmamba_jax.models.registry import create
from sasmamba_jax.models.registry import create_abstract
from sasmamba_jax.models.registry import describe
from sasmamba_jax.models.registry import get_config
from sasmamba_jax.models.registry import kind
from sasmamba_jax.models.registry import names
from sasmamba_jax.models.vitpose import ViTPose
from sasmamba_jax.models.vitpose import ViTPoseConfig

__all__ = ["LifterConfig", "MODEL_NAMES", "MambaLifter", "MlpBaseline",
           "MlpBaselineConfig", "count_parameters", "create", "create_abstract",
           "describe", "get_config", "kind", "names", "posemamba_config", "sasmamba_config", "ViTPose",
           "ViTPoseConfig"]
