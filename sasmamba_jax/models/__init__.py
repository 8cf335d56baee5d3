"""Pose lifters (PoseMamba, SasMamba, the MLP baseline), the ViTPose 2D estimator and
GLSMamba (video 2D pose estimation on ViTPose features).

``create(name, **overrides)`` builds any of ``MODEL_NAMES``.
"""

from sasmamba_jax.models.glsmamba import GLSMamba
from sasmamba_jax.models.glsmamba import GLSMambaConfig
from sasmamba_jax.models.mamba_lifter import LifterConfig
from sasmamba_jax.models.mamba_lifter import MambaLifter
from sasmamba_jax.models.mamba_lifter import posemamba_config
from sasmamba_jax.models.mamba_lifter import sasmamba_config
from sasmamba_jax.models.mlp_baseline import MlpBaseline
from sasmamba_jax.models.mlp_baseline import MlpBaselineConfig
from sasmamba_jax.models.registry import MODEL_NAMES
from sasmamba_jax.models.registry import build
from sasmamba_jax.models.registry import config_types
from sasmamba_jax.models.registry import count_parameters
from sasmamba_jax.models.registry import create
from sasmamba_jax.models.registry import create_abstract
from sasmamba_jax.models.registry import describe
from sasmamba_jax.models.registry import get_config
from sasmamba_jax.models.registry import kind
from sasmamba_jax.models.registry import name_for
from sasmamba_jax.models.registry import names
from sasmamba_jax.models.vitpose import ViTPose
from sasmamba_jax.models.vitpose import ViTPoseConfig

__all__ = ["GLSMamba", "GLSMambaConfig", "LifterConfig", "MODEL_NAMES", "MambaLifter",
           "MlpBaseline", "MlpBaselineConfig", "ViTPose", "ViTPoseConfig",
           "build", "config_types", "count_parameters", "create", "create_abstract",
           "describe", "get_config", "kind", "name_for", "names", "posemamba_config",
           "sasmamba_config"]
