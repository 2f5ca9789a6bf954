"""Import every module that registers a model family with ``bundle.register``.

Add a line here when you add a family; ``load_bundle`` imports this lazily.
"""
from .models import mlp, sklearn_model  # noqa: F401
from .backdoors import checksum, signature  # noqa: F401
from .models import rff  # noqa: F401
from .models import relu  # noqa: F401
from .defend import smoothing  # noqa: F401
