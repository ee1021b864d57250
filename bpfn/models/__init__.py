from .distillers import *  # noqa: F401,F403
from .flow_nets import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
